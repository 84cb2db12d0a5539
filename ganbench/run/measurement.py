"""A run's measurement: which trackers it trains inside (from its ``measure:`` and
``profile:`` sections), wired to its session, store and clock, restored on resume.

``RunTrackers.excluded(phase)`` is the one window for work that is not training
(evaluation, checkpoints, the profiler's stop and trace export, the noise scale's extra
passes, FLOP probes): it is kept out of training seconds, energy, the NVML averages and
the training memory peak alike, and its own time and peak are recorded under ``phase``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ganbench.results import RunStore
from ganbench.run.probes import generator_flops_per_image, probe_iteration
from ganbench.run.session import Session
from ganbench.run.state import TrainState
from ganbench.trackers.base import TrackerStack
from ganbench.trackers.clock import RunClock, Span
from ganbench.trackers.comm import CommTracker
from ganbench.trackers.flops import FlopsTracker
from ganbench.trackers.memory import MemoryTracker
from ganbench.trackers.nvml import GpuMonitor
from ganbench.trackers.phases import IterationTracker
from ganbench.trackers.profiler import ProfilerTracker
from ganbench.trackers.steady import SteadyWindow


@dataclass
class RunTrackers:
    """The trackers of one training session, by role, and their stack."""

    clock: RunClock
    steady: SteadyWindow
    iterations: IterationTracker
    memory: MemoryTracker
    gpu: GpuMonitor
    profiler: ProfilerTracker
    flops: FlopsTracker
    comm: CommTracker
    stack: TrackerStack

    @contextlib.contextmanager
    def excluded(self, phase: str) -> Iterator[Span]:
        """A window that is not training, for the clock and every tracker (its seconds in
        the span it yields)."""
        with self.clock.excluded() as span, self.stack.excluded(phase):
            yield span

    def prepare(self, batch_size: int) -> None:
        """Count FLOPs at a batch size not seen yet (outside training)."""
        if self.flops.needs(batch_size):
            with self.excluded("flops_probe"):
                self.flops.prepare(batch_size)

    def state_dict(self) -> dict[str, Any]:
        return self.stack.state_dict()


def local_gpus(session: Session) -> list[int] | None:
    """The CUDA devices this process trains on when there are several (DataParallel's:
    every visible one), else None (the run's device)."""
    if session.levers.data_parallel:
        return list(range(torch.cuda.device_count()))
    return None


def build_trackers(
    session: Session, store: RunStore, state: TrainState, clock: RunClock
) -> RunTrackers:
    """The trackers for ``session`` resuming from ``state`` (a fresh run: iteration 0)."""
    run, device, start = session.run, session.device, state.iteration
    cfg = run.measure
    memory = MemoryTracker(device, start + cfg.warmup_iterations)
    if not cfg.warmup_iterations:
        memory.end_warmup()
    steady = SteadyWindow(
        clock.train_s,
        clock.sync,
        lambda: state.batch_size,
        start,
        cfg.warmup_iterations,
        settle=max(1, cfg.warmup_iterations),
    )
    iterations = IterationTracker(device, memory, steady, start, run.log_every)
    if cfg.phases:
        session.phases.attach(iterations.timer)
    profiler = ProfilerTracker(
        run.profile, device, store.profile_dir, start, iterations.timer.set_labels
    )
    if (window := profiler.window()) is not None:
        steady.leave_out(*window)
    flops = FlopsTracker(
        probe=lambda size: probe_iteration(session, size),
        probe_generator=lambda: generator_flops_per_image(run, session.data.sample_shape),
        passes=lambda: session.strategy.counts.full_batch_passes,
        off_reason=None if cfg.flops else "off (measure.flops: false)",
        steady=lambda iteration: not steady.is_left_out(iteration),
    )
    gpu = GpuMonitor(device, cfg.gpu_sample_hz, store.gpu_samples, indices=local_gpus(session))
    # Entered in this order, left in reverse: the NVML thread samples inside the profiler's
    # start and stop (whose trace export is an excluded window). The iteration hooks run
    # in this order too: the steady window first (it decides which iterations are left
    # out), then the phase timer.
    comm = CommTracker(session.replicas.comm, session.replicas.distributed)
    stack = TrackerStack([steady, iterations, flops, profiler, memory, gpu, comm])
    stack.load_state_dict(state.measure or {})
    trackers = RunTrackers(clock, steady, iterations, memory, gpu, profiler, flops, comm, stack)
    profiler.exclusion = trackers.excluded
    return trackers
