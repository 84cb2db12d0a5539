"""Parity: ganbench's training iteration against the loop a user would write by hand in
plain PyTorch, on identical models, data and hyperparameters, interleaved in one process
(one process group for ddp), so a shared machine's load hits both sides alike.

    .venv/bin/python benchmarks/parity.py                        # every row, CPU
    .venv/bin/python benchmarks/parity.py --rows srfb,ddp-2      # some rows
    .venv/bin/python benchmarks/parity.py --device cuda          # the same rows on a GPU
    .venv/bin/python benchmarks/parity.py --rounds 4 --block 5 --format json

The rows (the thesis SAGAN of suites/speedups.yaml at ``--width``, hinge loss, Adam 2e-4
(0.5, 0.9), synthetic CIFAR-shaped images, batch ``--batch``):

* ``alternating``: a D step (G's samples under no_grad), then a G step with fresh noise
  whose gradient is taken w.r.t. G's parameters only (D's weight gradients skipped).
* ``srfb``: SRFB (formula variant): fake = G(z); D(real), then d_fake = D(fake) (the
  order ganbench and the thesis' code use); the hinge losses of D and G from one graph;
  D's gradient (retain_graph), then G's; per player shadow.lerp_(p, 1 - delta),
  p.copy_(shadow), p.grad = grad, Adam's step.
* ``accumulate-4``: srfb with the batch as 4 micro-batches, each loss weighted by
  chunk/batch, the gradients summed.
* ``bf16``: srfb with ``torch.autocast(device_type, dtype=torch.bfloat16)`` around the
  forward passes and losses.
* ``channels-last``: srfb with models and real batches in ``torch.channels_last``.
* ``compile``: srfb with ``torch.compile`` of G and D; compilation happens in the warm-up
  blocks, which are not timed. A user must also set
  ``torch._functorch.config.donated_buffer = False``: the D gradient keeps its graph
  (retain_graph) for G's, which compiled backwards with donated buffers refuse.
* ``ddp-2``: srfb in 2 processes (gloo on the CPU, NCCL on CUDA with 2+ GPUs). The hand
  side cannot use ``DistributedDataParallel``: its gradient hooks fire when ``backward()``
  accumulates into ``.grad``, and SRFB takes both players' gradients at one point with
  ``torch.autograd.grad``, which never does. So each rank takes its shard of the global
  batch, computes its gradients, and all-reduces ONE flat buffer of both players'
  gradients and losses per step (``dist.all_reduce``), then divides by the world size.
* ``noise-scale``: accumulate-4 with ``measure.noise_scale: 10``. ganbench measures the
  gradient noise scale in-step from the micro-batches; the hand side, on the same
  iterations, squares each micro-batch's gradient norm (its weight undone) and the full
  gradient's, and updates the smoothed B_simple estimate (McCandlish et al.).

ganbench's side is the run's own training loop (``TrainingLoop.advance``: the batch
schedule, the phase timer, memory probes, FLOP accounting, the loss log every
``log_every`` iterations with its event, the noise scale, the ddp decisions), built as
``ganbench train`` builds it (``applied_levers``, ``build_session``), with evaluation,
checkpoints and the speed probe off. The hand side is what a user writes: plain
``torch.optim.Adam``, ``torch.autograd.grad``, ``torch.autocast``, ``torch.compile``,
``torch.distributed``; it starts from copies of ganbench's initial G and D (built by the
model registry, state dicts loaded: the networks are ordinary modules, what is compared
is the machinery around them), draws its own batches from the same uint8 dataset tensor
(a seeded permutation per epoch, scaled to [-1, 1] per batch as ganbench does) and its
own noise, and reads its losses with ``.item()`` every ``log_every`` iterations. Both
run inside the run's levers (the same backend flags). Where the hand side's work differs:
ganbench multiplies each loss by its weight (1.0 without accumulation) and adds it to a
running value; under ddp ganbench draws the global batch's noise on every rank and keeps
its rows (the hand side draws only its own rows: a user would) and weights the
all-reduce by each rank's example count (unequal shards); the loss log sums the losses
on the device every iteration; the hand side gathers a batch with ``data[idx]``, ganbench
with ``index_select`` (the same copy). ``tests/benchmarks/test_parity.py`` checks that a
hand step and a ganbench step on the same batch and noise leave the same networks.

Measurement per row: both sides built, then warm-up blocks of each (at least 2, enough
to pass the run's ``measure.warmup_iterations``, 2 more under compile), then
``--rounds`` rounds of two blocks of ``--block`` iterations in ABBA order (even rounds:
hand then ganbench; odd: ganbench then hand; a linear drift cancels). The two sides'
iteration counters run in step, so the blocks of a round hold the same periodic work (log
points, noise-scale measurements, epoch ends). A block is timed with
``time.perf_counter`` (CUDA: synchronised before and after; ddp: after a barrier, rank
0's clock). The ratio of a round is ganbench's block seconds over the hand block's; the
estimate is the geometric mean of the rounds' ratios with a 95% t interval on the log
ratios (n - 1 degrees of freedom): paired by round. Verdict against the margin m
(``--margin``; 1.02 on the CPU, 1.01 on CUDA: the targets): ``within m x`` when the
estimate is at most m (and at least 1/m), ``above m x`` past it, ``below`` when ganbench
is faster by more than that; ``?`` marks an interval that crosses m. ``--output FILE``
also writes the figures as JSON (what the GPU check reads). On a
shared 2-core CPU a 10-iteration block varies by 5-10%, so 8 rounds give intervals of
about +-7%: ``--rounds 24`` (or more) to tell 2% apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from scipy import stats
from torch import nn
from torch._functorch import config as functorch_config

from ganbench.config import load_suite
from ganbench.config.schema import RunConfig
from ganbench.data import DATASETS
from ganbench.levers import AppliedLevers, applied_levers
from ganbench.levers.distributed import LOCAL, Replicas, init_from_env
from ganbench.models import MODELS
from ganbench.results import RunStore
from ganbench.results.store import ReplicaStore
from ganbench.run.loop import TrainingLoop
from ganbench.run.session import Session, build_session
from ganbench.run.state import TrainState
from ganbench.selftest.overhead import abba_rounds
from ganbench.trackers.clock import RunClock

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "speedups.yaml"
MARGINS = {"cpu": 1.02, "cuda": 1.01}  # the targets: 1.02x on this CPU, 1.01x on GPU


@dataclass(frozen=True)
class Row:
    name: str
    hand: str  # what the hand-written loop does, in a few words
    overrides: tuple[str, ...] = ()
    world: int = 1


ROWS = {
    r.name: r
    for r in (
        Row("alternating", "D step, G step; autograd.grad, Adam", ("strategy.name=alternating",)),
        Row("srfb", "joint grads, shadow lerp, Adam from it"),
        Row("accumulate-4", "srfb, 4 weighted micro-batches", ("levers.grad_accumulation=4",)),
        Row("bf16", "srfb in torch.autocast bf16", ("levers.precision=amp-bf16",)),
        Row("channels-last", "srfb, NHWC models and batches", ("levers.channels_last=true",)),
        Row("compile", "srfb, torch.compile of G and D", ("levers.compile=default",)),
        Row("ddp-2", "srfb, 2 ranks, 1 flat all_reduce/step", ("levers.parallel=ddp",), 2),
        Row(
            "noise-scale",
            "accumulate-4 + chunk norms every 10",
            ("levers.grad_accumulation=4", "measure.noise_scale=10"),
        ),
    )
}


def run_config(row: Row, args: argparse.Namespace) -> RunConfig:
    """The speedups suite's fp32 run, shrunk to this benchmark, with the row's changes."""
    overrides = [
        "dataset.num_samples=2048",
        "model.name=sagan",
        f"model.width={args.width}",
        f"batch.size={args.batch}",
        "budget.iterations=1000000000",
        "budget.wall_seconds=null",
        "evaluation.metrics=[]",
        "evaluation.every_iterations=null",
        "checkpoint.every_iterations=null",
        "checkpoint.every_seconds=null",
        "measure.speed_probe_every_s=null",
        f"device={args.device}",
        f"log_every={args.log_every}",
        *row.overrides,
    ]
    (run,) = load_suite(SUITE, overrides, [0], ["fp32"]).runs
    return run


# ----------------------------------------------------------------------------------------
# The hand-written loop.


@dataclass(frozen=True)
class HandSettings:
    """What the hand loop trains with (the run's hyperparameters and the levers the device
    allowed)."""

    strategy: str
    batch: int
    latent: tuple[int, ...]
    chunks: int
    autocast: torch.dtype | None
    channels_last: bool
    compile_mode: str | None
    noise_every: int | None
    smoothing: float
    log_every: int
    delta: float
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    eps: float
    seed: int

    @classmethod
    def of(cls, run: RunConfig, levers: AppliedLevers) -> HandSettings:
        st, noise = run.strategy, run.measure.noise_scale
        return cls(
            strategy=st.name,
            batch=run.batch.size,
            latent=run.model.noise_shape(),
            chunks=run.levers.grad_accumulation,
            autocast=levers.autocast_dtype,
            channels_last=levers.channels_last,
            compile_mode=levers.compile_mode,
            noise_every=noise.every if noise else None,
            smoothing=noise.smoothing if noise else 0.9,
            log_every=run.log_every,
            delta=getattr(st, "delta", 0.0),
            lr_g=st.lr_g,
            lr_d=st.lr_d,
            betas=st.betas,
            eps=st.eps,
            seed=run.seed + 12345,
        )


def hinge_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def squared_norm(grads: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    return sum(g.square().sum() for g in grads)


def all_reduce_mean(tensors: list[torch.Tensor], world: int) -> list[torch.Tensor]:
    """One flat buffer, one all-reduce, divided by the world size."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat.div_(world)
    parts = flat.split([t.numel() for t in tensors])
    return [p.view_as(t) for p, t in zip(parts, tensors, strict=True)]


class HandLoop:
    """SRFB or alternating Adam as a user writes it: ``step()`` is one iteration."""

    def __init__(
        self, s: HandSettings, G: nn.Module, D: nn.Module, data: torch.Tensor, device, rank, world
    ):
        self.s, self.device, self.data, self.rank, self.world = s, device, data, rank, world
        self.g_params = [p for p in G.parameters() if p.requires_grad]
        self.d_params = [p for p in D.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(self.g_params, lr=s.lr_g, betas=s.betas, eps=s.eps)
        self.opt_d = torch.optim.Adam(self.d_params, lr=s.lr_d, betas=s.betas, eps=s.eps)
        self.shadow_g = [p.detach().clone() for p in self.g_params]
        self.shadow_d = [p.detach().clone() for p in self.d_params]
        if s.compile_mode:
            functorch_config.donated_buffer = False  # D's graph is retained for G's gradient
            mode = None if s.compile_mode == "default" else s.compile_mode
            G, D = torch.compile(G, mode=mode), torch.compile(D, mode=mode)
        self.G, self.D = G, D
        self.index_gen = torch.Generator().manual_seed(s.seed)  # one global order, every rank
        self.noise_gen = torch.Generator(device=device).manual_seed(s.seed + 1 + rank)
        self.order, self.position = torch.randperm(len(data), generator=self.index_gen), 0
        self.iteration = 0
        self.losses: tuple[float, float] | None = None
        self.ema = {p: [0.0, 0.0, 0] for p in "gd"}  # |G|^2, tr(Sigma), count
        self.b_simple: dict[str, float | None] = {}

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.s.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.s.autocast)

    def noise(self, rows: int) -> torch.Tensor:
        return torch.randn(rows, *self.s.latent, generator=self.noise_gen, device=self.device)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of the next global batch (a new permutation per epoch), in
        [-1, 1], and as many noise vectors."""
        n, size = len(self.data), self.s.batch
        if self.position + size > n:
            self.order, self.position = torch.randperm(n, generator=self.index_gen), 0
        rows = size // self.world
        start = self.position + self.rank * rows
        self.position += size
        idx = self.order[start : start + rows]
        real = self.data[idx].to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        if self.s.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, self.noise(rows)

    def step(self) -> None:
        if self.s.strategy == "alternating":
            d_loss, g_loss = self.alternating_step()
        else:
            d_loss, g_loss = self.srfb_step()
        self.iteration += 1
        if self.iteration % self.s.log_every == 0:
            self.losses = (d_loss.item(), g_loss.item())

    def block(self, n: int) -> None:
        for _ in range(n):
            self.step()

    @staticmethod
    def adam_step(opt: torch.optim.Optimizer, params, grads) -> None:
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()

    def alternating_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        real, z = self.sample()
        with self.autocast():
            with torch.no_grad():
                fake = self.G(z)
            d_real = self.D(real)
            d_loss = hinge_d(d_real, self.D(fake))
        self.adam_step(self.opt_d, self.d_params, torch.autograd.grad(d_loss, self.d_params))
        z = self.noise(real.shape[0])
        with self.autocast():
            g_loss = -self.D(self.G(z)).mean()
        self.adam_step(self.opt_g, self.g_params, torch.autograd.grad(g_loss, self.g_params))
        return d_loss, g_loss

    def srfb_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        real, z = self.sample()
        every = self.s.noise_every
        measure = bool(every) and (self.iteration + 1) % every == 0
        g_grads, d_grads, g_loss, d_loss = self.joint(real, z, measure)
        keep = 1.0 - self.s.delta
        for params, shadow, grads, opt in (
            (self.g_params, self.shadow_g, g_grads, self.opt_g),
            (self.d_params, self.shadow_d, d_grads, self.opt_d),
        ):
            with torch.no_grad():
                for s, p in zip(shadow, params, strict=True):
                    s.lerp_(p, keep)
                    p.copy_(s)
            self.adam_step(opt, params, grads)
        return d_loss, g_loss

    def joint(self, real: torch.Tensor, z: torch.Tensor, measure: bool):
        """Both players' gradients and losses at one point, over ``chunks`` micro-batches;
        under ddp averaged over the ranks; the noise scale's norms when ``measure``."""
        rows, chunks = real.shape[0], self.s.chunks
        size, total, chunk_sq = rows // chunks, None, []
        for start in range(0, rows, size):
            part, weight = slice(start, start + size), size / rows
            with self.autocast():
                fake = self.G(z[part])
                d_real = self.D(real[part])
                d_fake = self.D(fake)
                d_loss = hinge_d(d_real, d_fake)
                g_loss = -d_fake.mean()
            if chunks > 1:
                d_loss, g_loss = d_loss * weight, g_loss * weight
            d_grads = torch.autograd.grad(d_loss, self.d_params, retain_graph=True)
            g_grads = torch.autograd.grad(g_loss, self.g_params)
            if measure:  # each chunk's own mean-loss gradient: the weight undone
                chunk_sq.append(torch.stack([squared_norm(g_grads), squared_norm(d_grads)]))
                chunk_sq[-1] /= weight**2
            grads = [*g_grads, *d_grads, g_loss.detach(), d_loss.detach()]
            if total is None:
                total = grads
            else:
                for t, g in zip(total, grads, strict=True):
                    t.add_(g)
        if self.world > 1:
            total = all_reduce_mean(total, self.world)
        ng, nd = len(self.g_params), len(self.d_params)
        g_grads, d_grads = total[:ng], total[ng : ng + nd]
        if measure:
            big = torch.stack([squared_norm(g_grads), squared_norm(d_grads)])
            self.note_noise(torch.stack(chunk_sq).mean(0), big, size, rows)
        return g_grads, d_grads, total[-2], total[-1]

    def note_noise(self, small: torch.Tensor, big: torch.Tensor, b: int, B: int) -> None:
        """The smoothed |G|^2 and tr(Sigma) estimates from two batch sizes, and B_simple."""
        s_g, s_d, big_g, big_d = torch.cat([small, big]).tolist()
        k = self.s.smoothing
        for player, s, g in (("g", s_g, big_g), ("d", s_d, big_d)):
            g2 = (B * g - b * s) / (B - b)
            trace = (s - g) / (1.0 / b - 1.0 / B)
            ema = self.ema[player]
            ema[0] = k * ema[0] + (1 - k) * g2
            ema[1] = k * ema[1] + (1 - k) * trace
            ema[2] += 1
            g2, trace = (v / (1.0 - k ** ema[2]) for v in ema[:2])
            self.b_simple[player] = trace / g2 if g2 > 0 and trace >= 0 else None


def hand_loop(run: RunConfig, session: Session, levers: AppliedLevers) -> HandLoop:
    """The hand loop on fresh networks holding ganbench's initial weights and buffers."""
    G, D = MODELS.get(run.model.name).build(run.model, session.data.sample_shape)
    G.load_state_dict(session.G.state_dict())
    D.load_state_dict(session.D.state_dict())
    G, D = G.to(session.device).train(), D.to(session.device).train()
    if levers.channels_last:
        G = G.to(memory_format=torch.channels_last)
        D = D.to(memory_format=torch.channels_last)
    settings = HandSettings.of(run, levers)
    rank, world = session.replicas.rank, session.replicas.world
    return HandLoop(settings, G, D, session.data.values, session.device, rank, world)


# ----------------------------------------------------------------------------------------
# ganbench's side, and both opened together.


def ganbench_block(loop: TrainingLoop, n: int) -> None:
    """``n`` iterations of ganbench's loop, with the decisions made before each."""
    for _ in range(n):
        outcome = loop.advance()
        if outcome is not None:
            raise RuntimeError(f"ganbench's run ended inside the benchmark: {outcome}")


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


@contextlib.contextmanager
def opened_sides(
    run: RunConfig, device: torch.device, replicas: Replicas, workdir: Path
) -> Iterator[tuple[HandLoop, TrainingLoop, dict[str, str]]]:
    """Both sides of a row inside the run's levers: ganbench's loop as ``train_run`` opens
    it (its trackers entered), the hand loop on copies of its initial networks."""
    image_data = len(DATASETS.get(run.dataset.name).sample_shape(run.dataset)) == 3
    with contextlib.ExitStack() as scope:
        levers = scope.enter_context(applied_levers(run.levers, device, image_data, replicas))
        session = build_session(run, device, levers, replicas)
        hand = hand_loop(run, session, levers)
        folder = workdir / run.id
        store = RunStore(folder) if replicas.writes else ReplicaStore(folder, replicas.rank)
        store.create()
        events = scope.enter_context(store.open_events())
        loop = TrainingLoop.build(
            session, TrainState(), store, events, RunClock(synchronizer(device))
        )
        loop.parts.clock.start_loop()
        loop.parts.growth.apply()
        scope.enter_context(loop.parts.trackers.stack)
        yield hand, loop, levers.skipped


# ----------------------------------------------------------------------------------------
# Measurement.


def paired_blocks(
    hand: HandLoop, loop: TrainingLoop, args: argparse.Namespace, warm: int, barrier
) -> tuple[list[float], list[float]]:
    """Seconds of each round's hand and ganbench blocks (ABBA), after ``warm`` untimed
    blocks of each."""
    sync = synchronizer(loop.session.device)

    def timed(fn: Callable[[], None]) -> float:
        barrier()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    def hand_block() -> float:
        return timed(lambda: hand.block(args.block))

    def ganbench() -> float:
        return timed(lambda: ganbench_block(loop, args.block))

    for _ in range(warm):
        hand_block(), ganbench()
    return abba_rounds(hand_block, ganbench, args.rounds)


def ratio_interval(hand_s: list[float], ganbench_s: list[float]) -> tuple[float, float, float]:
    """Geometric mean of the rounds' ratios (ganbench / hand) and its 95% t interval."""
    logs = np.log(np.asarray(ganbench_s) / np.asarray(hand_s))
    n, mean = len(logs), float(logs.mean())
    half = float(stats.t.ppf(0.975, n - 1) * logs.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def verdict(ratio: float, low: float, high: float, margin: float) -> str:
    if ratio > margin:
        word = f"above {margin}x"
    elif ratio < 1 / margin:
        word = "below"
    else:
        word = f"within {margin}x"
    return word + ("?" if low < margin < high else "")


def warm_blocks(run: RunConfig, block: int) -> int:
    """At least 2 blocks, past the trackers' warm-up window; 2 more to finish compiling."""
    blocks = max(2, math.ceil(run.measure.warmup_iterations / block))
    return blocks + (2 if run.levers.compile != "off" else 0)


def measure_row(
    row: Row, args: argparse.Namespace, device: torch.device, replicas: Replicas, workdir: Path
) -> dict[str, Any]:
    """One row's figures (on every rank; rank 0's are reported)."""
    run = run_config(row, args)
    barrier = dist.barrier if replicas.distributed else (lambda: None)
    with opened_sides(run, device, replicas, workdir) as (hand, loop, skipped):
        hand_s, ganbench_s = paired_blocks(hand, loop, args, warm_blocks(run, args.block), barrier)
        noise = {"hand": hand.b_simple, "ganbench": _ganbench_b_simple(loop)}
    ratio, low, high = ratio_interval(hand_s, ganbench_s)
    iterations = args.rounds * args.block
    return {
        "row": row.name,
        "hand": row.hand,
        "hand_ms_per_it": 1e3 * sum(hand_s) / iterations,
        "ganbench_ms_per_it": 1e3 * sum(ganbench_s) / iterations,
        "ratio": ratio,
        "ratio_ci95": [low, high],
        "verdict": verdict(ratio, low, high, args.margin),
        "hand_block_s": hand_s,
        "ganbench_block_s": ganbench_s,
        "levers_skipped": skipped,
        "b_simple": noise if run.measure.noise_scale else None,
    }


def _ganbench_b_simple(loop: TrainingLoop) -> dict[str, float | None]:
    estimator = loop.parts.noise_scale.estimator
    return {p: estimator.b_simple(p) for p in ("g", "d")}


# ----------------------------------------------------------------------------------------
# ddp: two processes.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, row_name: str, args: argparse.Namespace, port: int, tmp: str) -> None:
    """One rank: join the group as torchrun's workers do, measure, rank 0 writes."""
    world = ROWS[row_name].world
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if args.device == "cpu":
        torch.set_num_threads(1)
    replicas, cuda_device = init_from_env(args.device)
    device = cuda_device or torch.device("cpu")
    try:
        result = measure_row(ROWS[row_name], args, device, replicas, Path(tmp) / f"rank{rank}")
        if rank == 0:
            (Path(tmp) / "result.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def ddp_row(row: Row, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_ddp_rank, args=(row.name, args, free_port(), tmp), nprocs=row.world)
        return json.loads((Path(tmp) / "result.json").read_text())


def skip_reason(row: Row, device: str) -> str | None:
    if row.world == 1:
        return None
    if not dist.is_available():
        return "torch.distributed is not available"
    if device == "cuda" and torch.cuda.device_count() < row.world:
        return f"needs {row.world} CUDA devices for NCCL; found {torch.cuda.device_count()}"
    return None


def measure(row: Row, args: argparse.Namespace) -> dict[str, Any]:
    reason = skip_reason(row, args.device)
    if reason is not None:
        return {"row": row.name, "hand": row.hand, "skipped": reason}
    if row.world > 1:
        return ddp_row(row, args)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        return measure_row(row, args, device, LOCAL, Path(tmp))


# ----------------------------------------------------------------------------------------
# Output.


def machine(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else None
    return {
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": threads,
        "ddp_threads_per_rank": 1 if args.device == "cpu" else None,
        "device": args.device,
        "gpu": gpu,
        "width": args.width,
        "batch": args.batch,
        "block": args.block,
        "rounds": args.rounds,
        "log_every": args.log_every,
    }


def table(info: dict[str, Any], results: list[dict[str, Any]]) -> str:
    gpu = f", {info['gpu']}" if info["gpu"] else ""
    lines = [
        f"machine: {info['cpu']}, {info['threads']} torch threads (ddp: 1 per rank), "
        f"torch {info['torch']}, device {info['device']}{gpu}",
        f"SAGAN width {info['width']}, batch {info['batch']}, {info['rounds']} rounds of "
        f"{info['block']}-iteration blocks (ABBA), log every {info['log_every']}",
        "",
        f"{'row':<14} {'hand loop':<38} {'hand ms/it':>10} {'ganbench':>10} "
        f"{'ratio [95%]':>22}  verdict",
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['row']:<14} {r['hand']:<38} skipped: {r['skipped']}")
            continue
        low, high = r["ratio_ci95"]
        ratio = f"{r['ratio']:.3f} [{low:.3f}, {high:.3f}]"
        lines.append(
            f"{r['row']:<14} {r['hand']:<38} {r['hand_ms_per_it']:>10.1f} "
            f"{r['ganbench_ms_per_it']:>10.1f} {ratio:>22}  {r['verdict']}"
        )
    if (both := pooled(results)) is not None:
        ratio, low, high = both
        lines.append(
            f"{'all rows':<14} {'(pooled)':<38} {'':>10} {'':>10} "
            f"{f'{ratio:.3f} [{low:.3f}, {high:.3f}]':>22}"
        )
    lines += _notes(results)
    return "\n".join(lines)


def pooled(results: list[dict[str, Any]]) -> tuple[float, float, float] | None:
    """The rows together: the mean of their mean log ratios, with a normal 95% interval
    from their standard errors (rows independent): what is common to every path."""
    rows = [r for r in results if "hand_block_s" in r and len(r["hand_block_s"]) > 1]
    if len(rows) < 2:
        return None
    logs = [np.log(np.asarray(r["ganbench_block_s"]) / np.asarray(r["hand_block_s"])) for r in rows]
    mean = float(np.mean([x.mean() for x in logs]))
    se = math.sqrt(sum(x.var(ddof=1) / len(x) for x in logs)) / len(logs)
    return math.exp(mean), math.exp(mean - 1.96 * se), math.exp(mean + 1.96 * se)


def _notes(results: list[dict[str, Any]]) -> list[str]:
    notes = []
    for r in results:
        if r.get("levers_skipped"):
            notes.append(f"{r['row']}: ganbench skipped {r['levers_skipped']}")
        if r.get("b_simple"):
            notes.append(f"{r['row']}: B_simple at the end {r['b_simple']}")
    return ["", *notes] if notes else []


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default=",".join(ROWS), help="comma-separated: " + ", ".join(ROWS)
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--width", type=float, default=0.25, help="SAGAN width multiplier")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--block", type=int, default=10, help="iterations per timed block")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--log-every", type=int, default=10, help="the run's log_every")
    parser.add_argument("--format", default="table", choices=("table", "json"))
    parser.add_argument(
        "--margin", type=float, help="the verdict's bound (default 1.02 on cpu, 1.01 on cuda)"
    )
    parser.add_argument("--output", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    args.margin = args.margin or MARGINS[args.device]
    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown} (choose from {', '.join(ROWS)})")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    return args


def main() -> None:
    args = parse_args()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.device == "cpu":
        torch.set_num_threads(threads or 1)
    info, results = machine(args, torch.get_num_threads()), []
    for name in args.rows.split(","):
        results.append(measure(ROWS[name], args))
        both = pooled(results)
        figures = json.dumps(
            {"machine": info, "margin": args.margin, "rows": results, "pooled": both}, indent=2
        )
        if args.output is not None:  # after every row: a time-out keeps the rows done
            args.output.write_text(figures + "\n", encoding="utf-8")
    print(figures if args.format == "json" else table(info, results))


if __name__ == "__main__":
    main()
