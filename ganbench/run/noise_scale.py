"""The gradient noise scale measured as the loop goes (``measure.noise_scale``): every N
iterations, each player's gradient is taken at the current parameters on equal chunks of
the step's own batch (its micro-batches under accumulation, else its two halves; under
ddp every process's chunks), which gives the two batch sizes the estimator needs
(ganbench.trackers.noise_scale). Its time is not training time, and it leaves training
as it was: random streams, batch-norm statistics and spectral-norm vectors are restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from ganbench.run.context import RunContext, RunPart
from ganbench.run.session import Session
from ganbench.strategies.oracle import Grads
from ganbench.trackers.noise_scale import PLAYERS, NoiseScaleEstimator, two_batch_norms


@contextlib.contextmanager
def training_untouched(session: Session) -> Iterator[None]:
    """Run extra forward and backward passes without a trace in training: every buffer of
    G and D (batch-norm statistics, spectral-norm vectors) and the random streams a
    gradient may draw from (WGAN-GP's weights) are put back afterwards."""
    nets = (session.G, session.D)
    buffers = [b.detach().clone() for net in nets for b in net.buffers()]
    devices = [session.device] if session.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    with torch.no_grad():
        for saved, b in zip(buffers, [b for net in nets for b in net.buffers()], strict=True):
            b.copy_(saved)


def chunk_gradients(
    session: Session, real: torch.Tensor, z: torch.Tensor, size: int
) -> dict[str, list[Grads]]:
    """Each player's gradient on each full chunk of ``size`` examples of (real, z): D's
    loss with G's samples held fixed, G's loss through D (no scaling, no communication)."""
    oracle = session.strategy.oracle.plain()
    oracle.set_micro_batch(None)
    G, D = session.strategy.G, session.strategy.D
    out: dict[str, list[Grads]] = {p: [] for p in PLAYERS}
    for start in range(0, real.shape[0] - size + 1, size):
        part = slice(start, start + size)
        out["d"].append(oracle.discriminator(G, D, real[part], z[part])[0])
        out["g"].append(oracle.generator(G, D, z[part])[0])
    return out


class NoiseScale(RunPart):
    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.cfg = self.session.run.measure.noise_scale
        self.estimator = NoiseScaleEstimator(self.cfg.smoothing if self.cfg else 0.9)
        self.estimator.load_state_dict(self.state.noise_scale)  # a resume goes on from there
        self.last: dict[str, Any] = {}

    def due(self) -> bool:
        return bool(
            self.cfg
            and self.state.iteration % self.cfg.every == 0
            and self.session.strategy.last_sample is not None
        )

    def run(self) -> None:
        """Measure on the last step's batch; a ``noise_scale`` event (rank 0)."""
        session, state = self.session, self.state
        real, z = session.strategy.last_sample or (None, None)
        assert real is not None and z is not None
        size = self._chunk(real.shape[0])
        if size is None:
            return
        with self.clock.excluded() as span, self.trackers.excluded("noise_scale"):
            with training_untouched(session):
                chunks = chunk_gradients(session, real, z, size)
                norms = {p: two_batch_norms(c, session.replicas.mean) for p, c in chunks.items()}
        b_big = size * len(chunks["d"]) * session.replicas.world
        estimates = {p: self.estimator.update(p, *norms[p], size, b_big) for p in PLAYERS}
        state.noise_scale = self.estimator.state_dict()
        state.noise_scale_s += span.seconds
        self.last = {"iteration": state.iteration, "b_small": size, "b_big": b_big}
        if session.replicas.writes:
            self.events.write(
                "noise_scale",
                iteration=state.iteration,
                train_s=self.clock.train_s(),
                batch_size=state.batch_size,
                b_small=size,
                b_big=b_big,
                noise_scale_time_s=span.seconds,
                **estimates,
            )

    def _chunk(self, rows: int) -> int | None:
        """Chunk size for a batch of ``rows`` on this process (None: too small to split)."""
        micro = self.session.schedule.micro_batch(self.state.batch_size)
        size = micro if micro and micro < rows else rows // 2
        return size if size >= 1 and rows // size >= 2 else None

    def summary(self) -> dict[str, Any]:
        """The summary's noise-scale figures (none when it was not measured)."""
        if not self.cfg:
            return {}
        players = {p: self.estimator.players[p] for p in PLAYERS}
        return {
            "noise_scale": {
                p: {
                    "b_simple": noise.b_simple(),
                    "g2": noise.g2.get() if noise.g2.count else None,
                    "trace": noise.trace.get() if noise.trace.count else None,
                    "measurements": noise.g2.count,
                }
                for p, noise in players.items()
            },
            "noise_scale_s": self.state.noise_scale_s,
        }
