"""The gradient noise scale (McCandlish et al. 2018, "An empirical model of large-batch
training"): B_simple = tr(Sigma) / |G|^2, the batch size beyond which a larger batch
buys little, measured for each player of a GAN.

With |G_B|^2 the squared norm of a mini-batch gradient of B examples (drawn
independently), E|G_B|^2 = |G|^2 + tr(Sigma)/B. Two batch sizes b < B at hand give
unbiased estimates of both terms (appendix A.1):

    |G|^2    ~ (B |G_B|^2 - b |G_b|^2) / (B - b)
    tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)

Each is noisy (the first can be negative); each is smoothed by its own exponential moving
average (bias-corrected, as Adam's moments) before dividing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

PLAYERS = ("d", "g")
Reduce = Callable[[list[torch.Tensor], int], list[torch.Tensor]]


def squared_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """|g|^2 over every parameter's gradient, in fp32 (a 0-d tensor, not synced)."""
    return sum((g.float().square().sum() for g in grads), torch.zeros((), device=grads[0].device))


def two_batch_norms(
    chunks: Sequence[Sequence[torch.Tensor]], mean: Reduce | None = None
) -> tuple[float, float]:
    """(|G_small|^2 averaged over the chunks, |G_big|^2 of their mean) from the gradients of
    k >= 2 equal chunks of one batch (each chunk's mean-loss gradient): the small batch is
    one chunk, the big batch all of them. ``mean`` (ddp: ``Replicas.mean``) averages both
    over the processes, so the big batch is then every process's chunks."""
    if len(chunks) < 2:
        raise ValueError("the noise scale needs at least two chunks")
    small = torch.stack([squared_norm(c) for c in chunks]).mean()
    big = [torch.stack(parts).float().mean(dim=0) for parts in zip(*chunks, strict=True)]
    if mean is not None:
        small, *big = mean([small, *big], len(chunks))
    return float(small), float(squared_norm(big))


@dataclass
class _Average:
    """A bias-corrected exponential moving average."""

    smoothing: float
    value: float = 0.0
    count: int = 0

    def add(self, x: float) -> float:
        self.value = self.smoothing * self.value + (1.0 - self.smoothing) * x
        self.count += 1
        return self.get()

    def get(self) -> float:
        return self.value / (1.0 - self.smoothing**self.count) if self.count else 0.0


@dataclass
class PlayerNoise:
    """One player's running estimates."""

    smoothing: float
    g2: _Average = field(init=False)
    trace: _Average = field(init=False)

    def __post_init__(self) -> None:
        self.g2, self.trace = _Average(self.smoothing), _Average(self.smoothing)

    def b_simple(self) -> float | None:
        """None until both smoothed estimates make sense (|G|^2 > 0, tr(Sigma) >= 0)."""
        g2, trace = self.g2.get(), self.trace.get()
        return trace / g2 if self.g2.count and g2 > 0 and trace >= 0 else None


class NoiseScaleEstimator:
    """B_simple per player from squared gradient norms at two batch sizes."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self.players = {p: PlayerNoise(smoothing) for p in PLAYERS}

    def update(
        self, player: str, small_sq: float, big_sq: float, b_small: int, b_big: int
    ) -> dict[str, float | None]:
        """Add one measurement; the raw estimates of this one, the smoothed ones and
        B_simple (None while the smoothed |G|^2 is not positive or tr(Sigma) negative)."""
        if not 0 < b_small < b_big:
            raise ValueError(f"need 0 < b_small < b_big, got {b_small} and {b_big}")
        g2 = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
        trace = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
        noise = self.players[player]
        return {
            "g2": g2,
            "trace": trace,
            "g2_smoothed": noise.g2.add(g2),
            "trace_smoothed": noise.trace.add(trace),
            "b_simple": noise.b_simple(),
        }

    def b_simple(self, player: str) -> float | None:
        return self.players[player].b_simple()

    def state_dict(self) -> dict[str, Any]:
        return {p: {"g2": asdict(n.g2), "trace": asdict(n.trace)} for p, n in self.players.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for player, saved in state.items():
            noise = self.players[player]
            noise.g2, noise.trace = _Average(**saved["g2"]), _Average(**saved["trace"])
