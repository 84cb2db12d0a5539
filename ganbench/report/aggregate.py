"""Across seeds: mean and 95% confidence interval per configuration and figure, and ratios
against a baseline configuration with their intervals.

- Interval of a mean: Student's t, ``mean +- t(0.975, n-1) * s / sqrt(n)`` over the
  configuration's finished runs (none with one run).
- Ratio ``A / B`` of two means: on the log scale, ``log(mA / mB) +- t * se`` with
  ``se^2 = sA^2 / (nA mA^2) + sB^2 / (nB mB^2)`` (the delta method) and Welch-Satterthwaite
  degrees of freedom, then exponentiated.
- "No clear difference": the two configurations' intervals overlap (or either has none).

Runs that did not finish (incomplete, interrupted, failed, diverged, oom) never enter a
mean; the ``runs`` column counts them by status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ganbench.errors import UserError
from ganbench.report.collect import SuiteRuns

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int
    std: float

    @property
    def has_interval(self) -> bool:
        return self.n > 1 and math.isfinite(self.low)


NO_VALUES = Estimate(math.nan, math.nan, math.nan, 0, math.nan)  # nothing to estimate from


def estimate(values: Sequence[float]) -> Estimate:
    """Mean and 95% t-interval of finite values (NaN interval below two values)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return NO_VALUES
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, std)


def ratio(a: Estimate, b: Estimate) -> tuple[float, float, float]:
    """``a.mean / b.mean`` and its 95% interval (NaN where it cannot be had)."""
    if not (a.n and b.n) or a.mean <= 0 or b.mean <= 0:
        return (a.mean / b.mean if b.n and b.mean else math.nan), math.nan, math.nan
    r = a.mean / b.mean
    if not (a.has_interval and b.has_interval):
        return r, math.nan, math.nan
    va, vb = a.std**2 / (a.n * a.mean**2), b.std**2 / (b.n * b.mean**2)
    se = math.sqrt(va + vb)
    if se == 0:
        return r, r, r
    t = welch_t(va, a.n, vb, b.n)
    return r, r * math.exp(-t * se), r * math.exp(t * se)


def welch_t(va: float, na: int, vb: float, nb: int) -> float:
    """The two-sided 95% t quantile for a sum of two variance terms ``va`` and ``vb``
    estimated from ``na`` and ``nb`` values (Welch-Satterthwaite degrees of freedom)."""
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def overlap(a: Estimate, b: Estimate) -> bool:
    """Whether two intervals overlap; without an interval on either side, True."""
    if not (a.has_interval and b.has_interval):
        return True
    return a.low <= b.high and b.low <= a.high


def status_counts(runs: pd.DataFrame) -> pd.Series:
    """Per configuration, e.g. ``3 finished`` or ``2 finished, 1 oom``."""

    def describe(statuses: pd.Series) -> str:
        counts = statuses.value_counts()
        order = ["finished"] + sorted(s for s in counts.index if s != "finished")
        return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)

    return runs.groupby("configuration", sort=False)["status"].agg(describe)


class Estimates(dict[tuple[str, str], Estimate]):
    """(configuration, figure) -> Estimate; a figure no run of the configuration has (or
    that no run has at all: runs without figures yet) is an estimate of no values."""

    def __missing__(self, key: tuple[str, str]) -> Estimate:
        return NO_VALUES


def estimate_all(suite: SuiteRuns) -> Estimates:
    """(configuration, figure) -> Estimate over the configuration's finished runs."""
    runs = suite.runs
    finished = runs[runs["status"] == "finished"]
    return Estimates(
        ((c, f), estimate(finished.loc[finished["configuration"] == c, f].tolist()))
        for c in dict.fromkeys(runs["configuration"])
        for f in suite.figures()
    )


def aggregate(suite: SuiteRuns, baseline: str | None = None) -> pd.DataFrame:
    """One row per configuration (in first-seen order): ``runs`` (status counts),
    ``seeds``, and per figure ``<f>.mean``, ``.ci95_low``, ``.ci95_high``, ``.n``; with a
    baseline also ``<f>.ratio``, ``.ratio_low``, ``.ratio_high`` and ``<f>.vs_baseline``
    (``better``, ``worse`` or ``no clear difference``)."""
    runs = suite.runs
    order = list(dict.fromkeys(runs["configuration"]))
    if baseline is not None and baseline not in order:
        raise UserError(f"baseline: no configuration {baseline!r} (choose: {', '.join(order)})")
    estimates = estimate_all(suite)
    table = pd.DataFrame(index=pd.Index(order, name="configuration"))
    table["runs"] = status_counts(runs)
    table["seeds"] = runs.groupby("configuration", sort=False)["seed"].agg(
        lambda s: ",".join(str(v) for v in sorted(s.dropna().astype(int)))
    )
    columns: dict[str, list] = {}
    for f in suite.figures():
        for c in order:
            e = estimates[(c, f)]
            for key, value in (
                ("mean", e.mean),
                ("ci95_low", e.low),
                ("ci95_high", e.high),
                ("n", e.n),
            ):
                columns.setdefault(f"{f}.{key}", []).append(value)
            if baseline is not None:
                base = estimates[(baseline, f)]
                r, lo, hi = ratio(e, base)
                columns.setdefault(f"{f}.ratio", []).append(r)
                columns.setdefault(f"{f}.ratio_low", []).append(lo)
                columns.setdefault(f"{f}.ratio_high", []).append(hi)
                columns.setdefault(f"{f}.vs_baseline", []).append(
                    verdict(e, base, suite.directions[f]) if c != baseline else "baseline"
                )
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)


def verdict(a: Estimate, base: Estimate, direction: str) -> str:
    """``better``/``worse`` than the baseline when the intervals do not overlap."""
    if not a.n or not base.n:
        return "no data"
    if overlap(a, base):
        return "no clear difference"
    higher = a.mean > base.mean
    return "better" if higher == (direction == "max") else "worse"
