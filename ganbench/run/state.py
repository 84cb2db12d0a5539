"""The loop's counters that survive a resume (checkpointed as they are)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    """Counters that survive a resume (all times in seconds)."""

    iteration: int = 0
    train_s: float = 0.0
    wall_s: float = 0.0
    eval_s: float = 0.0
    checkpoint_s: float = 0.0
    batch_size: int = 0
    epochs_completed: int = 0
    epoch_start_train_s: float = 0.0
    last_eval_train_s: float = 0.0
    evaluated_at: int = -1  # iteration of the last evaluation
    iter_times_s: list[float] = field(default_factory=list)
    epoch_times_s: list[float] = field(default_factory=list)
    measure: dict[str, Any] = field(default_factory=dict)  # the trackers' running totals
    quality: dict[str, Any] = field(default_factory=dict)  # best values, targets reached
    noise_scale_s: float = 0.0  # time spent measuring the gradient noise scale
    noise_scale: dict[str, Any] = field(default_factory=dict)  # its running estimates
    growth: dict[str, Any] = field(default_factory=dict)  # adaptive growth's decisions
    grown_at: list[list[int]] = field(default_factory=list)  # [iteration, size] per change
    speed_probe: dict[str, Any] = field(default_factory=dict)  # machine-speed probe samples
