"""What `ganbench history show` and `history regressions` print: the series as rows (a
row per point), and each series' change points with their commit range and size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ganbench.history.series import Change, Series


def series_rows(series: list[Series]) -> pd.DataFrame:
    """A row per point: which series, the commit, its seeds' values, their mean and the
    change from the series' previous point."""
    rows = []
    for s in series:
        previous = math.nan
        for point in s.points:
            mean = point.mean
            rows.append(
                {
                    "suite": s.suite, "configuration": s.configuration,
                    "config_id": s.config_hash, "figure": s.figure, "machine": s.machine,
                    "machine_label": s.machine_label,
                    "pipeline": s.pipeline, "commit": point.commit, "branch": point.branch,
                    "dirty": point.dirty, "commit_time": point.commit_time,
                    "recorded_at": point.recorded_at, "seeds": len(point.values),
                    "values": list(point.values), "mean": mean,
                    "change": mean / previous - 1 if previous > 0 else None,
                }
            )  # fmt: skip
            previous = mean
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Found:
    """A change point of one series, with the commits either side of it."""

    series: Series
    change: Change

    @property
    def before(self) -> str:
        return self.series.points[self.change.index - 1].label

    @property
    def after(self) -> str:
        return self.series.points[self.change.index].label

    def as_row(self) -> dict[str, Any]:
        s, c = self.series, self.change
        return {
            "suite": s.suite, "configuration": s.configuration, "figure": s.figure,
            "machine": s.machine, "machine_label": s.machine_label, "pipeline": s.pipeline,
            "kind": c.kind, "commit_before": s.points[c.index - 1].commit,
            "commit": s.points[c.index].commit, "recorded_at": s.points[c.index].recorded_at,
            "change": c.ratio - 1, "low": c.low - 1, "high": c.high - 1,
            "p_value": c.p_value, "points_before": c.index,
            "points_after": len(s.points) - c.index,
        }  # fmt: skip


def changes_of(series: list[Series]) -> dict[tuple, list[Change]]:
    """Every series' change points, keyed by ``Series.key``."""
    from ganbench.history.changes import find_changes

    return {s.key: find_changes(s.means(), s.direction) for s in series}


def changes_since(engine: Any, selection: Any, since: str | None) -> list[Found]:
    """``history regressions``: the selected series' change points from ``since`` (a
    commit, a revision or a date, as ``history show --since`` takes it) on."""
    from ganbench.history.query import figure_values, load_series, since_moment

    start = since_moment(figure_values(engine, selection), since) if since else None
    return found_changes(load_series(engine, selection), start)


def found_changes(series: list[Series], since: datetime | None = None) -> list[Found]:
    """The change points of every series, regressions first, newest first; with
    ``since``, those whose new level starts on or after it."""
    changes = changes_of(series)
    found = [Found(s, c) for s in series for c in changes[s.key]]
    if since is not None:
        found = [f for f in found if f.series.points[f.change.index].when >= since]
    found.sort(key=lambda f: f.series.points[f.change.index].order, reverse=True)
    return sorted(found, key=lambda f: f.change.kind != "regression")
