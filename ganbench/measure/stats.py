"""Summaries of raw measurements, with units in the field names."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def duration_stats(values_s: Sequence[float], prefix: str) -> dict[str, float | int | None]:
    """count, mean, std, p50, p90, p99 of durations in seconds, as ``{prefix}_mean_s`` ..."""
    keys = ("mean", "std", "p50", "p90", "p99")
    if not values_s:
        return {f"{prefix}_count": 0, **{f"{prefix}_{k}_s": None for k in keys}}
    x = torch.tensor(values_s, dtype=torch.float64)
    q = torch.quantile(x, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64)).tolist()
    std = x.std().item() if len(values_s) > 1 else 0.0
    values = (x.mean().item(), std, *q)
    return {
        f"{prefix}_count": len(values_s),
        **{f"{prefix}_{k}_s": v for k, v in zip(keys, values, strict=True)},
    }
