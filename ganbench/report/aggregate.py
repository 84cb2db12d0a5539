"""The per-configuration table behind the report (``summary.csv``, ``report --format
json``): status counts, seeds, each figure's mean and 95 % interval (report.estimate),
and with a baseline each figure's ratio to it, the interval at its adjusted level
and the verdict (report.compare).

The figures people decide on (``decision_figures``: the ratio table's) form one family
of comparisons, the others a second, so the JSON and the table agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from ganbench.errors import UserError
from ganbench.report.collect import SuiteRuns
from ganbench.report.compare import Comparisons, compare_all
from ganbench.report.estimate import Estimates, estimate_all


def memory_figure(suite: SuiteRuns) -> tuple[str, str]:
    """The peak memory the tables show, with its label: CUDA's where there is any."""
    if "peak_cuda_alloc_bytes" in suite.figures():
        return "peak_cuda_alloc_bytes", "peak CUDA"
    return "peak_rss_bytes", "peak RSS"


def decision_figures(suite: SuiteRuns) -> list[tuple[str, str]]:
    """(figure, label) of the ratio table, in its order: speed, time, memory, energy,
    every quality value's final figure and time to its target."""
    memory, memory_label = memory_figure(suite)
    wanted = [
        ("iterations_per_s", "it/s"),
        ("images_per_s", "images/s"),
        ("train_s", "training time"),
        (memory, memory_label),
        ("energy_j_per_image", "energy/image"),
    ]
    for f in suite.figures():
        value = f.split(".")[1] if f.count(".") >= 2 else ""
        if f.startswith("quality.") and f.endswith(".final"):
            wanted.append((f, f"{value} final"))
        elif f.startswith("time_to_target.") and f.endswith(".train_s"):
            wanted.append((f, f"{value} time to target"))
    present = suite.figures()
    return [(f, label) for f, label in wanted if f in present]


def compare_to_baseline(
    suite: SuiteRuns, baseline: str, margins: Mapping[str, float] | None = None
) -> Comparisons:
    """Every configuration against ``baseline``: the decision figures as one family,
    the other figures as another."""
    decisions = [f for f, _ in decision_figures(suite)]
    others = [f for f in suite.figures() if f not in decisions]
    return compare_all(suite, baseline, [decisions, others], margins)


def status_counts(runs: pd.DataFrame) -> pd.Series:
    """Per configuration, e.g. ``3 finished`` or ``2 finished, 1 oom``."""

    def describe(statuses: pd.Series) -> str:
        counts = statuses.value_counts()
        order = ["finished"] + sorted(s for s in counts.index if s != "finished")
        return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)

    return runs.groupby("configuration", sort=False)["status"].agg(describe)


def aggregate(
    suite: SuiteRuns,
    baseline: str | None = None,
    comparisons: Comparisons | None = None,
    estimates: Estimates | None = None,
) -> pd.DataFrame:
    """One row per configuration (in first-seen order): ``runs`` (status counts),
    ``seeds``, and per figure ``<f>.mean``, ``.ci95_low``, ``.ci95_high``, ``.n``; with a
    baseline also ``<f>.ratio``, ``.ratio_low``, ``.ratio_high`` (the interval at the
    comparison's adjusted level ``.ratio_level``), ``.ratio_method`` and
    ``<f>.vs_baseline`` (better, worse, equivalent, no clear difference, no data)."""
    runs = suite.runs
    order = list(dict.fromkeys(runs["configuration"]))
    if baseline is not None and baseline not in order:
        raise UserError(f"baseline: no configuration {baseline!r} (choose: {', '.join(order)})")
    if baseline is not None and comparisons is None:
        comparisons = compare_to_baseline(suite, baseline)
    estimates = estimate_all(suite) if estimates is None else estimates
    table = pd.DataFrame(index=pd.Index(order, name="configuration"))
    table["runs"] = status_counts(runs)
    table["seeds"] = runs.groupby("configuration", sort=False)["seed"].agg(
        lambda s: ",".join(str(v) for v in sorted(s.dropna().astype(int)))
    )
    columns: dict[str, list] = {}
    for f in suite.figures():
        for c in order:
            e = estimates[(c, f)]
            fields = {"mean": e.mean, "ci95_low": e.low, "ci95_high": e.high, "n": e.n}
            if comparisons is not None:
                fields |= _ratio_fields(comparisons, c, f)
            for key, value in fields.items():
                columns.setdefault(f"{f}.{key}", []).append(value)
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)


def _ratio_fields(comparisons: Comparisons, name: str, figure: str) -> dict[str, object]:
    if name == comparisons.baseline:
        return {"ratio": 1.0, "ratio_low": math.nan, "ratio_high": math.nan,
                "ratio_level": math.nan, "ratio_method": "", "vs_baseline": "baseline"}  # fmt: skip
    c = comparisons.get((name, figure))
    if c is None:  # not compared: no value on either side
        return {"ratio": math.nan, "ratio_low": math.nan, "ratio_high": math.nan,
                "ratio_level": math.nan, "ratio_method": "", "vs_baseline": "no data"}  # fmt: skip
    low, high = c.interval()
    return {
        "ratio": c.ratio,
        "ratio_low": low,
        "ratio_high": high,
        "ratio_level": 1 - c.alpha if c.testable else math.nan,
        "ratio_method": c.method,
        "vs_baseline": c.verdict,
    }
