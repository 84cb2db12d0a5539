"""The speed, memory and cost table, and the table of pre-trained generators (``load:``
runs, which train nothing)."""

from __future__ import annotations

import re

from ganbench.report.aggregate import memory_figure, status_counts
from ganbench.report.collect import SuiteRuns, stopped_at
from ganbench.report.compare import Comparisons
from ganbench.report.estimate import Estimates
from ganbench.report.table import Table, cell, fmt, ratio_cell, text

# (column, header, scale, unit) of the speed table; memory picks CUDA when there is any.
SPEED_COLUMNS = [
    ("iterations_per_s", "it/s", 1.0, ""),
    ("images_per_s", "images/s", 1.0, ""),
    ("images_per_s_overall", "images/s incl. compile", 1.0, ""),
    ("epoch_time_mean_s", "epoch s", 1.0, ""),
    ("iter_time_p50_s", "iteration p50 ms", 1e-3, ""),
    ("train_s", "training s", 1.0, ""),
    ("energy_j_per_image", "energy J/image", 1.0, ""),
    ("grad_evals", "grad evals", 1.0, ""),
]


def speed_table(
    suite: SuiteRuns,
    names: list[str],
    est: Estimates,
    comparisons: Comparisons | None,
) -> Table:
    """Per trained configuration: its runs, where they stopped, each speed, memory and
    cost figure, and its images/s against the baseline."""
    memory, memory_header = memory_figure(suite)
    columns = [c for c in SPEED_COLUMNS if c[0] in suite.figures()]
    if memory in suite.figures():
        columns.insert(min(len(columns), 5), (memory, f"{memory_header} MiB", 2**20, ""))
    headers = ["configuration", "runs", "iterations", *(h for _, h, _, _ in columns)]
    against = comparisons is not None and "images_per_s" in suite.figures()
    if against:
        headers.append(f"images/s vs {comparisons.baseline}")
    runs = status_counts(suite.runs).to_dict()
    rows = []
    for name in names:
        row = [name, runs[name], iterations_cell(suite, name)]
        row += [cell(est[(name, col)], scale, unit) for col, _, scale, unit in columns]
        if against:
            baseline = name == comparisons.baseline
            row.append(
                "baseline" if baseline else ratio_cell(comparisons.get((name, "images_per_s")))
            )
        rows.append(row)
    return Table("speed, memory and cost (mean [95% interval] over finished seeds)", headers, rows)


def iterations_cell(suite: SuiteRuns, name: str) -> str:
    stopped = stopped_at(suite, name)
    if not stopped:
        return "-"
    low, high = stopped[0], stopped[-1]
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def loaded_table(suite: SuiteRuns, names: list[str]) -> Table:
    """The pre-trained generators: where each came from, its size, and its generation
    throughput per batch size (mean over its seeds; fp32, eval mode, one call at a time)."""
    runs = suite.runs
    pattern = re.compile(r"^generation\.batch_(\d+)\.images_per_s$")
    sizes = sorted(int(m[1]) for c in runs for m in [pattern.match(c)] if m)
    headers = ["configuration", "source", "kind", "G parameters"]
    headers += [f"img/s at {b}" for b in sizes]
    rows = []
    for name in names:
        mine = runs[(runs["configuration"] == name) & (runs["status"] == "finished")]
        first = mine.iloc[0] if len(mine) else runs[runs["configuration"] == name].iloc[0]
        rows.append(
            [
                name,
                text(first.get("loaded.source")),
                text(first.get("loaded.kind")),
                fmt(first.get("loaded.parameters")),
                *(fmt(mine[f"generation.batch_{b}.images_per_s"].mean()) for b in sizes),
            ]
        )
    return Table("pre-trained generators (load:): no training; quality below", headers, rows)
