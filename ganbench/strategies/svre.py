"""Thesis Algorithm 3: stochastic variance reduced extragradient (Chavdarova et al. 2019).

A snapshot (theta_S, phi_S) keeps the full-batch mean pseudo-gradient mu (eq. 3.5/3.6
over the whole dataset, fresh noise per chunk). Every extrapolation and update uses

    d = mu + grad(theta, B) - grad(theta_S, B)                         (eq. 3.7/3.8)

with the same real batch and the same noise in both gradient terms. The snapshot is
refreshed at the first iteration and then with probability p per iteration, where
p = multiplier * |B| / |D| by default (one refresh per epoch on average; the thesis'
half/double experiments are multiplier 0.5 / 2).

``variant: thesis-code`` runs the thesis' public code's SVRE instead
(``ganbench.strategies.svre_code``: gradients leaking between the players, D's update at
G extrapolated, G's at D extrapolated) on the code's refresh schedule: once before the
first iteration, then with probability 1/(full batches per epoch), the first included.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from pydantic import Field

from ganbench.errors import Diverged
from ganbench.strategies.base import STRATEGIES, Grads, StepLosses, StrategyConfig, trainable
from ganbench.strategies.extragradient import ExtrapolatingStrategy
from ganbench.strategies.oracle import add_scaled
from ganbench.strategies.svre_code import ThesisCodeSVRE

MAX_REFRESHES = 24  # each overflow halves the scale: 2**16 -> 2**-8


class SVREConfig(StrategyConfig):
    name: Literal["svre"] = "svre"
    snapshot_prob: float | None = Field(
        None, gt=0, le=1, description="refresh probability per iteration; null: |B|/|D|"
    )
    snapshot_prob_multiplier: float = Field(
        1.0, gt=0, description="scales the refresh probability (thesis: 0.5, 1, 2)"
    )
    variant: Literal["formula", "thesis-code"] = Field(
        "formula", description="eq. 3.5-3.8, or the thesis' public code (svre_code)"
    )


@STRATEGIES.register("svre")
class SVRE(ExtrapolatingStrategy):
    Config = SVREConfig
    cfg: SVREConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.G_snap, self.D_snap = copy.deepcopy(self.G), copy.deepcopy(self.D)
        self.mu_g: Grads | None = None
        self.mu_d: Grads | None = None
        self.code = ThesisCodeSVRE(self) if self.cfg.variant == "thesis-code" else None

    @property
    def snapshot_prob(self) -> float:
        """The refresh probability per iteration: the configured one, else |B|/|D| (the
        thesis-code variant: 1/len(data_loader) with drop_last, trainer.py:96, i.e. one
        over the number of full batches), times the multiplier."""
        base = self.cfg.snapshot_prob
        if base is None and self.code is not None:
            base = 1 / max(1, self.batches.num_examples // self.batches.batch_size)
        elif base is None:
            base = self.batches.batch_size / self.batches.num_examples
        return min(1.0, base * self.cfg.snapshot_prob_multiplier)

    def step(self):
        due = torch.rand((), generator=self.rng).item() < self.snapshot_prob
        if self.code is not None:
            return self._code_step(due)
        if self.mu_g is None or due:
            with self.phases("snapshot"):
                self.refresh_snapshot()
                for _ in range(MAX_REFRESHES):  # fp16: a full-batch mean that overflowed
                    if self._finite_mean():  # is taken again at the lowered scale
                        break
                    self.refresh_snapshot()
                else:
                    raise Diverged("SVRE's full-batch gradient overflows at every loss scale")
        return super().step()

    def _code_step(self, due: bool) -> StepLosses:
        """The code refreshes once before its loop (trainer.py:124-125) and then whenever
        the draw says so, the first iteration included (trainer.py:135): the first step
        may refresh twice."""
        assert self.code is not None
        for refresh in (self.code.mu_g is None, due):
            if refresh:
                with self.phases("snapshot"):
                    self.code.refresh(self.G_snap, self.D_snap)
                self.counts.full_batch_passes += 1
        losses = self.code.step(self.G_snap, self.D_snap)
        self.counts.grad_evals += 2
        self.counts.d_grad_evals += 2
        self.counts.g_grad_evals += 2
        self.counts.snapshot_grad_evals += 2
        return losses

    def _finite_mean(self) -> bool:
        if not self.oracle.scalers:
            return True
        return all([self.oracle.accept("g", self.mu_g), self.oracle.accept("d", self.mu_d)])

    def networks(self) -> dict[str, torch.nn.Module]:
        code = self.code.networks() if self.code is not None else {}
        return {**super().networks(), "G_snap": self.G_snap, "D_snap": self.D_snap, **code}

    def extra_tensors(self) -> list[torch.Tensor]:
        """The snapshot means (the snapshot networks' parameters are among networks();
        their batch-norm statistics are each rank's own)."""
        return [*(self.mu_g or []), *(self.mu_d or [])]

    @torch.no_grad()
    def _copy_into_snapshot(self) -> None:
        self.G_snap.load_state_dict(self.G.state_dict())
        self.D_snap.load_state_dict(self.D.state_dict())

    def refresh_snapshot(self) -> None:
        """theta_S <- theta and mu <- full-batch mean pseudo-gradient at theta_S."""
        self._copy_into_snapshot()
        chunk, n = self.batches.batch_size, self.batches.num_examples
        mu_g = mu_d = None
        for real, size in self.batches.full_pass(chunk):
            z = self.noise(size)
            g, d, _, _ = self.oracle.joint(self.G_snap, self.D_snap, real, z)
            weight = size / n
            mu_g = add_scaled(mu_g, g, weight)
            mu_d = add_scaled(mu_d, d, weight)
        self.mu_g, self.mu_d = mu_g, mu_d
        self.counts.full_batch_passes += 1

    def estimate(self, real: torch.Tensor, z: torch.Tensor):
        """Variance-reduced pseudo-gradient (eq. 3.7/3.8) at the current parameters."""
        g, d, g_loss, d_loss = self.oracle.joint(self.G, self.D, real, z)
        g_s, d_s, _, _ = self.oracle.joint(self.G_snap, self.D_snap, real, z)
        self.counts.grad_evals += 1
        self.counts.d_grad_evals += 1
        self.counts.g_grad_evals += 1
        self.counts.snapshot_grad_evals += 1
        return _reduce(self.mu_g, g, g_s), _reduce(self.mu_d, d, d_s), g_loss, d_loss

    def extra_state(self) -> dict[str, Any]:
        return {
            "G_snap": self.G_snap.state_dict(),
            "D_snap": self.D_snap.state_dict(),
            "mu_g": self.mu_g,
            "mu_d": self.mu_d,
            **({"code": self.code.state_dict()} if self.code is not None else {}),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.G_snap.load_state_dict(state["G_snap"])
        self.D_snap.load_state_dict(state["D_snap"])
        if self.code is not None:
            self.code.load_state_dict(state["code"])
        device = trainable(self.G)[0].device
        self.mu_g = None if state["mu_g"] is None else [t.to(device) for t in state["mu_g"]]
        self.mu_d = None if state["mu_d"] is None else [t.to(device) for t in state["mu_d"]]


def _reduce(mu: Grads, at_theta: Grads, at_snapshot: Grads) -> Grads:
    return [m + a - s for m, a, s in zip(mu, at_theta, at_snapshot, strict=True)]
