"""FLOP probes of a run: one iteration of the strategy's own ``step()`` on shape-only
copies of the models on PyTorch's ``meta`` device, so the count covers exactly the work
the strategy does (n_critic, extrapolation, SVRE's snapshot gradients, micro-batches) and
costs no device memory, no compute and no random numbers of the real run.

SVRE's snapshot refresh is counted separately: one chunk, scaled to the dataset (every
counted operation is linear in the batch), charged at every refresh by ``FlopsTracker``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ganbench.config.schema import RunConfig
from ganbench.models import MODELS
from ganbench.run.session import Session
from ganbench.strategies import STRATEGIES
from ganbench.trackers.flops import META, FlopCounter, IterationFlops, count_flops


class _ShapeBatches:
    """Meta-device batches of the right shape for the FLOP probe."""

    def __init__(self, sample_shape: tuple[int, ...], batch_size: int, num_examples: int):
        self.sample_shape, self.batch_size, self.num_examples = (
            sample_shape,
            batch_size,
            num_examples,
        )

    def next(self) -> torch.Tensor:
        return torch.empty(self.batch_size, *self.sample_shape, device=META)

    def full_pass(self, chunk: int) -> Iterator[tuple[torch.Tensor, int]]:
        for start in range(0, self.num_examples, chunk):
            size = min(chunk, self.num_examples - start)
            yield torch.empty(size, *self.sample_shape, device=META), size


class _PhaseFlops:
    """A phase hook for the probe: FLOPs counted inside each phase (nested ones included)."""

    def __init__(self, counter: FlopCounter) -> None:
        self.counter = counter
        self.by_phase: dict[str, int] = {}
        self._name = ""
        self._open: list[tuple[str, int]] = []

    def __call__(self, name: str) -> _PhaseFlops:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._open.append((self._name, self.counter.get_total_flops()))

    def __exit__(self, *exc: object) -> None:
        name, before = self._open.pop()
        self.by_phase[name] = self.by_phase.get(name, 0) + self.counter.get_total_flops() - before


def probe_iteration(session: Session, batch_size: int) -> IterationFlops:
    """Count one ``step()`` of the session's strategy at ``batch_size`` on meta copies."""
    run = session.run
    shape = tuple(session.data.sample_shape)

    def meta_networks() -> tuple[torch.nn.Module, torch.nn.Module]:
        with torch.device(META):
            G, D = MODELS.get(run.model.name).build(run.model, shape)
        return G.train(), D.train()

    G, D = meta_networks()
    # One chunk per "full pass": the probe's refresh is scaled to the dataset below.
    batches = _ShapeBatches(shape, batch_size, batch_size)
    latent = run.model.noise_shape()

    def noise(n: int) -> torch.Tensor:
        return torch.empty(n, *latent, device=META)

    counter = FlopCounter()
    phases = _PhaseFlops(counter)
    strategy = STRATEGIES.get(run.strategy.name)(
        run.strategy,
        G,
        D,
        session.strategy.oracle.plain(),
        batches,
        noise,
        torch.Generator(),
        phases=phases,
        fresh_networks=meta_networks,
    )
    with counter:
        strategy.step()
    total = counter.get_total_flops()
    snapshot_chunk = phases.by_phase.get("snapshot", 0)
    num_examples = len(session.data)
    return IterationFlops(
        batch_size=batch_size,
        step=total - snapshot_chunk,
        snapshot_pass=snapshot_chunk * num_examples // batch_size,
    )


def generator_flops_per_image(
    run: RunConfig, sample_shape: tuple[int, ...], batch: int = 16
) -> float:
    """FLOPs of the generator's forward pass per image (eval mode, no autograd)."""
    with torch.device(META):
        G, _ = MODELS.get(run.model.name).build(run.model, tuple(sample_shape))
    G.eval()
    z = torch.empty(batch, *run.model.noise_shape(), device=META)
    with torch.no_grad():
        return count_flops(lambda: G(z)) / batch
