"""Read suite folders into tables: one row per run (figures flattened from summary.json,
or the progress of a run that never wrote one), its evaluation curve and batch growth.

A run folder is any sub-folder holding ``config.yaml``; nothing in it is dropped: a run
without a summary is ``incomplete``, and its last logged iteration says how far it got.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UserError
from ganbench.report.inputs import check_suite_folders
from ganbench.results import RunStore, Unreadable, flatten, read_events, read_suite_meta
from ganbench.results.summary import in_todays_terms, quality_direction

# Summary figures the report aggregates across seeds, with the better direction.
SPEED = {
    "iterations_per_s": "max",
    "images_per_s": "max",
    "images_per_s_overall": "max",
    "epoch_time_mean_s": "min",
    "iter_time_p50_s": "min",
    "train_s": "min",
}
MEMORY = {
    "peak_cuda_alloc_bytes": "min",
    "peak_cuda_reserved_bytes": "min",
    "peak_rss_bytes": "min",
}
COST = {"energy_j_per_image": "min", "grad_evals": "min", "full_batch_passes": "min"}
TARGET_FIELDS = ("train_s", "iteration", "images_seen")

CURVE_COLUMNS = ["configuration", "run_id", "seed", "iteration", "train_s", "wall_s"]
CURVE_COLUMNS += ["images_seen", "value", "score"]
GROWTH_COLUMNS = ["configuration", "run_id", "iteration", "train_s", "batch_size"]
NOISE_COLUMNS = [*GROWTH_COLUMNS, "player", "b_simple"]


@dataclass
class SuiteRuns:
    """Every run of the folders read: ``runs`` (a row per run), ``curves`` (a row per
    evaluation), ``growth`` (a row per batch-size change), ``noise`` (a row per player
    and gradient-noise-scale measurement) and each figure's direction."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    growth: pd.DataFrame
    directions: dict[str, str]
    baseline: str | None = None
    noise: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NOISE_COLUMNS))

    def environments(self) -> list[dict[str, Any]]:
        """The recorded environment of every run that has one, in run order."""
        return [e for e in self.runs.get("environment", []) if isinstance(e, dict) and e]

    def figures(self) -> list[str]:
        """Figure columns present with at least one value, in report order."""
        return [f for f in self.directions if f in self.runs and self.runs[f].notna().any()]


def load_suites(folders: list[Path]) -> SuiteRuns:
    """Runs of one or several suite folders; with several, configurations are prefixed
    with the folder's name (``quick/srfb``) so they never merge by accident."""
    check_suite_folders(folders)
    rows, curves, growth, noise = [], [], [], []
    prefix = len(folders) > 1
    for folder in folders:
        stores = [RunStore(p) for p in _in_suite_order(folder)]
        if not stores:
            raise UserError(f"{folder}: no run folders in it (each has a config.yaml)")
        for store in stores:
            row, curve, grew, measured = _read_run(store, f"{folder.name}/" if prefix else "")
            rows.append(row)
            curves += curve
            growth += grew
            noise += measured
    runs = pd.DataFrame(rows)
    directions = {**SPEED, **MEMORY, **COST, **_quality_directions(runs)}
    metas = [read_suite_meta(f) for f in folders]
    baseline = metas[0].get("baseline") if len(folders) == 1 else None
    return SuiteRuns(
        runs=runs,
        curves=pd.DataFrame(curves, columns=CURVE_COLUMNS),
        growth=pd.DataFrame(growth, columns=GROWTH_COLUMNS),
        directions=directions,
        baseline=baseline,
        noise=pd.DataFrame(noise, columns=NOISE_COLUMNS),
    )


def _in_suite_order(folder: Path) -> list[Path]:
    """Run folders in the suite's own order (suite.json), then any others by name."""
    order = {run_id: i for i, run_id in enumerate(read_suite_meta(folder).get("runs", []))}
    found = [p.parent for p in folder.glob("*/config.yaml")]
    return sorted(found, key=lambda p: (order.get(p.name, len(order)), p.name))


def _read_run(store: RunStore, prefix: str) -> tuple[dict[str, Any], list, list, list]:
    config = _read_config(store)
    events = [e for e in read_events(store.events) if isinstance(e, dict) and "event" in e]
    name = prefix + str(config.get("name", store.folder.name))
    seed = config.get("seed")
    row: dict[str, Any] = {"configuration": name, "run_id": store.folder.name, "seed": seed}
    row["samples_png"] = str(store.samples) if store.samples.is_file() else None
    row.update(_summary_fields(store, events))
    curve = [
        {
            "configuration": name,
            "run_id": row["run_id"],
            "seed": seed,
            "iteration": e.get("iteration"),
            "train_s": e.get("train_s"),
            "wall_s": e.get("wall_s"),
            "images_seen": e.get("images_seen"),
            "value": value,
            "score": e.get(value),
        }
        for e in events
        if e["event"] == "eval"
        for value in e
        if isinstance(e.get(value), int | float) and value not in _EVAL_BOOKKEEPING
    ]
    where = [
        {
            "configuration": name,
            "run_id": row["run_id"],
            "iteration": e.get("iteration"),
            "train_s": e.get("train_s"),
            "batch_size": e.get("batch_size"),
        }
        for e in events
    ]
    grew = [w for w, e in zip(where, events, strict=True) if e["event"] == "batch_size"]
    noise = [
        {**w, "player": player, "b_simple": e[player].get("b_simple")}
        for w, e in zip(where, events, strict=True)
        if e["event"] == "noise_scale"
        for player in ("d", "g")
        if isinstance(e.get(player), dict)
    ]
    return row, curve, grew, noise


def _read_config(store: RunStore) -> dict[str, Any]:
    """config.yaml as a mapping; when it is missing, empty or not YAML, the name and seed
    the run id (``<name>-seed<N>``) holds."""
    try:
        config = store.read_config()
    except (OSError, Unreadable):
        config = None
    if config is not None:
        return config
    named = re.fullmatch(r"(.+)-seed(\d+)", store.folder.name)
    return {"name": named[1], "seed": int(named[2])} if named else {}


def _summary_fields(store: RunStore, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's flattened summary.json; without one (a run killed before it wrote one, or
    one that cannot be read) ``incomplete`` with how far the events say it got. A summary
    that records no status (identity fields only, say) is ``unknown``."""
    summary = store.read_summary()
    if not isinstance(summary, dict):
        last = next((e for e in reversed(events) if e["event"] == "iteration"), {})
        what = "unreadable summary.json" if store.summary.is_file() else "no summary.json"
        return {
            "status": "incomplete",
            "reason": f"{what}: the run stopped without finishing (killed?); "
            f"last logged iteration {last.get('iteration', 0)}",
            "iterations": last.get("iteration", 0),
        }
    summary = in_todays_terms(summary)
    fields = flatten(summary)
    fields["environment"] = summary.get("environment") or {}
    fields["machine_speed"] = summary.get("machine_speed")  # with its sample list
    fields["metrics_protocols"] = summary.get("metrics_protocol") or {}
    if not isinstance(fields.get("status"), str) or not fields["status"]:
        fields["status"] = "unknown"
        fields["reason"] = fields.get("reason") or "summary.json records no status"
    return fields


_EVAL_BOOKKEEPING = {"time", "iteration", "train_s", "wall_s", "images_seen", "eval_time_s"}


def _quality_directions(runs: pd.DataFrame) -> dict[str, str]:
    """Each quality value's direction as its runs recorded it (``quality.<v>.direction``;
    older summaries fall back to ``results.summary.LEGACY_DIRECTIONS``),
    and ``min`` for the time-to-target figures."""
    out: dict[str, str] = {}
    for column in runs.columns:
        parts = column.split(".")
        if parts[0] == "quality" and parts[-1] in ("final", "best"):
            direction = _recorded_direction(runs, parts[1])
            if direction is not None:
                out[column] = direction
        elif parts[0] == "time_to_target" and parts[-1] in TARGET_FIELDS:
            out[column] = "min"
    return out


def _recorded_direction(runs: pd.DataFrame, value: str) -> str | None:
    column = f"quality.{value}.direction"
    recorded = runs[column].dropna().unique().tolist() if column in runs else []
    return quality_direction(value, recorded[0] if recorded else None)


def loaded_configurations(suite: SuiteRuns) -> list[str]:
    """Configurations whose runs load a pre-trained generator (``load:``) instead of
    training: they have quality and generation figures, no training ones."""
    runs = suite.runs
    if "strategy" not in runs:
        return []
    names = runs["configuration"].drop_duplicates()
    return [n for n in names if (runs.loc[runs["configuration"] == n, "strategy"] == "load").all()]


def stopped_at(suite: SuiteRuns, name: str) -> list[int]:
    """The iterations a configuration's finished seeds stopped at, sorted."""
    runs = suite.runs
    mine = runs[(runs["configuration"] == name) & (runs["status"] == "finished")]
    if "iterations" not in mine:
        return []
    return sorted(int(i) for i in mine["iterations"] if isinstance(i, int | float) and i == i)
