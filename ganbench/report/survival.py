"""Time to a quality target, counting the runs that never got there.

A finished run that stopped before reaching the target is *censored* at its training
time: it says the target takes longer than that, not nothing. Per configuration, the
Kaplan-Meier estimate of the median training time to the target and its 95 % interval
(scipy.stats.ecdf; the interval's ends where the pointwise interval of the survival
curve crosses one half, open-ended where it never does); between configurations, the
log-rank test (scipy.stats.logrank), adjusted with the other comparisons of its table.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ganbench.report.estimate import ALPHA, finished_runs


@dataclass(frozen=True)
class Times:
    """A configuration's finished runs: when each reached the target, or (censored) how
    long it trained without reaching it."""

    reached: tuple[float, ...]
    censored: tuple[float, ...]

    @property
    def runs(self) -> int:
        return len(self.reached) + len(self.censored)

    def data(self) -> stats.CensoredData:
        return stats.CensoredData(uncensored=list(self.reached), right=list(self.censored))


@dataclass(frozen=True)
class Median:
    value: float  # inf: fewer than half reached the target
    low: float
    high: float  # inf: open-ended


def times_to_target(runs: pd.DataFrame, configuration: str, value: str) -> Times:
    """``value``'s target times of ``configuration``'s finished runs (a run that did not
    reach it, censored at its training time ``train_s``; one without, left out)."""
    mine = finished_runs(runs)
    mine = mine[mine["configuration"] == configuration]
    reached, censored = [], []
    for _, r in mine.iterrows():
        at = r.get(f"time_to_target.{value}.train_s")
        if _yes(r.get(f"time_to_target.{value}.reached")) and _number(at):
            reached.append(float(at))
        elif _number(r.get("train_s")):
            censored.append(float(r["train_s"]))
    return Times(tuple(reached), tuple(censored))


def median(times: Times) -> Median:
    """The Kaplan-Meier median time to the target and its 95 % interval."""
    if not times.reached:
        return Median(math.inf, math.inf, math.inf)
    with warnings.catch_warnings():  # "undefined at some observations": NaN, handled
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = stats.ecdf(times.data())
        band = fit.sf.confidence_interval(1 - ALPHA)
    t = fit.sf.quantiles
    return Median(
        _crossing(t, fit.sf.probabilities),
        _crossing(t, band.high.probabilities),
        _crossing(t, band.low.probabilities),
    )


def _crossing(times: np.ndarray, survival: np.ndarray) -> float:
    """The first time the survival curve is at or below one half (inf: never)."""
    below = np.nonzero(np.nan_to_num(survival, nan=1.0) <= 0.5)[0]
    return float(times[below[0]]) if len(below) else math.inf


@dataclass(frozen=True)
class TargetComparison:
    """``a`` against ``b`` on the time to a target (lower is better)."""

    a: Times
    b: Times
    statistic: float  # log-rank z: > 0 when a reaches the target sooner
    p: float
    alpha: float = ALPHA
    family: int = 1
    method: str = "log-rank"

    @property
    def testable(self) -> bool:
        return math.isfinite(self.p)

    @property
    def p_value(self) -> float:
        return self.p

    exact = False

    @property
    def ratio(self) -> float:
        """The two medians' ratio, where both are finite."""
        ma, mb = median(self.a).value, median(self.b).value
        return ma / mb if math.isfinite(ma) and math.isfinite(mb) and mb > 0 else math.nan

    def interval(self) -> tuple[float, float]:
        """None for a ratio of censored times: the verdict is the log-rank test's."""
        return math.nan, math.nan

    @property
    def verdict(self) -> str:
        if not (self.a.runs and self.b.runs):
            return "no data"
        if not self.testable or self.p > self.alpha:
            return "no clear difference"
        return "better" if self.statistic > 0 else "worse"


def compare_times(a: Times, b: Times) -> TargetComparison:
    """The log-rank test of ``a`` against ``b`` (no test when neither reached it, or
    either has no run)."""
    if not (a.runs and b.runs) or not (a.reached or b.reached):
        return TargetComparison(a, b, math.nan, math.nan)
    with warnings.catch_warnings():  # every run reached it at one time: no variance
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.logrank(x=a.data(), y=b.data())
    return TargetComparison(a, b, float(result.statistic), float(result.pvalue))


def _yes(value) -> bool:
    return isinstance(value, bool | np.bool_) and bool(value)


def _number(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
