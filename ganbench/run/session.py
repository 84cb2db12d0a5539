"""Everything one run trains with, built from its config, and its checkpointable state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganbench.config.schema import RunConfig
from ganbench.data import DATASETS, Data, EpochSampler
from ganbench.errors import UserError
from ganbench.levers import AppliedLevers
from ganbench.levers.compile import compile_networks
from ganbench.levers.distributed import LOCAL, Replicas
from ganbench.levers.layout import place_data
from ganbench.losses import LOSSES
from ganbench.models import MODELS
from ganbench.strategies import STRATEGIES, GradientOracle, Strategy
from ganbench.strategies.base import Phases, no_phases
from ganbench.strategies.lr_schedules import LrSchedule, LrScheduleConfig
from ganbench.strategies.schedules import BatchSchedule

# Independent random streams per run, so that e.g. SVRE's refresh draws never shift the
# noise the generator sees, and every strategy with the same seed sees the same batches.
STREAM_SAMPLER, STREAM_NOISE, STREAM_STRATEGY, STREAM_FIXED, STREAM_EVAL = range(5)


def stream_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def resolve_device(choice: str, option: str | None = None) -> torch.device:
    """cpu, or cuda (auto: where there is one); ``option``: the command's own flag that
    chose it (``--device``), named in the fix instead of ``--set device=``."""
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        fix = f"{option} cpu (or {option} auto" if option else "--set device=cpu (or device=auto"
        raise UserError(
            f"{option or 'device'}: cuda requested but no CUDA device is visible. Fix: {fix}: "
            "CUDA where there is one), or run where a GPU is"
        )
    return torch.device("cpu")


class DeviceBatches:
    """Real mini-batches moved to the training device (in the levers' memory format), and
    ordered full passes for SVRE. ``batch_size`` is the global batch; with ddp replicas
    this process gets its shard of every batch and chunk."""

    def __init__(
        self,
        data: Data,
        sampler: EpochSampler,
        device: torch.device,
        size: int,
        levers: AppliedLevers | None = None,
        replicas: Replicas = LOCAL,
    ):
        self.data, self.sampler, self.device = data, sampler, device
        self.batch_size = size
        self.num_examples = len(data)
        self.levers = levers or AppliedLevers()
        self.replicas = replicas

    def _gather(self, indices: torch.Tensor) -> torch.Tensor:
        own = indices[self.replicas.shard(indices.shape[0])]
        return self.levers.to_memory_format(self.data.batch(own, self.device))

    def next(self) -> torch.Tensor:
        return self._gather(self.sampler.draw(self.batch_size))

    def full_pass(self, chunk: int) -> Iterator[tuple[torch.Tensor, int]]:
        for start in range(0, self.num_examples, chunk):
            stop = min(self.num_examples, start + chunk)
            yield self._gather(torch.arange(start, stop)), stop - start


class PhaseLabels:
    """What the strategy calls to label a region of its step: it passes each label on to
    whichever phase timer the run's measurement attached (by default none)."""

    def __init__(self) -> None:
        self.sink: Phases = no_phases

    def attach(self, sink: Phases) -> None:
        self.sink = sink

    def __call__(self, name: str) -> AbstractContextManager[Any]:
        return self.sink(name)


@dataclass
class Session:
    run: RunConfig
    device: torch.device
    data: Data
    sampler: EpochSampler
    batches: DeviceBatches
    G: nn.Module
    D: nn.Module
    strategy: Strategy
    schedule: BatchSchedule
    noise_generator: torch.Generator
    fixed_z: torch.Tensor
    levers: AppliedLevers = field(default_factory=AppliedLevers)
    replicas: Replicas = LOCAL
    phases: PhaseLabels = field(default_factory=PhaseLabels)
    lr_schedule: LrSchedule = field(default_factory=lambda: LrSchedule(LrScheduleConfig()))

    def noise(self, n: int) -> torch.Tensor:
        """Noise for a global batch of ``n`` (every replica draws it all, keeps its rows)."""
        shape = self.run.model.noise_shape()
        z = torch.randn(n, *shape, generator=self.noise_generator, device=self.device)
        return z[self.replicas.shard(n)] if self.replicas.distributed else z

    def set_batch_size(self, size: int) -> None:
        self.batches.batch_size = size
        self.strategy.oracle.set_micro_batch(self.schedule.micro_batch(size))

    def lr_scale(self, iteration: int) -> float:
        """The factor on the configured learning rates for the iteration about to run: the
        batch schedule's scaling rule at the current size times the rate schedule."""
        epoch = self.sampler.epoch
        return self.schedule.lr_scale(self.batches.batch_size) * self.lr_schedule.factor(
            iteration, epoch
        )


def build_session(
    run: RunConfig,
    device: torch.device,
    levers: AppliedLevers | None = None,
    replicas: Replicas = LOCAL,
) -> Session:
    """Load the data and build models, loss, strategy and schedule, all seeded from the run
    (``levers``: what ``levers.applied_levers`` allowed on this device; none by default;
    ``replicas``: this process's place in a ddp group)."""
    levers = levers or AppliedLevers()
    # The global stream covers model initialisation, spectral-norm vectors and WGAN-GP's
    # interpolation weights; the same seed gives every strategy the same initial models.
    torch.manual_seed(run.seed)
    data = DATASETS.get(run.dataset.name).load(run.dataset)
    if levers.data_on_device:
        data = place_data(data, device, levers.skipped)
    G, D = _networks(run, data, device, levers)
    sampler = EpochSampler(len(data), stream_seed(run.seed, STREAM_SAMPLER))
    schedule = BatchSchedule(run.batch, run.levers.grad_accumulation, replicas.world)
    noise_gen = torch.Generator(device=device).manual_seed(stream_seed(run.seed, STREAM_NOISE))
    fixed_gen = torch.Generator().manual_seed(stream_seed(run.seed, STREAM_FIXED))
    fixed_z = torch.randn(run.evaluation.num_samples, *run.model.noise_shape(), generator=fixed_gen)
    session = Session(
        run=run,
        device=device,
        data=data,
        sampler=sampler,
        batches=DeviceBatches(data, sampler, device, run.batch.size, levers, replicas),
        G=G,
        D=D,
        strategy=None,  # type: ignore[arg-type]  (set below: it calls session.noise)
        schedule=schedule,
        noise_generator=noise_gen,
        fixed_z=fixed_z.to(device),
        levers=levers,
        replicas=replicas,
        lr_schedule=LrSchedule(run.strategy.lr_schedule),
    )
    session.strategy = _strategy(session)
    return session


def _networks(run: RunConfig, data: Data, device: torch.device, levers: AppliedLevers):
    """G and D on the device, in training mode (channels_last when the lever is on)."""
    G, D = MODELS.get(run.model.name).build(run.model, data.sample_shape)
    G, D = G.to(device).train(), D.to(device).train()
    if levers.channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return G, D


def _strategy(session: Session) -> Strategy:
    """The run's strategy over the session's networks, batches and noise (wrapped in
    DataParallel or compiled as the levers say)."""
    run, levers, replicas = session.run, session.levers, session.replicas
    loss = LOSSES.get(run.loss.name)(run.loss)
    micro = session.schedule.micro_batch(run.batch.size)
    autocast = levers.autocast(session.device)
    oracle = GradientOracle(loss, micro, autocast, levers.scalers(), replicas)
    rng = torch.Generator().manual_seed(stream_seed(run.seed, STREAM_STRATEGY))
    G, D = session.G, session.D
    calls_g, calls_d = (nn.DataParallel(G), nn.DataParallel(D)) if levers.data_parallel else (G, D)
    strategy = STRATEGIES.get(run.strategy.name)(
        run.strategy,
        calls_g,
        calls_d,
        oracle,
        session.batches,
        session.noise,
        rng,
        session.phases,
        fresh_networks=lambda: _networks(run, session.data, session.device, levers),
    )
    if levers.compile_mode:
        compile_networks(
            strategy.networks(),
            levers.compile_mode,
            levers.skipped,
            double_backward=loss.double_backward,
            data_parallel=levers.data_parallel,
        )
    return strategy
