"""What every strategy shares: config, gradient oracle, counters, Adam optimisers, state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import torch
from pydantic import Field, field_validator
from torch import nn

from ganbench.losses import GANLoss
from ganbench.measure.phases import Phases, no_phases
from ganbench.registry import Registry
from ganbench.schema import Section

Grads = list[torch.Tensor]


class StrategyConfig(Section):
    """Adam for both players (thesis sec. 3.2 defaults); separate rates give TTUR."""

    name: str
    lr_g: float = Field(2e-4, gt=0, le=1, description="generator learning rate")
    lr_d: float = Field(2e-4, gt=0, le=1, description="discriminator learning rate")
    betas: tuple[float, float] = (0.5, 0.9)
    eps: float = Field(1e-8, gt=0)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each beta must be in [0, 1), got {list(v)}")
        return v


class Batches(Protocol):
    """Where a strategy gets real data: mini-batches and, for SVRE, the full dataset."""

    batch_size: int
    num_examples: int

    def next(self) -> torch.Tensor: ...

    def full_pass(self, chunk: int) -> Iterator[torch.Tensor]: ...


Noise = Callable[[int], torch.Tensor]


@dataclass
class GradCounts:
    """Cumulative work done by a strategy, the basis of cost per iteration.

    grad_evals: pseudo-gradient evaluations on a mini-batch (D's and G's gradient at one
        point): alternating and SRFB 1 per iteration, extragradient and SVRE 2.
    d_grad_evals / g_grad_evals: mini-batch gradients of each player (n_critic shows here).
    snapshot_grad_evals: SVRE's extra pseudo-gradients at the snapshot on the same batch.
    full_batch_passes: SVRE snapshot refreshes, each a pass over the whole dataset.
    """

    grad_evals: int = 0
    d_grad_evals: int = 0
    g_grad_evals: int = 0
    snapshot_grad_evals: int = 0
    full_batch_passes: int = 0


@dataclass(frozen=True)
class StepLosses:
    d_loss: torch.Tensor
    g_loss: torch.Tensor


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def clone_values(params: list[nn.Parameter]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


@torch.no_grad()
def assign(params: list[nn.Parameter], values: list[torch.Tensor]) -> None:
    for p, v in zip(params, values, strict=True):
        p.copy_(v)


def apply_step(optimizer: torch.optim.Optimizer, params: list[nn.Parameter], grads: Grads) -> None:
    """Take one optimiser step from the parameters' current values with ``grads``."""
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    optimizer.step()


class GradientOracle:
    """Mini-batch gradients of both players, optionally accumulated over micro-batches.

    With ``micro_batch`` set, a batch is split into chunks of that size and the gradients
    are averaged with weights chunk/batch: the same estimate as one pass over the whole
    batch for per-example losses (batch norm statistics differ, as they would on a device).
    """

    def __init__(
        self,
        loss: GANLoss,
        micro_batch: int | None = None,
        autocast: Callable[[], AbstractContextManager] = nullcontext,
    ) -> None:
        self.loss = loss
        self.micro_batch = micro_batch
        self.autocast = autocast  # forward passes and losses (levers.precision)

    def _chunks(self, n: int) -> Iterator[tuple[slice, float]]:
        size = self.micro_batch or n
        for start in range(0, n, size):
            stop = min(n, start + size)
            yield slice(start, stop), (stop - start) / n

    def _d_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, d_fake: torch.Tensor):
        loss = self.loss.discriminator(D(real), d_fake)
        penalty = self.loss.penalty(D, real, fake)
        return loss if penalty is None else loss + penalty

    def discriminator(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor):
        """(grads of D's loss w.r.t. D's parameters, loss) with G's samples held fixed."""
        params, total, value = trainable(D), None, 0.0
        for part, weight in self._chunks(real.shape[0]):
            with self.autocast():
                with torch.no_grad():
                    fake = G(z[part])
                loss = self._d_loss(D, real[part], fake, D(fake))
            grads = torch.autograd.grad(loss * weight, params)
            total, value = _accumulate(total, grads), value + loss.detach() * weight
        return total, value

    def generator(self, G: nn.Module, D: nn.Module, z: torch.Tensor):
        """(grads of G's loss w.r.t. G's parameters, loss)."""
        params, total, value = trainable(G), None, 0.0
        for part, weight in self._chunks(z.shape[0]):
            with self.autocast():
                loss = self.loss.generator(D(G(z[part])))
            grads = torch.autograd.grad(loss * weight, params)
            total, value = _accumulate(total, grads), value + loss.detach() * weight
        return total, value

    def joint(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor):
        """Pseudo-gradient at one point: (G grads, D grads, G loss, D loss), same x and z."""
        g_params, d_params = trainable(G), trainable(D)
        g_total = d_total = None
        g_value = d_value = 0.0
        for part, weight in self._chunks(real.shape[0]):
            with self.autocast():
                fake = G(z[part])
                d_fake = D(fake)  # shared: D's loss needs it w.r.t. D, G's loss w.r.t. G
                d_loss = self._d_loss(D, real[part], fake, d_fake)
                g_loss = self.loss.generator(d_fake)
            d_grads = torch.autograd.grad(d_loss * weight, d_params, retain_graph=True)
            g_grads = torch.autograd.grad(g_loss * weight, g_params)
            d_total, g_total = _accumulate(d_total, d_grads), _accumulate(g_total, g_grads)
            d_value = d_value + d_loss.detach() * weight
            g_value = g_value + g_loss.detach() * weight
        return g_total, d_total, g_value, d_value


def _accumulate(total: Grads | None, grads: tuple[torch.Tensor, ...]) -> Grads:
    if total is None:
        return list(grads)
    for t, g in zip(total, grads, strict=True):
        t.add_(g)
    return total


class Strategy:
    """A registry entry: one optimisation algorithm with one ``step()`` per iteration."""

    Config: ClassVar[type[StrategyConfig]]

    def __init__(
        self,
        cfg: StrategyConfig,
        G: nn.Module,
        D: nn.Module,
        oracle: GradientOracle,
        batches: Batches,
        noise: Noise,
        rng: torch.Generator,
    ) -> None:
        self.cfg, self.G, self.D = cfg, G, D
        self.oracle, self.batches, self.noise, self.rng = oracle, batches, noise, rng
        self.g_params, self.d_params = trainable(G), trainable(D)
        self.counts = GradCounts()
        self.phases: Phases = no_phases  # the training loop installs its phase timer
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lr: dict[str, float] = {}
        self.opt_g = self.add_adam("g", self.g_params, cfg.lr_g)
        self.opt_d = self.add_adam("d", self.d_params, cfg.lr_d)

    def add_adam(self, key: str, params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
        opt = torch.optim.Adam(params, lr=lr, betas=self.cfg.betas, eps=self.cfg.eps)
        self.optimizers[key], self.base_lr[key] = opt, lr
        return opt

    def set_lr_scale(self, scale: float) -> None:
        """Scale every learning rate relative to its configured value (batch growth rules)."""
        for key, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lr[key] * scale

    @property
    def lr(self) -> dict[str, float]:
        return {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"]}

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh real mini-batch and as many noise vectors."""
        with self.phases("data"):
            real = self.batches.next()
            return real, self.noise(real.shape[0])

    def step(self) -> StepLosses:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "counts": asdict(self.counts),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        self.counts = GradCounts(**state["counts"])
        self.load_extra_state(state["extra"])

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
