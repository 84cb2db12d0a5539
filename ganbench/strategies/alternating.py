"""Thesis Algorithm 1: alternating Adam steps, D first (n_critic times), then G."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ganbench.strategies.base import STRATEGIES, StepLosses, Strategy, StrategyConfig


class AlternatingConfig(StrategyConfig):
    name: Literal["alternating"] = "alternating"
    n_critic: int = Field(1, ge=1, le=100, description="D steps (fresh batches) per G step")


@STRATEGIES.register("alternating")
class Alternating(Strategy):
    """Each D step sees a new real batch and new noise; G then steps against the updated D
    with fresh noise (Algorithm 1, line 8: "repeat steps 3 and 4")."""

    Config = AlternatingConfig
    cfg: AlternatingConfig

    def step(self) -> StepLosses:
        for _ in range(self.cfg.n_critic):
            real, z = self.sample()
            with self.phases("d_step"):
                grads, d_loss = self.oracle.discriminator(self.G, self.D, real, z)
                self.apply("d", self.opt_d, self.d_params, grads)
            self.counts.d_grad_evals += 1
        with self.phases("data"):
            z = self.noise(self.batches.batch_size)
        with self.phases("g_step"):
            grads, g_loss = self.oracle.generator(self.G, self.D, z)
            self.apply("g", self.opt_g, self.g_params, grads)
        self.counts.g_grad_evals += 1
        self.counts.grad_evals += 1
        return StepLosses(d_loss, g_loss)
