"""The trackers of one training session, called by the loop at fixed points.

    prepare(batch_size)      when the batch size changes, outside the timed region
    begin_iteration(i)       before ``strategy.step()``
    end_iteration(i, size)   after it (no device sync)
    collect()                at log points and checkpoints (the loop syncs there anyway)
    excluded(phase)          around evaluation and checkpointing
    summary(...)             the measurement fields of ``summary.json``

Nothing here changes what is trained: FLOPs are counted on meta-device copies, memory
and NVML reads are host-side queries, and the profiler only observes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from ganbench.trackers.flops import (
    IterationFlops,
    compute_precision,
    generator_flops_per_image,
    peak_flops,
    probe_iteration,
)
from ganbench.trackers.memory import MemoryTracker
from ganbench.trackers.nvml import GpuMonitor
from ganbench.trackers.phases import (
    DATA_BOUND_SHARE,
    PhaseTimer,
    data_wait_share,
    phase_summary,
)
from ganbench.trackers.profiler import RunProfiler
from ganbench.trackers.stats import IterationTimes

if TYPE_CHECKING:
    from ganbench.results import RunStore
    from ganbench.session import Session, TrainState


class Instruments:
    def __init__(self, session: Session, store: RunStore, state: TrainState) -> None:
        run, device = session.run, session.device
        cfg = run.measure
        self.session, self.cfg = session, cfg
        saved = state.measure or {}
        self.memory = MemoryTracker(device)
        self.memory.load_state_dict(saved.get("memory", {}))
        self.timer = PhaseTimer(device, self.memory)
        if cfg.phases:
            session.strategy.phases = self.timer
        self.gpu = GpuMonitor(device, cfg.gpu_sample_hz, store.gpu_samples)
        self.gpu.load_state_dict(saved.get("gpu", {}))
        self.phase_s: dict[str, float] = dict(saved.get("phase_s", {}))
        # Iteration indices [start, end) left out of the iteration-time statistics.
        self.excluded: list[list[int]] = [list(r) for r in saved.get("excluded", [])]
        self.warmup_until = state.iteration + cfg.warmup_iterations
        if cfg.warmup_iterations:
            self.excluded.append([state.iteration, self.warmup_until])
        else:
            self.memory.end_warmup()
        self.flops_total: int = saved.get("flops_total", 0)
        # A count switched off in any session stays off: the total would be partial.
        self.flops_reason: str | None = saved.get("flops_reason") or (
            None if cfg.flops else "off (measure.flops: false)"
        )
        self.generator_flops: float | None = saved.get("generator_flops_per_image")
        self._by_size: dict[int, IterationFlops] = {}
        self._passes = session.strategy.counts.full_batch_passes
        self.profile: dict[str, Any] | None = saved.get("profile")
        self.profiler: RunProfiler | None = None
        if run.profile is not None and state.iteration == 0:
            self.profiler = RunProfiler(run.profile, device, store.profile_dir)
            self.excluded.append(list(self.profiler.profiled_iterations(0)))
        elif run.profile is not None and self.profile is None:
            self.profile = {"complete": False, "reason": "resumed after the profile window"}

    # ------------------------------------------------------------ loop points

    def start(self) -> None:
        self.gpu.start()
        if self.profiler is not None:
            self.timer.label = True
            self.profiler.start()

    def stop(self) -> None:
        self.gpu.stop()
        self._stop_profiler()

    def prepare(self, batch_size: int) -> float:
        """Count FLOPs at a new batch size; return the seconds spent (not training time)."""
        if self.flops_reason is not None or batch_size in self._by_size:
            return 0.0
        t0 = time.perf_counter()
        try:
            self._by_size[batch_size] = probe_iteration(self.session, batch_size)
            if self.generator_flops is None:
                run = self.session.run
                self.generator_flops = generator_flops_per_image(
                    run, self.session.data.sample_shape
                )
        except Exception as err:  # noqa: BLE001  (a model the meta device cannot run)
            self.flops_reason = f"FLOP count failed: {type(err).__name__}: {err}"
        return time.perf_counter() - t0

    def begin_iteration(self, iteration: int) -> None:
        probe = iteration >= self.warmup_until and iteration % self.session.run.log_every == 0
        self.timer.begin_iteration(probe_memory=probe)

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        """``iteration``: the count after this iteration."""
        self.timer.end_iteration()
        if self.flops_reason is None:
            flops = self._by_size[batch_size]
            self.flops_total += flops.step
            passes = self.session.strategy.counts.full_batch_passes
            self.flops_total += (passes - self._passes) * flops.snapshot_pass
            self._passes = passes
        if self.profiler is not None:
            self.profiler.step()
            if not self.profiler.running:
                self._stop_profiler()
        if iteration == self.warmup_until:
            self.memory.end_warmup()

    def collect(self) -> list[float]:
        """Iteration durations since the last call; phase totals are folded in."""
        times = self.timer.collect()
        for phase, seconds in self.timer.totals_s.items():
            self.phase_s[phase] = self.phase_s.get(phase, 0.0) + seconds
        self.timer.totals_s.clear()
        return times

    @contextlib.contextmanager
    def excluded_phase(self, phase: str) -> Iterator[None]:
        """Evaluation or checkpointing: not training energy; its own memory peak."""
        self.memory.read_and_reset()
        label = (
            torch.profiler.record_function(f"ganbench.{phase}")
            if self.profiler is not None and self.profiler.running
            else contextlib.nullcontext()
        )
        with self.gpu.excluded(), label:
            yield
        if self.memory.cuda:
            self.memory.attribute(phase)

    def _stop_profiler(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            self.timer.label = False
            self.profile = self.profiler.summary()
            self.profiler = None

    # ---------------------------------------------------------------- results

    def state_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory.state_dict(),
            "gpu": self.gpu.state_dict(),
            "phase_s": dict(self.phase_s),
            "excluded": [list(r) for r in self.excluded],
            "flops_total": self.flops_total,
            "flops_reason": self.flops_reason,
            "generator_flops_per_image": self.generator_flops,
            "profile": self.profile,
        }

    def summary(self, state: TrainState, train_s: float, images: int) -> dict[str, Any]:
        steady, left_out = self._steady(state.iter_times_s)
        totals = dict(self.phase_s)
        for phase, seconds in (("evaluation", state.eval_s), ("checkpoint", state.checkpoint_s)):
            if seconds > 0:
                totals[phase] = seconds
        share = data_wait_share(self.phase_s) if self.cfg.phases else None
        return {
            **IterationTimes.from_values(steady).fields(),
            "iter_time_excluded_count": left_out,
            "first_iter_time_s": state.iter_times_s[0] if state.iter_times_s else None,
            "phases": phase_summary(
                totals, state.iteration, self.memory if self.memory.cuda else None
            ),
            "data_wait_share": share,
            "data_bound": None if share is None else share >= DATA_BOUND_SHARE,
            **self.memory.summary(),
            **self.gpu.summary(images),
            **self._flops_summary(state, train_s),
            "profile": self.profile,
        }

    def _steady(self, times: list[float]) -> tuple[list[float], int]:
        """Iteration times outside warm-up and profiled windows, and how many were left out."""
        keep = [True] * len(times)
        for start, end in self.excluded:
            for i in range(max(0, start), min(end, len(times))):
                keep[i] = False
        steady = [t for t, k in zip(times, keep, strict=True) if k]
        return steady, len(times) - len(steady)

    def _flops_summary(self, state: TrainState, train_s: float) -> dict[str, Any]:
        device = self.session.device
        precision = compute_precision(device, self.session.levers.compute_dtype)
        gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
        peak = peak_flops(gpu_name, precision)
        if peak is not None:  # ddp: the group's FLOPs against all its GPUs' peak
            peak *= self.session.replicas.world
        ok = self.flops_reason is None and state.iteration > 0
        achieved = self.flops_total / train_s if ok and train_s > 0 else None
        if self.flops_reason is not None:
            mfu_reason = self.flops_reason
        elif device.type != "cuda":
            mfu_reason = "no peak FLOP/s for CPUs"
        elif peak is None:
            mfu_reason = f"no peak FLOP/s known for {gpu_name} at {precision}"
        else:
            mfu_reason = None
        return {
            "flops_total": self.flops_total if ok else None,
            "flops_per_iteration": self.flops_total / state.iteration if ok else None,
            "generator_flops_per_image": self.generator_flops,
            "achieved_flops_per_s": achieved,
            "peak_flops_per_s": peak,
            "mfu_precision": precision,
            "mfu": achieved / peak if achieved is not None and peak else None,
            "mfu_reason": mfu_reason,
        }
