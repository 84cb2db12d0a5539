"""Extragradient with Adam (Gidel et al. 2019; Korpelevich 1976).

Extrapolate from theta with the pseudo-gradient on one mini-batch, then update theta with
the pseudo-gradient taken at the extrapolated point on a fresh mini-batch. As in the SVRE
reference code the thesis used, extrapolation and update have separate Adam states.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from ganbench.strategies.base import (
    STRATEGIES,
    Grads,
    StepLosses,
    Strategy,
    StrategyConfig,
    assign,
    clone_values,
)


class ExtragradientConfig(StrategyConfig):
    name: Literal["extragradient"] = "extragradient"


class ExtrapolatingStrategy(Strategy):
    """Shared two-phase step; subclasses say how a pseudo-gradient is estimated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_g = self.add_adam("g_extra", self.g_params, self.cfg.lr_g)
        self.extra_d = self.add_adam("d_extra", self.d_params, self.cfg.lr_d)

    def estimate(self, real: torch.Tensor, z: torch.Tensor):
        """(G grads, D grads, G loss, D loss) at the current parameters."""
        raise NotImplementedError

    def step(self) -> StepLosses:
        real, z = self.sample()
        with self.phases("extrapolation"):
            start_g, start_d = clone_values(self.g_params), clone_values(self.d_params)
            g_grads, d_grads, _, _ = self.estimate(real, z)
            self._apply(self.extra_g, self.extra_d, g_grads, d_grads)  # -> theta tilde
        real, z = self.sample()
        with self.phases("joint_step"):
            g_grads, d_grads, g_loss, d_loss = self.estimate(real, z)
            assign(self.g_params, start_g)
            assign(self.d_params, start_d)
            self._apply(self.opt_g, self.opt_d, g_grads, d_grads)  # theta <- theta - step
        return StepLosses(d_loss, g_loss)

    def _apply(
        self, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, g: Grads, d: Grads
    ) -> None:
        """A step per player; one whose fp16 gradients overflowed stays where it is (in the
        update, that is the iteration's start: its extrapolation is rolled back)."""
        self.apply("g", opt_g, self.g_params, g)
        self.apply("d", opt_d, self.d_params, d)


@STRATEGIES.register("extragradient")
class Extragradient(ExtrapolatingStrategy):
    Config = ExtragradientConfig

    def estimate(self, real: torch.Tensor, z: torch.Tensor):
        self.counts.grad_evals += 1
        self.counts.d_grad_evals += 1
        self.counts.g_grad_evals += 1
        return self.oracle.joint(self.G, self.D, real, z)
