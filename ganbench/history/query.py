"""Reading the history back: series of one figure per configuration, machine and (for
quality figures) metric pipeline, a point per recording in commit order; never pooled
across machines or pipelines."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UserError
from ganbench.history import schema
from ganbench.history.identity import ALL_PIPELINES, metric_of
from ganbench.history.series import Point, Series, moment


@dataclass(frozen=True)
class Selection:
    """Which series to read: globs on configuration and figure names, the suite, and the
    first commit (or ISO date) to show."""

    figure: str | None = None
    configuration: str | None = None
    suite: str | None = None
    since: str | None = None
    machine: str | None = None  # a fingerprint id (or its start)


def figure_values(engine: Any, selection: Selection = Selection()) -> pd.DataFrame:
    """Every finished run's figure values with their recording, machine and pipeline."""
    import sqlalchemy as sa

    r, rec, f, m = schema.runs, schema.recordings, schema.figures, schema.machines
    query = (
        sa.select(
            rec.c.id.label("recording"), rec.c.suite, rec.c.commit, rec.c.branch, rec.c.dirty,
            rec.c.commit_time, rec.c.recorded_at, rec.c.purpose, r.c.configuration,
            r.c.config_id, r.c.seed, r.c.run_id, r.c.pipeline_ids, r.c.machine_id,
            m.c.label.label("machine_label"), f.c.name.label("figure"), f.c.value, f.c.direction,
        )
        .join(rec, r.c.recording_id == rec.c.id)
        .join(f, f.c.run == r.c.id)
        .join(m, m.c.id == r.c.machine_id)
        .where(r.c.status == "finished")
    )  # fmt: skip
    if selection.suite:
        query = query.where(rec.c.suite == selection.suite)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    for column, pattern in (
        ("figure", selection.figure),
        ("configuration", selection.configuration),
    ):
        if pattern:
            keep &= frame[column].map(lambda v, p=pattern: fnmatch.fnmatchcase(v, p))
    if selection.machine:
        keep &= frame["machine_id"].str.startswith(selection.machine)
    frame = frame[keep].copy()
    frame["pipeline"] = [
        _pipeline(ids or {}, fig)
        for ids, fig in zip(frame["pipeline_ids"], frame["figure"], strict=True)
    ]
    return frame


def _pipeline(ids: dict[str, str], figure: str) -> str | None:
    """A quality figure's pipeline id: its metric's, else all of the run's together."""
    metric = metric_of(figure)
    if metric is None:
        return None
    return ids.get(metric) or ids.get(ALL_PIPELINES)


def load_series(engine: Any, selection: Selection = Selection()) -> list[Series]:
    """The selected series, each in commit order from ``selection.since`` on."""
    frame = figure_values(engine, selection)
    if frame.empty:
        return []
    keys = ["suite", "configuration", "config_id", "figure", "machine_id", "pipeline"]
    start = since_moment(frame, selection.since)
    found = []
    for key, rows in frame.groupby(keys, sort=True, dropna=False):
        suite, configuration, config_id, figure, machine, pipeline = key
        points = [p for p in _points(rows) if start is None or p.when >= start]
        if points:
            found.append(
                Series(
                    suite, configuration, config_id, figure, rows["direction"].iloc[0], machine,
                    rows["machine_label"].iloc[0], None if pd.isna(pipeline) else pipeline,
                    tuple(points),
                )
            )  # fmt: skip
    return found


def _points(rows: pd.DataFrame) -> list[Point]:
    """A point per recording, ordered by the commit's date, then when it was recorded."""
    points = []
    for _, group in rows.groupby("recording", sort=False):
        first = group.iloc[0]
        points.append(
            Point(
                commit=first["commit"] or "no-git",
                branch=first["branch"] or "",
                dirty=bool(first["dirty"]),
                commit_time=first["commit_time"],
                recorded_at=first["recorded_at"],
                values=tuple(float(v) for v in group.sort_values("seed")["value"]),
            )
        )
    return sorted(points, key=lambda p: p.order)


def since_moment(frame: pd.DataFrame, since: str | None) -> datetime | None:
    """The moment ``since`` names: the first recording of a commit (a prefix of at most
    12 hex digits, a full SHA, or a revision git resolves here: HEAD~10, a tag), else a
    date; a UserError when it is none of these."""
    if not since:
        return None
    commits = frame["commit"].fillna("")
    for prefix in (since[:12], resolve_revision(since)):
        matches = frame[commits.str.startswith(prefix)] if prefix else frame.iloc[:0]
        if not matches.empty:
            times = zip(matches["commit_time"], matches["recorded_at"], strict=True)
            return min(moment(t or r) for t, r in times)
    try:
        return moment(since)
    except ValueError:
        raise UserError(
            f"--since {since}: neither a recorded commit nor a date (e.g. 2026-12-01)"
        ) from None


def resolve_revision(revision: str) -> str | None:
    """The 12-digit commit git resolves ``revision`` to in the working folder's
    repository, or None."""
    from ganbench.results.repository import git

    return git(str(Path.cwd()), "rev-parse", "--short=12", "--verify", "--quiet", revision)
