"""What every strategy shares: config, phase labels, counters, Adam optimisers, state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import torch
from pydantic import Field, field_validator
from torch import nn

from ganbench.registry import Registry, Section
from ganbench.strategies.lr_schedules import LrScheduleConfig
from ganbench.strategies.oracle import GradientOracle, Grads, trainable

# The phases a strategy labels inside an iteration, in the order reports show them.
STEP_PHASES = (
    "data",  # real mini-batch to the device and noise sampling
    "d_step",  # discriminator gradient and optimiser step (alternating)
    "g_step",  # generator gradient and optimiser step (alternating)
    "joint_step",  # simultaneous pseudo-gradient and update of both players
    "extrapolation",  # extragradient / SVRE extrapolation step
    "snapshot",  # SVRE snapshot refresh: a full pass over the dataset
)


class Phases(Protocol):
    """Labels a region of a step: ``with phases("d_step"): ...`` (the run's phase timer
    measures it; by default nothing happens)."""

    def __call__(self, name: str) -> AbstractContextManager[Any]: ...


_NULL = nullcontext()


def no_phases(name: str) -> AbstractContextManager[Any]:
    """The default label: no timing at all."""
    return _NULL


class StrategyConfig(Section):
    """Adam for both players (thesis sec. 3.2 defaults); separate rates give TTUR."""

    name: str
    lr_g: float = Field(2e-4, gt=0, le=1, description="generator learning rate")
    lr_d: float = Field(2e-4, gt=0, le=1, description="discriminator learning rate")
    betas: tuple[float, float] = (0.5, 0.9)
    eps: float = Field(1e-8, gt=0)
    lr_schedule: LrScheduleConfig = Field(
        default_factory=LrScheduleConfig, description="none, step (milestones) or cosine"
    )

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule_shorthand(cls, value: Any) -> Any:
        """``lr_schedule: cosine`` means ``{name: cosine}`` (then asks for its span)."""
        return {"name": value} if isinstance(value, str) else value

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

    def full_pass(self, chunk: int) -> Iterator[tuple[torch.Tensor, int]]:
        """(this process's rows of each chunk, the chunk's size) over the whole dataset."""
        ...


Noise = Callable[[int], torch.Tensor]  # noise for a (global) batch of n: this process's rows


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
        phases: Phases = no_phases,
        fresh_networks: Callable[[], tuple[nn.Module, nn.Module]] | None = None,
    ) -> None:
        self.cfg, self.G, self.D = cfg, G, D
        self._fresh_networks = fresh_networks  # another G and D, independently initialised
        self.oracle, self.batches, self.noise, self.rng = oracle, batches, noise, rng
        self.phases = phases  # labels regions of step() for whoever measures them
        self.g_params, self.d_params = trainable(G), trainable(D)
        self.counts = GradCounts()
        self.last_sample: tuple[torch.Tensor, torch.Tensor] | None = None
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lr: dict[str, float] = {}
        self.opt_g = self.add_adam("g", self.g_params, cfg.lr_g)
        self.opt_d = self.add_adam("d", self.d_params, cfg.lr_d)

    def fresh_networks(self) -> tuple[nn.Module, nn.Module]:
        """A new G and D of the run's model, initialised independently of G and D (the
        thesis code's shadow networks)."""
        if self._fresh_networks is None:
            raise ValueError(f"{self.cfg.name}: this strategy needs fresh_networks")
        return self._fresh_networks()

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
        """A fresh real mini-batch and as many noise vectors (kept as ``last_sample``: the
        step's own batch, on which the gradient noise scale is measured)."""
        with self.phases("data"):
            self.last_sample = self.batches.next(), self.noise(self.batches.batch_size)
            return self.last_sample

    def apply(
        self, player: str, opt: torch.optim.Optimizer, params: list[nn.Parameter], grads: Grads
    ) -> bool:
        """One optimiser step for ``player`` ("g" or "d"), unless its fp16 gradients
        overflowed: then nothing changes and the answer is False."""
        if not self.oracle.accept(player, grads):
            return False
        apply_step(opt, params, grads)
        return True

    def networks(self) -> dict[str, nn.Module]:
        """Every network the strategy calls (the levers compile or wrap each)."""
        return {"G": self.G, "D": self.D}

    def replicated_state(self) -> list[torch.Tensor]:
        """What every ddp rank must hold identically: every network's parameters, the
        optimisers' states and the strategy's own tensors (batch-norm statistics are each
        rank's own and left out)."""
        params = [p.detach() for net in self.networks().values() for p in net.parameters()]
        optim = [t for opt in self.optimizers.values() for t in tensors_in(opt.state_dict())]
        return params + optim + self.extra_tensors()

    def extra_tensors(self) -> list[torch.Tensor]:
        return tensors_in(self.extra_state())

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


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in a nest of dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in tensors_in(v)]
    return []


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
