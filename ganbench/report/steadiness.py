"""How steady the machine was under a suite: the machine-speed probe's samples over the
suite's wall time, the runs measured while the machine was more than 10 % off the suite's
median (the rule ``train-suite --rerun-unsteady`` re-runs by:
``results.summary.unsteady_machines``), the runs such re-runs replaced, and the suite's
probe as a baseline records it, to say when a candidate ran on another machine or load.

Each run's samples come from its summary's ``machine_speed`` (a dict column of
``SuiteRuns.runs``); where only the flattened ``machine_speed.*`` columns are there, a run
counts by its median alone, placed at its start.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.report.collect import SuiteRuns
from ganbench.results.summary import MACHINE_SPEED_TOLERANCE, unsteady_machines

PROBE_COLUMNS = ["configuration", "run_id", "status", "workload", "device"]
PROBE_COLUMNS += ["unix_s", "suite_s", "run_wall_s", "seconds"]
IDENTITY = ("workload", "device")


def run_speeds(suite: SuiteRuns, finished_only: bool = True) -> dict[str, dict[str, Any]]:
    """Each run's ``machine_speed`` (by run id; runs without a probe left out), of the
    finished runs unless ``finished_only`` is false."""
    runs = suite.runs
    speeds: dict[str, dict[str, Any]] = {}
    for _, row in runs.iterrows():
        if finished_only and row.get("status") != "finished":
            continue
        speed = _speed_of(row)
        if speed is not None:
            speeds[str(row["run_id"])] = speed
    return speeds


def _speed_of(row: pd.Series) -> dict[str, Any] | None:
    speed = row.get("machine_speed")
    if isinstance(speed, Mapping) and _number(speed.get("median_s")):
        return dict(speed)
    median = row.get("machine_speed.median_s")
    if not _number(median):
        return None
    flat = {key: _plain(row.get(f"machine_speed.{key}")) for key in (*IDENTITY, "count")}
    return {**flat, "median_s": float(median), "started_at": _plain(row.get("started_at"))}


def probe_frame(suite: SuiteRuns) -> pd.DataFrame:
    """A row per probe sample of every run (any status): its configuration, run id,
    status, probe identity, time (``unix_s``; ``suite_s``: seconds since the suite's first
    sample; ``run_wall_s``: the run's own wall clock) and ``seconds`` it took."""
    names = dict(zip(suite.runs["run_id"].astype(str), suite.runs["configuration"], strict=True))
    statuses = dict(zip(suite.runs["run_id"].astype(str), suite.runs["status"], strict=True))
    rows = []
    for run_id, speed in run_speeds(suite, finished_only=False).items():
        identity = {key: speed.get(key) for key in IDENTITY}
        where = {"configuration": names[run_id], "run_id": run_id, "status": statuses[run_id]}
        for sample in _samples(speed):
            rows.append({**where, **identity, **sample})
    frame = pd.DataFrame(rows, columns=PROBE_COLUMNS)
    if not frame.empty:
        frame["suite_s"] = frame["unix_s"] - frame["unix_s"].min()
        frame = frame.sort_values(["unix_s", "run_id"], kind="stable", ignore_index=True)
    return frame


def _samples(speed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The probe's samples; a run known by its median alone: one, at its start."""
    samples = speed.get("samples")
    if isinstance(samples, list):
        return [
            {"unix_s": s.get("unix_s"), "run_wall_s": s.get("wall_s"), "seconds": s["seconds"]}
            for s in samples
            if isinstance(s, Mapping) and _number(s.get("seconds")) and _number(s.get("unix_s"))
        ]
    started = _unix_s(speed.get("started_at"))
    if started is None:
        return []
    return [{"unix_s": started, "run_wall_s": None, "seconds": speed["median_s"]}]


def unsteady_runs(suite: SuiteRuns, tolerance: float = MACHINE_SPEED_TOLERANCE) -> dict[str, str]:
    """The finished runs whose machine was more than ``tolerance`` off the suite's (their
    probe's median, or a quarter of its samples), with the reason; the median of the
    finished runs' probe medians is the suite's, among comparable probes."""
    return unsteady_machines(run_speeds(suite), tolerance)


def replaced_runs(suite: SuiteRuns) -> dict[str, dict[str, Any]]:
    """The runs whose latest attempt replaced an earlier one measured on an unsteady
    machine: run id -> ``replaces`` (``attempt``, ``reason``, ``kept``)."""
    runs = suite.runs
    if "replaces.attempt" not in runs:
        return {}
    found = {}
    for _, row in runs.iterrows():
        if _number(row.get("replaces.attempt")):
            found[str(row["run_id"])] = {
                "attempt": int(row["replaces.attempt"]),
                "reason": _plain(row.get("replaces.reason")),
                "kept": _plain(row.get("replaces.kept")),
            }
    return found


def steadiness_notes(suite: SuiteRuns, tolerance: float = MACHINE_SPEED_TOLERANCE) -> list[str]:
    """A note per finished run measured on an unsteady machine, one naming the runs that
    re-runs replaced, and one when the runs' probes are of several kinds."""
    notes = [
        f"{run_id}: {why}: its speed figures are unsteady, compare them with care (or "
        "train it again: train-suite --rerun-unsteady 1)"
        for run_id, why in unsteady_runs(suite, tolerance).items()
    ]
    replaced = replaced_runs(suite)
    if replaced:
        listed = "; ".join(
            f"{run_id} (re-run {r['attempt']}: {r['reason'] or 'unsteady machine'})"
            for run_id, r in replaced.items()
        )
        notes.append(
            f"replaced by re-runs, their machine having been unsteady (the earlier attempts "
            f"are kept under replaced/ in the suite folder): {listed}"
        )
    kinds = {tuple(s.get(k) for k in IDENTITY) for s in run_speeds(suite).values()}
    if len(kinds) > 1:
        shown = "; ".join(f"{w} on {d}" for w, d in sorted(kinds, key=str))
        notes.append(
            f"the runs' machine-speed probes are of {len(kinds)} kinds ({shown}): "
            "each run is compared with the runs of its own kind only"
        )
    return notes


def suite_machine_speed(suite: SuiteRuns) -> dict[str, Any] | None:
    """The suite's probe as a baseline records it: the most common identity among the
    finished runs, the median of those runs' medians and their number (None: no probe)."""
    speeds = list(run_speeds(suite).values())
    if not speeds:
        return None
    kinds = [tuple(s.get(k) for k in IDENTITY) for s in speeds]
    common = max(set(kinds), key=lambda kind: (kinds.count(kind), str(kind)))
    medians = [s["median_s"] for s, kind in zip(speeds, kinds, strict=True) if kind == common]
    identity = dict(zip(IDENTITY, common, strict=True))
    return {**identity, "median_s": statistics.median(medians), "runs": len(medians)}


def machine_speed_change(
    baseline: Mapping[str, Any] | None,
    candidate: Mapping[str, Any] | None,
    tolerance: float = MACHINE_SPEED_TOLERANCE,
) -> str | None:
    """What ``check`` says when the baseline's and the candidate's probes (each a
    ``suite_machine_speed``) differ by more than ``tolerance`` (another machine or another
    load) or are not comparable; None when they agree or one has no probe."""
    if not baseline or not candidate:
        return None
    if any(baseline.get(k) != candidate.get(k) for k in IDENTITY):
        return (
            "the machine-speed probes are not comparable (baseline: "
            f"{baseline.get('workload')} on {baseline.get('device')}; candidate: "
            f"{candidate.get('workload')} on {candidate.get('device')})"
        )
    old, new = baseline.get("median_s"), candidate.get("median_s")
    if not (_number(old) and _number(new)) or old <= 0:
        return None
    ratio = new / old
    if abs(ratio - 1) <= tolerance:
        return None
    return (
        f"the machine-speed probe took {ratio:.2f}x the baseline's ({new * 1e3:.0f} ms vs "
        f"{old * 1e3:.0f} ms): another machine or another load, so speed figures differ "
        "for reasons that are not the code's"
    )


def plot_machine_speed(frame: pd.DataFrame, path: Path, flagged: Collection[str] = ()) -> Path:
    """The probe's seconds (ms) over the suite's wall time: a line per run, coloured by
    configuration, the flagged runs' samples ringed; the median of the runs' medians and
    the 10 % band around it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(9, 4), layout="constrained")
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(dict.fromkeys(frame["configuration"]))
    colors = {name: cycle[i % len(cycle)] for i, name in enumerate(names)}
    for run_id, samples in frame.groupby("run_id", sort=False):
        name = samples["configuration"].iloc[0]
        x, y = samples["suite_s"], samples["seconds"] * 1e3
        axis.plot(x, y, marker="o", markersize=3, color=colors[name], linewidth=1)
        if run_id in flagged:
            axis.scatter(x, y, s=60, facecolors="none", edgecolors="red", linewidths=1)
    if not frame.empty:
        median = statistics.median(frame.groupby("run_id")["seconds"].median()) * 1e3
        axis.axhline(median, color="black", linewidth=0.8, linestyle="--")
        low, high = median * (1 - MACHINE_SPEED_TOLERANCE), median * (1 + MACHINE_SPEED_TOLERANCE)
        axis.axhspan(low, high, color="grey", alpha=0.15)
    for name in names:
        axis.plot([], [], color=colors[name], label=name)
    if names:
        axis.legend(fontsize="small", loc="upper left")
    axis.set_xlabel("suite wall time (s)")
    axis.set_ylabel("machine-speed probe (ms)")
    axis.set_title("machine speed (dashed: the runs' median, band: 10 %, red rings: unsteady)")
    axis.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _unix_s(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else None
    except ValueError:
        return None


def _number(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def _plain(value: Any) -> Any:
    """A frame cell as JSON would hold it: NaN (a missing value) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value
