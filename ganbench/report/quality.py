"""The quality table: each quality value at the last evaluation and at its best, and the
time to its target counting the runs that never reached it (report.survival)."""

from __future__ import annotations

import math

from ganbench.report.collect import SuiteRuns
from ganbench.report.estimate import Estimates
from ganbench.report.survival import Times, median, times_to_target
from ganbench.report.table import Table, cell, fmt


def quality_table(suite: SuiteRuns, est: Estimates) -> Table | None:
    values = [
        f.split(".")[1]
        for f in suite.figures()
        if f.startswith("quality.") and f.endswith(".final")
    ]
    if not values:
        return None
    runs = suite.runs
    targets = [v for v in values if _has_target(suite, v)]
    headers = ["configuration"]
    for v in values:
        headers += [f"{v} final", f"{v} best"]
    for v in targets:
        goal = runs[f"time_to_target.{v}.target"].dropna().iloc[0]
        headers += [f"time to {v} target {goal:g}", "iterations", "images seen"]
    rows = []
    for name in dict.fromkeys(runs["configuration"]):
        row = [name]
        for v in values:
            row += [cell(est[(name, f"quality.{v}.final")]), cell(est[(name, f"quality.{v}.best")])]
        for v in targets:
            times = times_to_target(runs, name, v)
            if not times.runs:  # no finished run: nothing to say about the target
                row += ["-", "-", "-"]
                continue
            key = f"time_to_target.{v}"
            row += [
                target_cell(times),
                cell(est[(name, f"{key}.iteration")]) if times.reached else "-",
                cell(est[(name, f"{key}.images_seen")]) if times.reached else "-",
            ]
        rows.append(row)
    return Table(
        "quality at the last evaluation (final) and the best over evaluations; time to "
        "target: Kaplan-Meier median training seconds [95% interval], a run that stopped "
        "before the target counted as taking longer than it trained; iterations and "
        "images over the runs that reached it",
        headers,
        rows,
    )


def target_cell(times: Times) -> str:
    """``12.5 s [10.1, 15] (3/3 reached)``; ``not reached (0/3)``; where under half
    reached it, no median: ``no median (1/3 reached)``."""
    k, n = len(times.reached), times.runs
    if not k:
        return f"not reached (0/{n})"
    m = median(times)
    if not math.isfinite(m.value):
        return f"no median ({k}/{n} reached)"
    high = fmt(m.high, digits=2) if math.isfinite(m.high) else "open"
    interval = f" [{fmt(m.low, digits=2)}, {high}]" if n > 1 else ""
    return f"{fmt(m.value)} s{interval} ({k}/{n} reached)"


def _has_target(suite: SuiteRuns, value: str) -> bool:
    runs = suite.runs
    reached, target = f"time_to_target.{value}.reached", f"time_to_target.{value}.target"
    return all(c in runs and runs[c].notna().any() for c in (reached, target))
