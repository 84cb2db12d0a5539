"""Thesis Algorithm 2: stochastic relaxed forward-backward (Franci and Grammatico).

Per iteration, with the pseudo-gradient evaluated once at the current iterate theta_i:

    theta_bar_i = (1 - delta) * theta_i + delta * theta_bar_{i-1}     (eq. 3.1)
    theta_{i+1} = theta_bar_i - lambda_i * grad L(theta_i)            (eq. 3.2)

where lambda_i * grad is Adam's step (Adam's moments see the gradient at theta_i; the
step starts from the shadow point). Both players are updated simultaneously and the
shadow starts at theta_0. The projection onto Theta is the identity (unconstrained).

Note: the thesis' public code weights the other way round, theta_bar = delta * theta +
(1 - delta) * theta_bar, i.e. the current iterate gets delta. We follow the formula;
with delta = 2 / (1 + sqrt 5) ~ 0.618 the two differ (0.382 vs 0.618 on the iterate).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from ganbench.strategies.base import (
    STRATEGIES,
    StepLosses,
    Strategy,
    StrategyConfig,
    apply_step,
    assign,
    clone_values,
)

DELTA_MIN = 2 / (1 + math.sqrt(5))  # the golden-ratio bound of Algorithm 2's input


class SRFBConfig(StrategyConfig):
    name: Literal["srfb"] = "srfb"
    delta: float = Field(
        DELTA_MIN,
        ge=DELTA_MIN,
        le=1.0,
        description="relaxation weight of the previous shadow, in [2/(1+sqrt 5), 1]",
    )


@STRATEGIES.register("srfb")
class SRFB(Strategy):
    Config = SRFBConfig
    cfg: SRFBConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shadow_g = clone_values(self.g_params)
        self.shadow_d = clone_values(self.d_params)

    def step(self) -> StepLosses:
        real, z = self.sample()
        with self.phases("joint_step"):
            g_grads, d_grads, g_loss, d_loss = self.oracle.joint(self.G, self.D, real, z)
            for player, params, shadow, grads, opt in (
                ("g", self.g_params, self.shadow_g, g_grads, self.opt_g),
                ("d", self.d_params, self.shadow_d, d_grads, self.opt_d),
            ):
                if not self.oracle.accept(player, grads):
                    continue  # fp16 overflow: theta_i and the shadow stay, the step is skipped
                self._relax(params, shadow)
                assign(params, shadow)
                apply_step(opt, params, grads)
        self.counts.grad_evals += 1
        self.counts.d_grad_evals += 1
        self.counts.g_grad_evals += 1
        return StepLosses(d_loss, g_loss)

    @torch.no_grad()
    def _relax(self, params: list[torch.nn.Parameter], shadow: list[torch.Tensor]) -> None:
        """shadow <- (1 - delta) * theta + delta * shadow   (eq. 3.1)."""
        for s, p in zip(shadow, params, strict=True):
            s.lerp_(p, 1.0 - self.cfg.delta)

    def extra_state(self) -> dict[str, Any]:
        return {"shadow_g": self.shadow_g, "shadow_d": self.shadow_d}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.shadow_g = _on_devices(state["shadow_g"], self.g_params)
        self.shadow_d = _on_devices(state["shadow_d"], self.d_params)


def _on_devices(values: list[torch.Tensor], params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [v.to(p.device) for v, p in zip(values, params, strict=True)]
