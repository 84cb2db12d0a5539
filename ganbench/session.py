"""Everything one run trains with, built from its config, and its checkpointable state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganbench.config import RunConfig
from ganbench.data import DATASETS, Data, EpochSampler
from ganbench.errors import UserError
from ganbench.levers import AppliedLevers
from ganbench.levers.compile import compile_networks
from ganbench.levers.distributed import LOCAL, Replicas
from ganbench.levers.layout import place_data
from ganbench.losses import LOSSES
from ganbench.models import MODELS
from ganbench.strategies import STRATEGIES, GradientOracle, Strategy
from ganbench.strategies.schedules import BatchSchedule

CHECKPOINT_FORMAT = 2

# Independent random streams per run, so that e.g. SVRE's refresh draws never shift the
# noise the generator sees, and every strategy with the same seed sees the same batches.
STREAM_SAMPLER, STREAM_NOISE, STREAM_STRATEGY, STREAM_FIXED, STREAM_EVAL = range(5)


def stream_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def resolve_device(choice: str) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        raise UserError("device: cuda requested but no CUDA device is visible (use auto or cpu)")
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


@dataclass
class TrainState:
    """Counters that survive a resume (all times in seconds)."""

    iteration: int = 0
    train_s: float = 0.0
    wall_s: float = 0.0
    eval_s: float = 0.0
    checkpoint_s: float = 0.0
    batch_size: int = 0
    epochs_completed: int = 0
    epoch_start_train_s: float = 0.0
    last_eval_train_s: float = 0.0
    iter_times_s: list[float] = field(default_factory=list)
    epoch_times_s: list[float] = field(default_factory=list)
    measure: dict[str, Any] = field(default_factory=dict)  # the trackers' running totals
    quality: dict[str, Any] = field(default_factory=dict)  # best values, targets reached


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

    def noise(self, n: int) -> torch.Tensor:
        """Noise for a global batch of ``n`` (every replica draws it all, keeps its rows)."""
        z = torch.randn(
            n, self.run.model.latent_dim, generator=self.noise_generator, device=self.device
        )
        return z[self.replicas.shard(n)] if self.replicas.distributed else z

    def set_batch_size(self, size: int) -> None:
        self.batches.batch_size = size
        self.strategy.oracle.micro_batch = self.schedule.micro_batch(size)
        self.strategy.set_lr_scale(self.schedule.lr_scale(size))

    def state_dict(self, train: TrainState) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "run_id": self.run.id,
            "config": self.run.model_dump(mode="json"),
            "train": asdict(train),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "strategy": self.strategy.state_dict(),
            "scalers": {k: v.state_dict() for k, v in (self.strategy.oracle.scalers or {}).items()},
            "sampler": self.sampler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
                "noise": self.noise_generator.get_state(),
                "strategy": self.strategy.rng.get_state(),
            },
            "fixed_z": self.fixed_z.cpu(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> TrainState:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise UserError(
                f"checkpoint of run {self.run.id}: format {state.get('format')} is not this "
                f"ganbench's ({CHECKPOINT_FORMAT}); use --fresh to start the run over"
            )
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.strategy.load_state_dict(state["strategy"])
        for key, scaler in (self.strategy.oracle.scalers or {}).items():
            scaler.load_state_dict(state["scalers"][key])
        self.sampler.load_state_dict(state["sampler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.noise_generator.set_state(rng["noise"])
        self.strategy.rng.set_state(rng["strategy"])
        self.fixed_z = state["fixed_z"].to(self.device)
        train = TrainState(**state["train"])
        if train.batch_size:
            self.set_batch_size(train.batch_size)
        return train


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
    G, D = MODELS.get(run.model.name).build(run.model, data.sample_shape)
    G, D = G.to(device).train(), D.to(device).train()
    if levers.channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    sampler = EpochSampler(len(data), stream_seed(run.seed, STREAM_SAMPLER))
    schedule = BatchSchedule(run.batch, run.levers.grad_accumulation, replicas.world)
    batches = DeviceBatches(data, sampler, device, run.batch.size, levers, replicas)
    noise_gen = torch.Generator(device=device).manual_seed(stream_seed(run.seed, STREAM_NOISE))
    fixed_gen = torch.Generator().manual_seed(stream_seed(run.seed, STREAM_FIXED))
    fixed_z = torch.randn(run.evaluation.num_samples, run.model.latent_dim, generator=fixed_gen)
    loss = LOSSES.get(run.loss.name)(run.loss)
    micro = schedule.micro_batch(run.batch.size)
    oracle = GradientOracle(loss, micro, levers.autocast(device), levers.scalers(), replicas)
    session = Session(
        run=run,
        device=device,
        data=data,
        sampler=sampler,
        batches=batches,
        G=G,
        D=D,
        strategy=None,
        schedule=schedule,
        noise_generator=noise_gen,  # type: ignore[arg-type]
        fixed_z=fixed_z.to(device),
        levers=levers,
        replicas=replicas,
    )
    rng = torch.Generator().manual_seed(stream_seed(run.seed, STREAM_STRATEGY))
    calls_g, calls_d = (nn.DataParallel(G), nn.DataParallel(D)) if levers.data_parallel else (G, D)
    session.strategy = STRATEGIES.get(run.strategy.name)(
        run.strategy, calls_g, calls_d, oracle, batches, session.noise, rng
    )
    if levers.compile_mode:
        compile_networks(session.strategy.networks(), levers, double_backward=loss.double_backward)
    return session
