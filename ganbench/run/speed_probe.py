"""The machine-speed probe: a fixed reference workload on the run's device, timed before
the run's first iteration and every ``measure.speed_probe_every_s`` wall seconds (30 by
default) between iterations (not while the profiler records), in an excluded window (not
training time, not an iteration's time, not the training memory peak or energy).

The same work every time, so its seconds say how fast the machine was at that moment:
a run whose probe was much slower than its suite's (another process took the CPU, a GPU
throttled) was measured on a different machine, in effect. The workload and the device
type are the probe's identity: probes are compared only when both are equal (a CPU
probe's threads are part of its workload). On CPU it takes about 70 ms with two torch
threads on a 2-core machine; the CUDA workload is sized for tens of milliseconds on a
data-centre GPU (unmeasured here; TF32 off so the run's TF32 lever does not change it).
Between probes an iteration pays one clock read and one comparison.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch

from ganbench.run.context import RunContext, RunPart
from ganbench.trackers.clock import CallTimer

PROBE_VERSION = 1  # a change of the work below is a new version: older probes compare unequal
CPU_SIZE, CPU_REPEATS = 512, 48  # ~13 GFLOP: ~70 ms at two threads of a 2-core x86 CPU
CUDA_SIZE, CUDA_REPEATS = 1024, 1024  # ~2.2 TFLOP: 12 MiB of operands on the device


class ReferenceWorkload:
    """``repeats`` float32 products of two fixed ``size`` x ``size`` matrices on ``device``
    (values from a seeded generator of its own: the run's random streams are untouched)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.size, self.repeats = (
            (CUDA_SIZE, CUDA_REPEATS) if self.cuda else (CPU_SIZE, CPU_REPEATS)
        )
        self.timer = CallTimer(device)

    def describe(self) -> str:
        """The workload as probes are compared by (CPU: with its torch threads)."""
        where = "TF32 off" if self.cuda else f"{torch.get_num_threads()} torch threads"
        n = self.size
        return f"speed-probe v{PROBE_VERSION}: {self.repeats} x matmul {n}x{n} float32, {where}"

    def seconds(self) -> float:
        """Time the workload once (an untimed product first: caches, thread pool, cuBLAS
        handle); CUDA events on a GPU, perf_counter on the CPU."""
        generator = torch.Generator().manual_seed(0)
        a, b = (torch.rand(self.size, self.size, generator=generator) for _ in range(2))
        with _exact_float32(self.device), torch.no_grad():
            a, b = a.to(self.device), b.to(self.device)
            out = torch.empty_like(a)
            torch.matmul(a, b, out=out)

            def work() -> None:
                for _ in range(self.repeats):
                    torch.matmul(a, b, out=out)

            if self.cuda:
                torch.cuda.synchronize(self.device)
            seconds, _ = self.timer(work)
        return seconds


@contextlib.contextmanager
def _exact_float32(device: torch.device) -> Iterator[None]:
    """float32 as float32 whatever the run's levers chose (TF32, autocast), on the run's
    own GPU; the run's flags are restored afterwards."""
    if device.type != "cuda":
        with torch.autocast("cpu", enabled=False):
            yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.cuda.device(device), torch.autocast("cuda", enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


class SpeedProbe(RunPart):
    """The loop's probe: ``run()`` before the first iteration, then whenever ``due()``
    (every ``measure.speed_probe_every_s`` wall seconds); samples survive a resume in
    the run's counters (``TrainState.speed_probe``)."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.every_s = self.session.run.measure.speed_probe_every_s
        self.workload = ReferenceWorkload(self.session.device) if self.every_s else None
        self._next_at = math.inf  # perf_counter time of the next probe (none before run())

    def due(self) -> bool:
        """Whether a probe is due (postponed while the profiler records: its trace and
        table are training's)."""
        return time.perf_counter() >= self._next_at and not self._profiling()

    def _profiling(self) -> bool:
        profiler = self.trackers.profiler.profiler
        return profiler is not None and profiler.running

    def run(self) -> None:
        """One probe, in an excluded window (on every ddp rank at once: the loop asks rank
        0 whether one is due)."""
        if self.workload is None:
            return
        recorded = self._recorded()
        unix_s, wall_s = time.time(), self.clock.wall_s()
        with self.trackers.excluded("speed_probe") as span:
            seconds = self.workload.seconds()
        recorded["samples"].append({"unix_s": unix_s, "wall_s": wall_s, "seconds": seconds})
        recorded["total_s"] += span.seconds
        assert self.every_s is not None
        self._next_at = time.perf_counter() + self.every_s

    def _recorded(self) -> dict[str, Any]:
        """The samples so far; those of another workload or device (a resume elsewhere)
        are dropped: they are not comparable with this session's."""
        assert self.workload is not None
        identity = {"workload": self.workload.describe(), "device": self.session.device.type}
        recorded = self.state.speed_probe
        if {k: recorded.get(k) for k in identity} != identity:
            recorded.clear()
            recorded.update(identity, samples=[], total_s=0.0)
        return recorded

    def summary(self) -> dict[str, Any]:
        """``machine_speed``: the probe's identity, its samples and their median (null when
        the probe is off or never ran)."""
        recorded = self.state.speed_probe
        samples = recorded.get("samples") or []
        if not samples:
            return {"machine_speed": None}
        seconds = [s["seconds"] for s in samples]
        return {
            "machine_speed": {
                "workload": recorded["workload"],
                "device": recorded["device"],
                "every_s": self.every_s,
                "count": len(seconds),
                "median_s": statistics.median(seconds),
                "min_s": min(seconds),
                "max_s": max(seconds),
                "total_s": recorded["total_s"],
                "samples": samples,
            }
        }
