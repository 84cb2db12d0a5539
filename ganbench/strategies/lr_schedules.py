"""Learning-rate schedules: the alternative to growing the batch (Smith et al. 2018,
"Don't decay the learning rate, increase the batch size"). ``step`` multiplies every
learning rate by a factor from each milestone on, so the thesis' growth 64 -> 128 -> 256
at epochs 32 and 96 has its counterpart in factors 0.5 and 0.25 at the same epochs;
``cosine`` decays from the configured rate to ``final`` times it over a fixed span.

A schedule gives a factor on the configured rates; the batch schedule's ``lr_scaling``
multiplies into it. Both depend only on the iteration and the epoch, so a resumed run
recomputes the rate it had.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from ganbench.registry import Section
from ganbench.strategies.schedules import SchedulePoint


class LrMilestone(SchedulePoint):
    factor: PositiveFloat = Field(..., description="learning rates x factor from this point on")


class LrScheduleConfig(Section):
    """``none``; ``step`` with milestones; ``cosine`` over ``iterations`` or ``epochs``."""

    name: Literal["none", "step", "cosine"] = "none"
    milestones: list[LrMilestone] = Field(
        default_factory=list, description="step: [{epoch: 32, factor: 0.5}, ...]"
    )
    iterations: PositiveInt | None = Field(None, description="cosine: iterations to decay over")
    epochs: float | None = Field(None, gt=0, description="cosine: epochs to decay over")
    final: float = Field(0.0, ge=0, le=1, description="cosine: the factor at the end")

    @model_validator(mode="after")
    def _consistent(self) -> LrScheduleConfig:
        if self.name == "step":
            if not self.milestones:
                raise ValueError("step needs milestones: [{epoch: 32, factor: 0.5}, ...]")
            units = {m.epoch is not None for m in self.milestones}
            if len(units) > 1:
                raise ValueError("milestones: use either epoch or iteration for all, not both")
            points = [m.at for m in self.milestones]
            if any(b <= a for a, b in itertools.pairwise(points)):
                raise ValueError(f"milestones: must be strictly increasing, got {points}")
        elif self.milestones:
            raise ValueError(f"milestones are for name: step, not {self.name}")
        if self.name == "cosine" and (self.iterations is None) == (self.epochs is None):
            raise ValueError("cosine: give exactly one of iterations or epochs to decay over")
        if self.name != "cosine" and (self.iterations or self.epochs):
            raise ValueError(f"iterations and epochs are for name: cosine, not {self.name}")
        return self


class LrSchedule:
    """The factor on the configured learning rates for the iteration about to run."""

    def __init__(self, cfg: LrScheduleConfig) -> None:
        self.cfg = cfg

    def factor(self, iteration: int, epoch: float) -> float:
        cfg = self.cfg
        if cfg.name == "step":
            reached = [m.factor for m in cfg.milestones if m.reached(iteration, epoch)]
            return reached[-1] if reached else 1.0
        if cfg.name == "cosine":
            done = iteration / cfg.iterations if cfg.iterations else epoch / (cfg.epochs or 1.0)
            cosine = 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
            return cfg.final + (1.0 - cfg.final) * cosine
        return 1.0

    @property
    def stepwise(self) -> bool:
        """Whether the factor changes in steps worth an event (not every iteration)."""
        return self.cfg.name == "step"
