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

import contextlib
import itertools
import time
from typing import Any, Protocol

import torch

from ganbench.trackers.memory import MemoryTracker

# Phases inside an iteration, as the strategies label them.
ITERATION_PHASES = (
    "data",  # real mini-batch to the device and noise sampling
    "d_step",  # discriminator gradient and optimiser step (alternating)
    "g_step",  # generator gradient and optimiser step (alternating)
    "joint_step",  # simultaneous pseudo-gradient and update of both players
    "extrapolation",  # extragradient / SVRE extrapolation step
    "snapshot",  # SVRE snapshot refresh: a full pass over the dataset
    "other",  # inside the iteration but in no labelled phase
)
# Phases outside iterations, timed by the loop itself (after waiting for the device).
LOOP_PHASES = ("evaluation", "checkpoint")
PHASES = ITERATION_PHASES + LOOP_PHASES

# A run whose data phase takes at least this share of iteration time is data-bound.
DATA_BOUND_SHARE = 0.2


class Phases(Protocol):
    def __call__(self, name: str) -> contextlib.AbstractContextManager[Any]: ...


_NULL = contextlib.nullcontext()


def no_phases(name: str) -> contextlib.AbstractContextManager[Any]:
    """The strategies' default: no timing at all."""
    return _NULL


class PhaseTimer:
    """Iteration durations and per-phase totals (seconds), see the module docstring."""

    def __init__(self, device: torch.device, memory: MemoryTracker | None = None) -> None:
        self.cuda = device.type == "cuda"
        self.memory = memory if memory is not None and memory.cuda else None
        self.totals_s: dict[str, float] = {}
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
        self._done: list[float] = []

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
        self._stack, self._segments, self.last_phases = ["other"], [], []
        self._marks = [self._stamp()]

    def end_iteration(self) -> None:
        self._mark()
        self._stack = []
        if self.cuda:
            self._pending.append((self._marks, self._segments))
        else:
            self._resolve(self._marks, self._segments)

    def collect(self) -> list[float]:
        """Durations (s) of the iterations finished since the last call; phase totals
        are added to ``totals_s``. On CUDA this waits for the last recorded event."""
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
        totals = self.totals_s
        for phase, seconds in zip(segments, durations, strict=True):
            totals[phase] = totals.get(phase, 0.0) + seconds
        self._done.append(sum(durations))


def phase_summary(
    totals_s: dict[str, float], iterations: int, memory: MemoryTracker | None
) -> dict[str, Any]:
    """Per phase: total seconds, mean seconds per iteration, share of all measured time
    (iteration phases plus evaluation and checkpointing) and CUDA memory peaks."""
    measured = sum(totals_s.values())
    out: dict[str, Any] = {}
    for phase in PHASES:
        seconds = totals_s.get(phase)
        if seconds is None:
            continue
        out[phase] = {
            "time_s": seconds,
            "mean_per_iteration_s": seconds / iterations if iterations else None,
            "share": seconds / measured if measured > 0 else None,
            **(memory.phase_summary(phase) if memory is not None else {}),
        }
    return out


def data_wait_share(totals_s: dict[str, float]) -> float | None:
    """The data phase's share of iteration time (evaluation and checkpoints excluded)."""
    in_iterations = sum(totals_s.get(p, 0.0) for p in ITERATION_PHASES)
    if in_iterations <= 0 or "data" not in totals_s:
        return None
    return totals_s["data"] / in_iterations
