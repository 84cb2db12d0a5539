"""The gradient oracle: each player's mini-batch gradients (optionally accumulated over
micro-batches, loss-scaled under fp16, averaged over ddp replicas), the one place a
strategy's gradients come from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from weakref import WeakKeyDictionary

import torch
from torch import nn

from ganbench.levers.distributed import LOCAL, Replicas
from ganbench.levers.precision import LossScaler
from ganbench.losses import GANLoss
from ganbench.trackers.noise_scale import squared_norm

Grads = list[torch.Tensor]


def add_scaled(total: Grads | None, grads: Grads, weight: float = 1.0) -> Grads:
    """``total + weight * grads`` in place (a new list when ``total`` is None)."""
    if total is None:
        return [g * weight for g in grads]
    for t, g in zip(total, grads, strict=True):
        t.add_(g, alpha=weight)
    return total


_TRAINABLE: WeakKeyDictionary[nn.Module, list[nn.Parameter]] = WeakKeyDictionary()


def trainable(module: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``module`` that train (a list to read, not to change). Asked for
    at every gradient evaluation, so the walk over the module tree (~0.25 ms for the thesis
    SAGAN on a CPU: ~0.5 % of a small step, benchmarks/parity.py) is done once per module.
    Which ones train is read then: ganbench never adds parameters to a network or toggles
    their ``requires_grad`` after building it."""
    params = _TRAINABLE.get(module)
    if params is None:
        params = _TRAINABLE[module] = [p for p in module.parameters() if p.requires_grad]
    return params


class GradientOracle:
    """Mini-batch gradients of both players, optionally accumulated over micro-batches.

    With ``micro_batch`` set, a batch is split into chunks of that size and the gradients
    are averaged with weights chunk/batch: the same estimate as one pass over the whole
    batch for per-example losses (batch norm statistics differ, as they would on a device).
    With ``scalers`` (fp16), each player's loss is multiplied by its scale and the
    gradients unscaled before they are returned; ``accept`` decides whether a step may use
    them. With ``replicas`` (ddp), the returned gradients and losses are the global batch's
    (``Replicas.mean``). Returned gradients are always those of the unscaled loss.

    Armed by ``arm_norms`` (the noise scale, for one step), the first gradient of each
    player on the step's batch also leaves its squared norms at two batch sizes: a
    micro-batch's (or one process's share) and the global batch's, from the passes the
    step makes anyway (``take_norms``).
    """

    def __init__(
        self,
        loss: GANLoss,
        micro_batch: int | None = None,
        autocast: Callable[[], AbstractContextManager] = nullcontext,
        scalers: dict[str, LossScaler] | None = None,
        replicas: Replicas = LOCAL,
    ) -> None:
        self.loss = loss
        self.micro_batch = micro_batch
        self.autocast = autocast  # forward passes and losses (levers.precision)
        self.scalers = scalers
        self.replicas = replicas
        self._norms: dict[str, tuple[float, float, int, int]] | None = None
        self._norm_rows = 0  # the step's rows on this process, while armed

    def arm_norms(self, rows: int) -> None:
        """Record the next gradient of each player on a batch of ``rows`` examples here."""
        self._norms, self._norm_rows = {}, rows

    def take_norms(self) -> dict[str, tuple[float, float, int, int]] | None:
        """Per player (|G_small|^2, |G_big|^2, b_small, b_big) recorded since armed; disarms."""
        norms, self._norms = self._norms, None
        return norms

    def _recording(self, player: str, rows: int) -> bool:
        return self._norms is not None and player not in self._norms and rows == self._norm_rows

    def _record(self, player: str, chunk_sq: list[torch.Tensor], grads: Grads, rows: int) -> None:
        """One player's two squared norms: the chunks' mean (over processes too) and the
        returned (global) gradient's."""
        assert self._norms is not None
        (small,) = self.replicas.mean([torch.stack(chunk_sq).mean()], rows)
        size = self.micro_batch or rows
        self._norms[player] = (
            float(small),
            float(squared_norm(grads)),
            size,
            rows * self.replicas.world,
        )

    def set_micro_batch(self, micro_batch: int | None) -> None:
        """Examples per forward pass from now on (None: each batch whole)."""
        self.micro_batch = micro_batch

    def plain(self) -> GradientOracle:
        """The same arithmetic without scaling or communication (FLOP probes)."""
        return GradientOracle(self.loss, self.micro_batch, self.autocast)

    def scale(self, player: str) -> float:
        return self.scalers[player].scale if self.scalers else 1.0

    def accept(self, player: str, grads: Grads) -> bool:
        """Whether a step may use ``grads`` (always, unless fp16 gradients overflowed)."""
        return self.scalers[player].update(grads) if self.scalers else True

    def _chunks(self, n: int) -> Iterator[tuple[slice, float]]:
        size = self.micro_batch or n
        for start in range(0, n, size):
            stop = min(n, start + size)
            yield slice(start, stop), (stop - start) / n

    def _grad(self, player: str, loss: torch.Tensor, weight: float, params, retain=False):
        scaled = loss * (weight * self.scale(player))
        return torch.autograd.grad(scaled, params, retain_graph=retain)

    def _finish(self, players: tuple[str, ...], grads: list[Grads], values: list, count: int):
        """Unscale each player's gradients, then average grads and losses over replicas."""
        for player, player_grads in zip(players, grads, strict=True):
            if self.scalers:
                self.scalers[player].unscale(player_grads)
        flat = [g for player_grads in grads for g in player_grads] + list(values)
        flat = self.replicas.mean(flat, count)
        out, offset = [], 0
        for player_grads in grads:
            out.append(flat[offset : offset + len(player_grads)])
            offset += len(player_grads)
        return out + flat[offset:]

    def _d_outputs(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        """D on the real batch, then on the fakes: one order for every strategy. With
        spectral norm each pass advances D's power iteration, so the order is part of the
        arithmetic; real first is the thesis' public code's (trainer.py:343, then 353-354)
        and most reference implementations'."""
        d_real = D(real)
        return d_real, D(fake)

    def _d_loss(self, D: nn.Module, real, fake, d_real: torch.Tensor, d_fake: torch.Tensor):
        loss = self.loss.discriminator(d_real, d_fake)
        penalty = self.loss.penalty(D, real, fake, self.scale("d"))
        return loss if penalty is None else loss + penalty

    def discriminator(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor):
        """(grads of D's loss w.r.t. D's parameters, loss) with G's samples held fixed."""
        params, total, value = trainable(D), None, 0.0
        record, chunk_sq = self._recording("d", real.shape[0]), []
        for part, weight in self._chunks(real.shape[0]):
            with self.autocast():
                with torch.no_grad():
                    fake = G(z[part])
                d_real, d_fake = self._d_outputs(D, real[part], fake)
                loss = self._d_loss(D, real[part], fake, d_real, d_fake)
            grads = self._grad("d", loss, weight, params)
            if record:  # the chunk's own mean-loss gradient: weight undone
                chunk_sq.append(squared_norm(grads) / weight**2)
            total, value = _accumulate(total, grads), value + loss.detach().float() * weight
        grads, value = self._finish(("d",), [total], [value], real.shape[0])
        if record:
            self._record("d", chunk_sq, grads, real.shape[0])
        return grads, value

    def generator(self, G: nn.Module, D: nn.Module, z: torch.Tensor):
        """(grads of G's loss w.r.t. G's parameters, loss)."""
        params, total, value = trainable(G), None, 0.0
        record, chunk_sq = self._recording("g", z.shape[0]), []
        for part, weight in self._chunks(z.shape[0]):
            with self.autocast():
                loss = self.loss.generator(D(G(z[part])))
            grads = self._grad("g", loss, weight, params)
            if record:
                chunk_sq.append(squared_norm(grads) / weight**2)
            total, value = _accumulate(total, grads), value + loss.detach().float() * weight
        grads, value = self._finish(("g",), [total], [value], z.shape[0])
        if record:
            self._record("g", chunk_sq, grads, z.shape[0])
        return grads, value

    def joint(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor):
        """Pseudo-gradient at one point: (G grads, D grads, G loss, D loss), same x and z."""
        g_params, d_params = trainable(G), trainable(D)
        g_total = d_total = None
        g_value = d_value = 0.0
        rows = real.shape[0]
        record = self._recording("g", rows) and self._recording("d", rows)
        g_sq: list[torch.Tensor] = []
        d_sq: list[torch.Tensor] = []
        for part, weight in self._chunks(rows):
            with self.autocast():
                fake = G(z[part])
                # d_fake is shared: D's loss needs it w.r.t. D, G's loss w.r.t. G
                d_real, d_fake = self._d_outputs(D, real[part], fake)
                d_loss = self._d_loss(D, real[part], fake, d_real, d_fake)
                g_loss = self.loss.generator(d_fake)
            d_grads = self._grad("d", d_loss, weight, d_params, retain=True)
            g_grads = self._grad("g", g_loss, weight, g_params)
            if record:
                g_sq.append(squared_norm(g_grads) / weight**2)
                d_sq.append(squared_norm(d_grads) / weight**2)
            d_total, g_total = _accumulate(d_total, d_grads), _accumulate(g_total, g_grads)
            d_value = d_value + d_loss.detach().float() * weight
            g_value = g_value + g_loss.detach().float() * weight
        g, d, g_value, d_value = self._finish(
            ("g", "d"), [g_total, d_total], [g_value, d_value], rows
        )
        if record:
            self._record("g", g_sq, g, rows)
            self._record("d", d_sq, d, rows)
        return g, d, g_value, d_value


def _accumulate(total: Grads | None, grads: tuple[torch.Tensor, ...]) -> Grads:
    if total is None:
        return list(grads)
    for t, g in zip(total, grads, strict=True):
        t.add_(g)
    return total
