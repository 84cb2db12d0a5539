"""A row's figures from its call durations: count, mean, spread, percentiles with their
order-statistic intervals (or why not), and throughput per call and back to back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganbench.trackers.stats import LatencyTimes, Percentile

PERCENTILES = (50, 90, 99)


def percentile_fields(times_s: Sequence[float], p: int) -> dict[str, Any]:
    """``latency_p{p}_s``, its 95% interval ``latency_p{p}_ci_s`` ([low, high]) and
    ``latency_p{p}_reason`` (why either is null; null when both are there)."""
    percentile = Percentile.of(times_s, p, noun="calls")
    interval = list(percentile.interval) if percentile.interval is not None else None
    return {
        f"latency_p{p}_s": percentile.value,
        f"latency_p{p}_ci_s": interval,
        f"latency_p{p}_reason": percentile.reason,
    }


def call_figures(times_s: Sequence[float], batch: int) -> dict[str, Any]:
    """The figures of calls timed one at a time (each synchronised before the next)."""
    summary = LatencyTimes.from_values(times_s)
    mean = summary.mean_s
    figures: dict[str, Any] = {
        "latency_count": summary.count,
        "latency_mean_s": mean,
        "latency_std_s": summary.std_s,
        "latency_min_s": min(times_s),
        "latency_max_s": max(times_s),
        "per_image_latency_s": mean / batch,
        "images_per_s": batch / mean if mean > 0 else None,
    }
    for p in PERCENTILES:
        figures.update(percentile_fields(times_s, p))
    return figures


def blocked_figures(calls: int, seconds: float, batch: int) -> dict[str, Any]:
    """The figures of ``calls`` calls back to back, synchronised once."""
    return {
        "blocked_calls": calls,
        "blocked_s": seconds,
        "blocked_images_per_s": batch * calls / seconds if seconds > 0 else None,
    }
