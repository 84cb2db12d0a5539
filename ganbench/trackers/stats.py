"""Summaries of raw measurements as small dataclasses, with units in the field names."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch


@dataclass(frozen=True)
class Durations:
    """Count, mean, standard deviation and percentiles of durations in seconds; ``fields``
    names them under the kind's prefix (``iter_time_p50_s``, ``latency_mean_s``)."""

    prefix: ClassVar[str] = "duration"

    count: int
    mean_s: float | None
    std_s: float | None
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None

    @classmethod
    def from_values(cls, values_s: Sequence[float]) -> Durations:
        if not values_s:
            return cls(0, None, None, None, None, None)
        x = torch.tensor(values_s, dtype=torch.float64)
        q = torch.quantile(x, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64)).tolist()
        std = x.std().item() if len(values_s) > 1 else 0.0
        return cls(len(values_s), x.mean().item(), std, *q)

    def fields(self) -> dict[str, float | int | None]:
        return {f"{self.prefix}_{name}": value for name, value in asdict(self).items()}


class IterationTimes(Durations):
    """Training iteration durations after warm-up (``iter_time_*``)."""

    prefix = "iter_time"


class LatencyTimes(Durations):
    """Generator call durations (``latency_*``)."""

    prefix = "latency"


# Percentiles a sample can support, with distribution-free intervals (used by latency).

CONFIDENCE = 0.95


def percentile_min_count(p: float) -> int:
    """Fewest values for the ``p``-th percentile: enough that at least one value is
    expected above it, n * (1 - p/100) >= 1 (p50: 2, p90: 10, p99: 100)."""
    return math.ceil(round(100 / (100 - p), 9))


def interval_min_count(q: float, confidence: float = CONFIDENCE) -> int:
    """Fewest values for which ``order_statistic_ranks`` has an interval for quantile
    ``q``: q**n and (1 - q)**n both at most (1 - confidence) / 2 (q 0.5: 6, 0.9: 36,
    0.99: 368)."""
    tail = (1 - confidence) / 2
    return math.ceil(math.log(tail) / math.log(max(q, 1 - q)))


def order_statistic_ranks(
    n: int, q: float, confidence: float = CONFIDENCE
) -> tuple[int, int] | None:
    """Ranks (1-based) ``l < u`` of the sorted sample whose values bracket the population's
    ``q``-quantile with probability at least ``confidence``, whatever the distribution.

    B, the number of values at or below the quantile, is Binomial(n, q); the interval
    [x_(l), x_(u)] covers it when l <= B < u. Equal tails: l is the largest rank with
    P(B < l) <= (1 - confidence) / 2, u the smallest with P(B >= u) <= (1 - confidence) / 2,
    so the coverage P(l <= B < u) is at least ``confidence``. None when no such ranks
    exist within 1..n (too few values)."""
    from scipy.stats import binom

    tail = (1 - confidence) / 2
    k = np.arange(n + 1)
    low = int(np.count_nonzero(binom.cdf(k, n, q) <= tail))  # P(B <= l - 1) <= tail
    high = int(np.count_nonzero(binom.sf(k, n, q) > tail)) + 1  # P(B > u - 1) <= tail
    return (low, high) if low >= 1 and high <= n else None


@dataclass(frozen=True)
class Percentile:
    """The ``p``-th percentile of a sample (linear interpolation between the order
    statistics, as ``numpy.quantile``'s default), its order-statistic interval
    [x_(l), x_(u)], and why either is missing (``None`` when both are there)."""

    p: float
    value: float | None
    interval: tuple[float, float] | None
    reason: str | None

    @classmethod
    def of(cls, values: Sequence[float], p: float, noun: str = "values") -> Percentile:
        n, need = len(values), percentile_min_count(p)
        if n < need:
            return cls(p, None, None, f"needs >= {need} {noun}, had {n}")
        ordered = np.sort(np.asarray(values, dtype=np.float64))
        value = float(np.quantile(ordered, p / 100))
        ranks = order_statistic_ranks(n, p / 100)
        if ranks is None:
            need = interval_min_count(p / 100)
            reason = f"{CONFIDENCE:.0%} interval needs >= {need} {noun}, had {n}"
            return cls(p, value, None, reason)
        low, high = ranks
        return cls(p, value, (float(ordered[low - 1]), float(ordered[high - 1])), None)
