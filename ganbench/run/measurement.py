"""A run's measurement: which trackers it trains inside (from its ``measure:`` and
``profile:`` sections), wired to its session and store, restored on resume."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from ganbench.results import RunStore
from ganbench.run.probes import generator_flops_per_image, probe_iteration
from ganbench.run.session import Session
from ganbench.run.state import TrainState
from ganbench.trackers.base import TrackerStack
from ganbench.trackers.clock import RunClock
from ganbench.trackers.flops import FlopsTracker
from ganbench.trackers.memory import MemoryTracker
from ganbench.trackers.nvml import GpuMonitor
from ganbench.trackers.phases import IterationTracker
from ganbench.trackers.profiler import ProfilerTracker


@dataclass
class RunTrackers:
    """The trackers of one training session, by role, and their stack."""

    iterations: IterationTracker
    memory: MemoryTracker
    gpu: GpuMonitor
    profiler: ProfilerTracker
    flops: FlopsTracker
    stack: TrackerStack

    def excluded(self, phase: str) -> contextlib.AbstractContextManager[None]:
        return self.stack.excluded(phase)

    def prepare(self, batch_size: int, clock: RunClock) -> None:
        """Count FLOPs at a batch size not seen yet (outside training time)."""
        if self.flops.needs(batch_size):
            with clock.excluded():
                self.flops.prepare(batch_size)

    def state_dict(self) -> dict[str, Any]:
        return self.stack.state_dict()


def build_trackers(session: Session, store: RunStore, state: TrainState) -> RunTrackers:
    """The trackers for ``session`` resuming from ``state`` (a fresh run: iteration 0)."""
    run, device, start = session.run, session.device, state.iteration
    cfg = run.measure
    memory = MemoryTracker(device, start + cfg.warmup_iterations)
    if not cfg.warmup_iterations:
        memory.end_warmup()
    iterations = IterationTracker(device, memory, start, cfg.warmup_iterations, run.log_every)
    if cfg.phases:
        session.phases.attach(iterations.timer)
    profiler = ProfilerTracker(
        run.profile, device, store.profile_dir, start, iterations.timer.set_labels
    )
    if (window := profiler.window()) is not None:
        iterations.exclude(*window)
    flops = FlopsTracker(
        probe=lambda size: probe_iteration(session, size),
        probe_generator=lambda: generator_flops_per_image(run, session.data.sample_shape),
        passes=lambda: session.strategy.counts.full_batch_passes,
        off_reason=None if cfg.flops else "off (measure.flops: false)",
    )
    gpu = GpuMonitor(device, cfg.gpu_sample_hz, store.gpu_samples)
    # Entered in this order, left in reverse: the NVML thread samples inside the profiler's
    # start and stop (a trace export is not training energy). The iteration hooks run in
    # this order too (the iteration's end is stamped before anything else runs).
    stack = TrackerStack([iterations, flops, profiler, memory, gpu])
    stack.load_state_dict(state.measure or {})
    return RunTrackers(iterations, memory, gpu, profiler, flops, stack)
