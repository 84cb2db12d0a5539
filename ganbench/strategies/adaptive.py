"""Adaptive batch growth (``batch.growth``): the batch grows by a factor when training says
so, not at fixed milestones, answering the thesis' open question of when to grow (sec.
5.4: "chosen heuristically").

- ``plateau``: a quality value has not improved by ``min_improvement`` (relative) on its
  best over ``patience`` evaluations.
- ``noise_scale``: the gradient noise scale B_simple (``measure.noise_scale``) exceeds
  ``threshold`` times the current batch (McCandlish et al. 2018: below B_simple a larger
  batch still buys nearly proportional progress).

Both wait ``warmup`` observations before the first growth (early evaluations are noisy,
and B_simple is at its largest at initialisation), ``cooldown`` after each, and stop at
``max_size``. A decision is a pure function of the observations, kept with its reason in
a history that is checkpointed, so a resumed run decides as an unbroken one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt

from ganbench.registry import Section


class _GrowthConfig(Section):
    factor: int = Field(2, ge=2, le=16, description="the batch times this at each growth")
    max_size: PositiveInt = Field(..., description="the batch never grows beyond this")
    cooldown: int = Field(
        0, ge=0, description="observations after a growth before the next can happen"
    )
    warmup: int = Field(0, ge=0, description="observations before the first growth can happen")


class PlateauConfig(_GrowthConfig):
    name: Literal["plateau"] = "plateau"
    metric: str = Field(..., description="a quality value with a direction, e.g. fd_classifier")
    patience: PositiveInt = Field(3, description="evaluations without improvement")
    min_improvement: float = Field(
        0.01, ge=0, lt=1, description="relative improvement on the best that counts"
    )


class NoiseScaleGrowthConfig(_GrowthConfig):
    name: Literal["noise_scale"] = "noise_scale"
    player: Literal["d", "g", "max", "mean"] = Field(
        "max", description="whose B_simple: D's, G's, the larger or their mean"
    )
    threshold: float = Field(1.0, gt=0, description="grow when B_simple > threshold x batch")


GrowthConfig = Annotated[PlateauConfig | NoiseScaleGrowthConfig, Field(discriminator="name")]


@dataclass
class GrowthState:
    """What decisions depend on, checkpointed: the current size, the best value and when
    it was reached, observations since the last growth, and every growth's reason."""

    size: int
    best: float | None = None
    since_best: int = 0
    since_growth: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class AdaptiveGrowth:
    """Observes quality values or noise scales and says when the batch grows."""

    def __init__(self, cfg: PlateauConfig | NoiseScaleGrowthConfig, start: int) -> None:
        self.cfg = cfg
        self.state = GrowthState(size=start)

    @property
    def size(self) -> int:
        return self.state.size

    def observe_quality(
        self, value: float | None, lower_is_better: bool, iteration: int
    ) -> str | None:
        """A plateau rule's observation; the reason when the batch grows now, else None."""
        cfg, s = self.cfg, self.state
        if not isinstance(cfg, PlateauConfig) or value is None:
            return None
        s.since_growth += 1
        sign = 1.0 if lower_is_better else -1.0
        if s.best is None or sign * (s.best - value) > cfg.min_improvement * abs(s.best):
            s.best, s.since_best = value, 0
            return None
        s.since_best += 1
        if s.since_best < cfg.patience:
            return None
        why = (
            f"{cfg.metric} did not improve by {cfg.min_improvement:.0%} on its best "
            f"({s.best:.4g}) over {cfg.patience} evaluations (now {value:.4g})"
        )
        return self._grow(why, iteration)

    def observe_noise(self, b_simple: dict[str, float | None], iteration: int) -> str | None:
        """A noise-scale rule's observation (each player's B_simple); the reason when the
        batch grows now, else None."""
        cfg, s = self.cfg, self.state
        if not isinstance(cfg, NoiseScaleGrowthConfig):
            return None
        s.since_growth += 1
        value = _pick(b_simple, cfg.player)
        if value is None or value <= cfg.threshold * s.size:
            return None
        why = f"B_simple ({cfg.player}) {value:.4g} > {cfg.threshold:g} x batch {s.size}"
        return self._grow(why, iteration)

    def _grow(self, why: str, iteration: int) -> str | None:
        cfg, s = self.cfg, self.state
        new = min(s.size * cfg.factor, cfg.max_size)
        wait = cfg.cooldown if s.history else cfg.warmup
        if new <= s.size or s.since_growth <= wait:
            return None
        s.history.append({"iteration": iteration, "previous": s.size, "size": new, "why": why})
        s.size, s.since_growth, s.since_best = new, 0, 0
        return why

    def sizes(self, start: int) -> list[int]:
        """Every size it can reach from ``start`` (for checks against the data and levers)."""
        sizes = [start]
        while sizes[-1] < self.cfg.max_size:
            sizes.append(min(sizes[-1] * self.cfg.factor, self.cfg.max_size))
        return sizes

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.state = GrowthState(**state)


def _pick(b_simple: dict[str, float | None], player: str) -> float | None:
    if player in ("d", "g"):
        return b_simple.get(player)
    values = [v for v in b_simple.values() if v is not None]
    if len(values) < len(b_simple) or not values:
        return None
    return max(values) if player == "max" else sum(values) / len(values)
