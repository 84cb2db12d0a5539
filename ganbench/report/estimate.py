"""Across seeds: a figure's mean and 95 % interval per configuration.

- A figure whose values are all positive (a time, a rate, a memory size, FID) gets its
  interval on the log scale, ``mean * exp(+- t(0.975, n-1) * s / (mean sqrt(n)))`` (the
  delta method): never below zero, wider above than below, as such figures are.
- Other figures (a loss, a KID estimate that can go below zero): ``mean +- t s / sqrt(n)``.
- A figure that did not vary (a fixed budget's iterations) has the interval
  ``[mean, mean]`` and is shown without one; one value has no interval at all.

Runs that did not finish (incomplete, interrupted, failed, diverged, oom) never enter a
mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ganbench.report.collect import SuiteRuns

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int
    std: float
    log_scale: bool = False  # the interval is mean * exp(+-...): all values positive

    @property
    def has_interval(self) -> bool:
        return self.n > 1 and math.isfinite(self.low)

    @property
    def varied(self) -> bool:
        """Whether the values differ (an interval worth showing)."""
        return self.has_interval and self.std > 0


NO_VALUES = Estimate(math.nan, math.nan, math.nan, 0, math.nan)  # nothing to estimate from


def finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def estimate(values: Sequence[float | None]) -> Estimate:
    """Mean and 95 % interval of the finite values (log scale when all are positive; NaN
    interval below two values)."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return NO_VALUES
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    if (x > 0).all():
        spread = math.exp(t * std / (mean * math.sqrt(n)))
        return Estimate(mean, mean / spread, mean * spread, n, std, log_scale=True)
    half = t * std / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, std)


class Estimates(dict[tuple[str, str], Estimate]):
    """(configuration, figure) -> Estimate; a figure no run of the configuration has (or
    that no run has at all: runs without figures yet) is an estimate of no values."""

    def __missing__(self, key: tuple[str, str]) -> Estimate:
        return NO_VALUES


def finished_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"]


def estimate_all(suite: SuiteRuns) -> Estimates:
    """(configuration, figure) -> Estimate over the configuration's finished runs."""
    runs = suite.runs
    finished = finished_runs(runs)
    return Estimates(
        ((c, f), estimate(finished.loc[finished["configuration"] == c, f].tolist()))
        for c in dict.fromkeys(runs["configuration"])
        for f in suite.figures()
    )
