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


class Milestone(Section):
    size: PositiveInt = Field(..., description="batch size from this point on")
    epoch: float | None = Field(None, gt=0, description="after this many passes over the data")
    iteration: PositiveInt | None = Field(None, description="from this iteration on")

    @model_validator(mode="after")
    def _one_unit(self) -> Milestone:
        if (self.epoch is None) == (self.iteration is None):
            raise ValueError("give exactly one of epoch or iteration")
        return self

    @property
    def at(self) -> float:
        return self.epoch if self.epoch is not None else float(self.iteration or 0)


class BatchConfig(Section):
    size: PositiveInt = Field(64, description="mini-batch size at the start")
    milestones: list[Milestone] = Field(default_factory=list, description="empty: fixed size")
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="learning rate x (size/start) or x sqrt(size/start) after growth"
    )
    growth_mode: Literal["batch", "accumulate"] = "batch"

    @model_validator(mode="after")
    def _consistent(self) -> BatchConfig:
        units = {"epoch" if m.epoch is not None else "iteration" for m in self.milestones}
        if len(units) > 1:
            raise ValueError("milestones: use either epoch or iteration for all, not both")
        points = [m.at for m in self.milestones]
        if any(b <= a for a, b in itertools.pairwise(points)):
            raise ValueError(f"milestones: must be strictly increasing, got {points}")
        if self.growth_mode == "accumulate":
            bad = [m.size for m in self.milestones if m.size % self.size]
            if bad:
                raise ValueError(
                    f"milestones: with growth_mode accumulate every size must be a multiple "
                    f"of size {self.size}, got {bad}"
                )
        return self

    @property
    def sizes(self) -> list[int]:
        return [self.size] + [m.size for m in self.milestones]


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

    def size_at(self, iteration: int, epoch: float) -> int:
        """Scheduled (effective) size for the iteration about to run (0-based)."""
        size = self.cfg.size
        for m in self.cfg.milestones:
            reached = epoch >= m.epoch if m.epoch is not None else iteration >= (m.iteration or 0)
            if reached:
                size = m.size
        return size

    def lr_scale(self, size: int) -> float:
        ratio = size / self.cfg.size
        return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[self.cfg.lr_scaling]

    def micro_batch(self, size: int) -> int | None:
        """Examples per forward pass at batch ``size`` (None: the whole batch at once)."""
        if self.cfg.growth_mode == "accumulate":
            return self.cfg.size // (self.accumulation * self.world)
        return size // (self.accumulation * self.world) if self.accumulation > 1 else None
