"""Phase timers: where each iteration's time goes, measured on the device's own timeline.

The training loop brackets every iteration (``begin_iteration`` / ``end_iteration``) and
strategies label their parts with ``with self.phases("d_step"):``. Every phase boundary
stamps the time: ``perf_counter`` on CPU, a CUDA event recorded on the current stream on
GPU. Events are only resolved in ``collect()``, at log points where the loop reads its
losses (and so waits for the device) anyway: timing never adds a per-iteration stall.

Time is charged to the innermost open phase, so nested phases do not double count and
the phases of an iteration add up to its duration; what no phase claims is ``other``.
On GPU the time between two events is the time the device took to get from one to the
other: host work the device had to wait for (a slow data loader) shows up in ``data``,
host work hidden behind queued kernels does not, which is what "data-bound" means.

With ``probe_memory`` set for an iteration, each boundary also reads and resets the CUDA
allocator's peak (host-side, no sync), giving the peak memory of every phase.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch

from ganbench.trackers.base import Tracker
from ganbench.trackers.memory import MemoryTracker
from ganbench.trackers.steady import SteadyWindow

OTHER = "other"  # time inside an iteration that no label claims


class PhaseTimer:
    """Iteration durations and per-phase totals (seconds), see the module docstring."""

    def __init__(self, device: torch.device, memory: MemoryTracker | None = None) -> None:
        self.cuda = device.type == "cuda"
        self.memory = memory if memory is not None and memory.cuda else None
        self.label = False  # torch.profiler record_function per phase (while profiling)
        self.last_phases: list[str] = []  # phases entered in the last iteration, in order
        self._probe = False
        self._stack: list[str] = []
        self._labels: list[Any] = []
        self._marks: list[Any] = []  # perf_counter floats or CUDA events
        self._segments: list[str] = []  # phase charged for the time between marks i, i+1
        self._next = ""
        self._pending: list[tuple[list[Any], list[str]]] = []
        self._pool: list[torch.cuda.Event] = []
        self._done: list[tuple[float, dict[str, float]]] = []

    def set_labels(self, on: bool) -> None:
        """Open a ``torch.profiler.record_function`` range per phase (while profiling)."""
        self.label = on

    # ------------------------------------------------------------ phase labels

    def __call__(self, name: str) -> PhaseTimer:
        self._next = name
        return self

    def __enter__(self) -> PhaseTimer:
        if self._stack:  # outside an iteration, labels are ignored
            self._mark()
            self._stack.append(self._next)
            self.last_phases.append(self._next)
            if self.label:
                label = torch.profiler.record_function(f"ganbench.{self._next}")
                label.__enter__()
                self._labels.append(label)
        return self

    def __exit__(self, *exc: object) -> None:
        if len(self._stack) > 1:
            if self.label:
                self._labels.pop().__exit__(None, None, None)
            self._mark()
            self._stack.pop()

    # --------------------------------------------------------------- iterations

    def begin_iteration(self, probe_memory: bool = False) -> None:
        self._probe = probe_memory and self.memory is not None
        if self._probe:
            self.memory.read_and_reset()  # the probe's first window starts here
        self._stack, self._segments, self.last_phases = [OTHER], [], []
        self._marks = [self._stamp()]

    def end_iteration(self) -> None:
        self._mark()
        self._stack = []
        if self.cuda:
            self._pending.append((self._marks, self._segments))
        else:
            self._resolve(self._marks, self._segments)

    def collect(self) -> list[tuple[float, dict[str, float]]]:
        """Duration (s) and seconds per phase of each iteration finished since the last
        call. On CUDA this waits for the last recorded event."""
        if self._pending:
            self._pending[-1][0][-1].synchronize()
            for marks, segments in self._pending:
                self._resolve(marks, segments)
                self._pool += marks
            self._pending.clear()
        done, self._done = self._done, []
        return done

    # ------------------------------------------------------------------ helpers

    def _stamp(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = self._pool.pop() if self._pool else torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _mark(self) -> None:
        self._marks.append(self._stamp())
        phase = self._stack[-1]
        self._segments.append(phase)
        if self._probe:
            self.memory.attribute(phase)

    def _resolve(self, marks: list[Any], segments: list[str]) -> None:
        if self.cuda:
            durations = [a.elapsed_time(b) / 1000.0 for a, b in itertools.pairwise(marks)]
        else:
            durations = [b - a for a, b in itertools.pairwise(marks)]
        phases: dict[str, float] = {}
        for phase, seconds in zip(segments, durations, strict=True):
            phases[phase] = phases.get(phase, 0.0) + seconds
        self._done.append((sum(durations), phases))


class IterationTracker(Tracker):
    """Iteration durations and time per phase label for the training loop, over every
    iteration (``phase_s``) and over the steady ones (``steady_phase_s``: ``steady``
    says which are left out: warm-up, the profiler's window, settling after a batch-size
    change or a compilation). On CUDA, every ``probe_every``-th steady iteration reads the
    memory peak of each phase."""

    def __init__(
        self,
        device: torch.device,
        memory: MemoryTracker | None,
        steady: SteadyWindow,
        start: int,
        probe_every: int,
    ) -> None:
        self.timer = PhaseTimer(device, memory)
        self.steady = steady
        self.phase_s: dict[str, float] = {}
        self.steady_phase_s: dict[str, float] = {}
        self.probe_every = probe_every
        self._next = start  # index of the next iteration collect() resolves

    def begin_iteration(self, iteration: int) -> None:
        probe = not self.steady.is_left_out(iteration) and iteration % self.probe_every == 0
        self.timer.begin_iteration(probe_memory=probe)

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        self.timer.end_iteration()

    def collect(self) -> list[float]:
        """Iteration durations since the last call; phase totals are folded in (on CUDA
        this waits for the device: call it where the loop syncs anyway)."""
        times = []
        for seconds, phases in self.timer.collect():
            steady = not self.steady.is_left_out(self._next)
            for totals in (self.phase_s, self.steady_phase_s) if steady else (self.phase_s,):
                for phase, s in phases.items():
                    totals[phase] = totals.get(phase, 0.0) + s
            times.append(seconds)
            self._next += 1
        return times

    def split(self, times: list[float]) -> tuple[list[float], int]:
        """Iteration times of the steady iterations, and how many were left out."""
        steady = [t for i, t in enumerate(times) if not self.steady.is_left_out(i)]
        return steady, len(times) - len(steady)

    def state_dict(self) -> dict[str, Any]:
        return {"phase_s": dict(self.phase_s), "steady_phase_s": dict(self.steady_phase_s)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.phase_s = dict(state.get("phase_s", {}))
        self.steady_phase_s = dict(state.get("steady_phase_s", {}))
