"""Batch-size schedules: fixed, or growing at milestones (by epoch or by iteration).

Thesis sec. 4.1.1: 64 -> 128 at epoch 32 -> 256 at epoch 96. Growth is a real larger
batch by default; ``growth_mode: accumulate`` keeps the base batch on the device and
reaches the scheduled size by gradient accumulation, as the thesis' public code did.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ganbench.registry import Section
from ganbench.strategies.adaptive import AdaptiveGrowth, GrowthConfig


class SchedulePoint(Section):
    """A point of a schedule, in passes over the data or in iterations (one of them)."""

    epoch: float | None = Field(None, gt=0, description="after this many passes over the data")
    iteration: PositiveInt | None = Field(None, description="from this iteration on")

    @model_validator(mode="after")
    def _one_unit(self) -> SchedulePoint:
        if (self.epoch is None) == (self.iteration is None):
            raise ValueError("give exactly one of epoch or iteration")
        return self

    @property
    def at(self) -> float:
        return self.epoch if self.epoch is not None else float(self.iteration or 0)

    def reached(self, iteration: int, epoch: float) -> bool:
        if self.epoch is not None:
            return epoch >= self.epoch
        return iteration >= (self.iteration or 0)

    def __str__(self) -> str:
        unit = f"epoch {self.epoch:g}" if self.epoch is not None else f"iteration {self.iteration}"
        return f"milestone: {unit}"


class Milestone(SchedulePoint):
    size: PositiveInt = Field(..., description="batch size from this point on")


class BatchConfig(Section):
    size: PositiveInt = Field(64, description="mini-batch size at the start")
    milestones: list[Milestone] = Field(default_factory=list, description="empty: fixed size")
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="learning rate x (size/start) or x sqrt(size/start) after growth"
    )
    growth_mode: Literal["batch", "accumulate"] = "batch"
    growth: GrowthConfig | None = Field(
        None, description="adaptive growth: plateau or noise_scale (instead of milestones)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> BatchConfig:
        if self.growth is not None:
            if self.milestones:
                raise ValueError("growth: adaptive growth replaces milestones; give one of them")
            if self.growth.max_size <= self.size:
                raise ValueError(
                    f"growth.max_size: {self.growth.max_size} must exceed size {self.size}"
                )
        units = {"epoch" if m.epoch is not None else "iteration" for m in self.milestones}
        if len(units) > 1:
            raise ValueError("milestones: use either epoch or iteration for all, not both")
        points = [m.at for m in self.milestones]
        if any(b <= a for a, b in itertools.pairwise(points)):
            raise ValueError(f"milestones: must be strictly increasing, got {points}")
        if self.growth_mode == "accumulate":
            bad = [s for s in self.sizes[1:] if s % self.size]
            if bad:
                raise ValueError(
                    f"milestones: with growth_mode accumulate every size must be a multiple "
                    f"of size {self.size}, got {bad}"
                )
        return self

    @property
    def sizes(self) -> list[int]:
        """Every size a run can train at (adaptive growth: every size it may reach)."""
        if self.growth is not None:
            return AdaptiveGrowth(self.growth, self.size).sizes(self.size)
        return [self.size] + [m.size for m in self.milestones]

    @property
    def label(self) -> str:
        """The schedule in a few characters: ``64->128->256``, ``64->256 (plateau)``."""
        if self.growth is not None:
            return f"{self.size}->{self.growth.max_size} ({self.growth.name})"
        return "->".join(str(s) for s in self.sizes)


class BatchSchedule:
    """Which batch size applies now, the learning-rate factor and the micro-batch.

    ``accumulation`` (levers.grad_accumulation) splits every batch into that many
    micro-batches; with ``growth_mode: accumulate`` it splits the base batch. With ddp,
    sizes are global and a micro-batch is one process's (``world`` shards per batch).
    """

    def __init__(self, cfg: BatchConfig, accumulation: int = 1, world: int = 1) -> None:
        self.cfg = cfg
        self.accumulation = accumulation
        self.world = world
        self.adaptive = AdaptiveGrowth(cfg.growth, cfg.size) if cfg.growth else None

    def size_at(self, iteration: int, epoch: float) -> int:
        """Scheduled (effective) size for the iteration about to run (0-based)."""
        if self.adaptive is not None:
            return self.adaptive.size
        size = self.cfg.size
        for m in self.cfg.milestones:
            if m.reached(iteration, epoch):
                size = m.size
        return size

    def milestone_at(self, iteration: int, epoch: float) -> str:
        """Why the size changed at this point: the last milestone reached."""
        reached = [str(m) for m in self.cfg.milestones if m.reached(iteration, epoch)]
        return reached[-1] if reached else "start"

    def lr_scale(self, size: int) -> float:
        ratio = size / self.cfg.size
        return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[self.cfg.lr_scaling]

    def micro_batch(self, size: int) -> int | None:
        """Examples per forward pass at batch ``size`` (None: the whole batch at once)."""
        if self.cfg.growth_mode == "accumulate":
            return self.cfg.size // (self.accumulation * self.world)
        return size // (self.accumulation * self.world) if self.accumulation > 1 else None
