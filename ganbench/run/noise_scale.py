"""The gradient noise scale measured as the loop goes (``measure.noise_scale``): every N
iterations, each player's gradient at two batch sizes, which the estimator needs
(ganbench.trackers.noise_scale).

Where the step's own passes give two sizes (micro-batches under accumulation, each
process's share under ddp), the oracle records their squared norms during the step: no
extra pass (``source: in-step``). Otherwise (one pass over the whole batch, or fp16 loss
scaling) the gradients are taken after the step on equal chunks of its batch, its two
halves at least (``source: extra pass``): that time is not training time, and training
is left as it was (random streams, batch-norm statistics, spectral-norm vectors).
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

    def before_step(self) -> None:
        """Arm the oracle when the coming step is measured and its own passes give two
        batch sizes (micro-batches under accumulation, shares under ddp; not under fp16
        loss scaling). The decision uses only what every process knows alike."""
        state, session = self.state, self.session
        oracle = session.strategy.oracle
        if not self.cfg or (state.iteration + 1) % self.cfg.every or oracle.scalers:
            return
        world = session.replicas.world
        if state.batch_size % world:
            return
        rows = state.batch_size // world
        micro = session.schedule.micro_batch(state.batch_size)
        if (micro and micro < rows and rows % micro == 0) or world > 1:
            oracle.arm_norms(rows)

    def run(self) -> None:
        """Measure on the last step's batch; a ``noise_scale`` event (rank 0)."""
        session, state = self.session, self.state
        norms = session.strategy.oracle.take_norms() or {}
        if all(p in norms for p in PLAYERS):  # from the step's own passes: nothing extra
            measured, seconds, source = norms, 0.0, "in-step"
        else:
            measured, seconds = self._extra_pass()
            source = "extra pass"
            if measured is None:
                return
        estimates = {p: self.estimator.update(p, *measured[p]) for p in PLAYERS}
        _, _, b_small, b_big = measured["d"]
        state.noise_scale = self.estimator.state_dict()
        state.noise_scale_s += seconds
        self.last = {"iteration": state.iteration, "b_small": b_small, "b_big": b_big}
        if session.replicas.writes:
            self.events.write(
                "noise_scale",
                iteration=state.iteration,
                train_s=self.clock.train_s(),
                batch_size=state.batch_size,
                b_small=b_small,
                b_big=b_big,
                source=source,
                noise_scale_time_s=seconds,
                **estimates,
            )

    def _extra_pass(self) -> tuple[dict[str, tuple[float, float, int, int]] | None, float]:
        """Gradients on chunks of the last step's batch, outside training time."""
        session = self.session
        real, z = session.strategy.last_sample or (None, None)
        assert real is not None and z is not None
        size = self._chunk(real.shape[0])
        if size is None:
            return None, 0.0
        with self.trackers.excluded("noise_scale") as span:
            with training_untouched(session):
                chunks = chunk_gradients(session, real, z, size)
                norms = {p: two_batch_norms(c, session.replicas.mean) for p, c in chunks.items()}
        b_big = size * len(chunks["d"]) * session.replicas.world
        return {p: (*norms[p], size, b_big) for p in PLAYERS}, span.seconds

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
