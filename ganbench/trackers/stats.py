"""Summaries of raw measurements as small dataclasses, with units in the field names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

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
