"""Thesis Algorithm 2: stochastic relaxed forward-backward (Franci and Grammatico).

Per iteration, with the pseudo-gradient evaluated once at the current iterate theta_i:

    theta_bar_i = (1 - delta) * theta_i + delta * theta_bar_{i-1}     (eq. 3.1)
    theta_{i+1} = theta_bar_i - lambda_i * grad L(theta_i)            (eq. 3.2)

where lambda_i * grad is Adam's step (Adam's moments see the gradient at theta_i; the
step starts from the shadow point). Both players are updated simultaneously and the
shadow starts at theta_0. The projection onto Theta is the identity (unconstrained).

``variant: thesis-code`` reproduces the thesis' public code instead (commit 96f3bc3 of
github.com/pdisbeschl/paul_d_growing_minibatches, trainer.py), which differs from the
formula in five ways:

1. the weighting is the other way round: theta_bar <- delta * theta + (1 - delta) *
   theta_bar (the current iterate gets delta; with delta ~ 0.618, 0.618 instead of 0.382);
2. the shadows are networks of their own, initialised independently of G and D (the
   model's own initialisation, drawn after G and D) and never set to theta_0;
3. the players take turns: D first, then G;
4. D's gradient is taken at D with fakes from G's shadow; G's gradient through D's
   shadow just updated in the same iteration;
5. D and G draw separate noise.

Each step is then shadow relaxed (the parameters and the spectral-norm vectors u and v:
the code's spectral.py registers them as parameters that do not train, so its relaxation
loop over ``parameters()`` relaxes them too, trainer.py:400-404 and 474-478), the network
set to the shadow (every buffer: u and v, batch-norm statistics; trainer.py:406 and 479)
and Adam's step taken from there with the gradient taken before. The formula's range for
delta (Algorithm 2's input) applies to it only.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from ganbench.models.blocks import spectral_vectors
from ganbench.strategies.base import (
    STRATEGIES,
    StepLosses,
    Strategy,
    StrategyConfig,
    apply_step,
    assign,
    clone_values,
    trainable,
)

DELTA_MIN = 2 / (1 + math.sqrt(5))  # the golden-ratio bound of Algorithm 2's input


class SRFBConfig(StrategyConfig):
    name: Literal["srfb"] = "srfb"
    variant: Literal["formula", "thesis-code"] = Field(
        "formula", description="eq. 3.1/3.2, or the thesis' public code (see the module)"
    )
    delta: float = Field(
        DELTA_MIN,
        gt=0,
        le=1.0,
        description="relaxation weight of the previous shadow, in [2/(1+sqrt 5), 1]",
    )

    @field_validator("delta")
    @classmethod
    def _golden_bound(cls, delta: float, info: ValidationInfo) -> float:
        if info.data.get("variant", "formula") == "formula" and delta < DELTA_MIN:
            raise ValueError(
                f"Input should be greater than or equal to {DELTA_MIN} (got {delta}; "
                "the bound of Algorithm 2's input, for variant: formula)"
            )
        return delta


@STRATEGIES.register("srfb")
class SRFB(Strategy):
    Config = SRFBConfig
    cfg: SRFBConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shadow_g = clone_values(self.g_params)
        self.shadow_d = clone_values(self.d_params)
        self.G_bar: nn.Module | None = None
        self.D_bar: nn.Module | None = None
        if self.cfg.variant == "thesis-code":
            self.G_bar, self.D_bar = self.fresh_networks()
            self.shadow_g, self.shadow_d = trainable(self.G_bar), trainable(self.D_bar)

    def networks(self) -> dict[str, nn.Module]:
        if self.G_bar is None or self.D_bar is None:
            return super().networks()
        return {**super().networks(), "G_bar": self.G_bar, "D_bar": self.D_bar}

    def step(self) -> StepLosses:
        if self.cfg.variant == "thesis-code":
            return self._code_step()
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

    def _code_step(self) -> StepLosses:
        """The thesis code's iteration: D against G's shadow, then G through D's shadow."""
        assert self.G_bar is not None and self.D_bar is not None
        real, z_d = self.sample()
        with self.phases("d_step"):
            d_grads, d_loss = self.oracle.discriminator(self.G_bar, self.D, real, z_d)
            self._code_update("d", self.D, self.D_bar, self.d_params, d_grads, self.opt_d)
        with self.phases("data"):
            z_g = self.noise(self.batches.batch_size)
        with self.phases("g_step"):
            g_grads, g_loss = self.oracle.generator(self.G, self.D_bar, z_g)
            self._code_update("g", self.G, self.G_bar, self.g_params, g_grads, self.opt_g)
        self.counts.grad_evals += 1
        self.counts.d_grad_evals += 1
        self.counts.g_grad_evals += 1
        return StepLosses(d_loss, g_loss)

    def _code_update(self, player: str, net, shadow_net, params, grads, opt) -> None:
        """shadow <- delta * theta + (1 - delta) * shadow, for the parameters and the
        spectral-norm vectors; the network <- the shadow (parameters and buffers); Adam's
        step from there."""
        if not self.oracle.accept(player, grads):
            return
        with torch.no_grad():
            for s, p in zip(trainable(shadow_net), params, strict=True):
                s.lerp_(p, self.cfg.delta)
            for s, p in _paired_vectors(_unwrap(shadow_net), _unwrap(net)):
                s.lerp_(p, self.cfg.delta)
        _unwrap(net).load_state_dict(_unwrap(shadow_net).state_dict())
        apply_step(opt, params, grads)

    @torch.no_grad()
    def _relax(self, params: list[torch.nn.Parameter], shadow: list[torch.Tensor]) -> None:
        """shadow <- (1 - delta) * theta + delta * shadow   (eq. 3.1)."""
        for s, p in zip(shadow, params, strict=True):
            s.lerp_(p, 1.0 - self.cfg.delta)

    def extra_state(self) -> dict[str, Any]:
        if self.G_bar is not None and self.D_bar is not None:  # shadows with their buffers
            return {"G_bar": self.G_bar.state_dict(), "D_bar": self.D_bar.state_dict()}
        return {"shadow_g": self.shadow_g, "shadow_d": self.shadow_d}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.G_bar is not None and self.D_bar is not None:
            self.G_bar.load_state_dict(state["G_bar"])
            self.D_bar.load_state_dict(state["D_bar"])
            return
        self.shadow_g = _on_devices(state["shadow_g"], self.g_params)
        self.shadow_d = _on_devices(state["shadow_d"], self.d_params)

    def extra_tensors(self) -> list[torch.Tensor]:
        if self.G_bar is not None:  # the shadow networks' parameters are among networks()
            return []
        return super().extra_tensors()


def _unwrap(net: nn.Module) -> nn.Module:
    """The module itself under DataParallel or torch.compile (same state_dict keys)."""
    while isinstance(net, nn.DataParallel) or hasattr(net, "_orig_mod"):
        net = net.module if isinstance(net, nn.DataParallel) else net._orig_mod
    return net


def _paired_vectors(shadow: nn.Module, net: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The spectral-norm vectors of ``shadow`` and ``net``, paired by name. The public
    code's spectral.py registers u and v as parameters (``requires_grad=False``), so its
    relaxation loop over ``D_extra.parameters()`` (trainer.py:400-404; 474-478 for G)
    relaxes them too; torch keeps them as buffers, relaxed here to the same effect."""
    theirs = dict(spectral_vectors(net))
    return [(vector, theirs[name]) for name, vector in spectral_vectors(shadow)]


def _on_devices(values: list[torch.Tensor], params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [v.to(p.device) for v, p in zip(values, params, strict=True)]
