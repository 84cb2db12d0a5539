"""The steady state: which training iterations are left out of the steady figures, and
the training seconds, images and iterations of the rest.

An iteration is left out when it falls in warm-up (the first ``measure.warmup_iterations``
of each session), in the profiler's window, in the ``settle`` iterations that follow a
change of batch size (new shapes: recompilation, cuDNN autotuning, new allocations), or
when ``torch.compile`` compiled a graph while it ran (and the ``settle`` iterations after
it): detected from dynamo's own counters, not guessed.

An iteration's time runs from its start to the next one's start (the loop's bookkeeping
included, excluded windows such as evaluation not: the run clock's training seconds). On
CUDA the device runs behind the host, so wherever the steady window opens or closes at a
known place (warm-up, profiler window, batch-size change) the device is synchronised
first; a detected compilation closes it at the host's timestamp (compilation is host
work the device waits for, so the error is at most the work queued before it).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ganbench.trackers.base import Tracker


def compile_count() -> int:
    """Graphs torch.compile has compiled in this process so far (0 before dynamo loads)."""
    dynamo = sys.modules.get("torch._dynamo.utils")
    if dynamo is None:
        return 0
    return int(dynamo.counters["stats"].get("unique_graphs", 0))


class SteadyWindow(Tracker):
    """Steady training seconds, images and iterations, and the iteration ranges left out."""

    def __init__(
        self,
        train_s: Callable[[], float],
        sync: Callable[[], None],
        batch_size: Callable[[], int],
        start: int,
        warmup: int,
        settle: int,
        compiles: Callable[[], int] = compile_count,
    ) -> None:
        self.train_s, self.sync, self.batch_size = train_s, sync, batch_size
        self.settle, self.compiles = settle, compiles
        self.left_out: list[list[int]] = [[start, start + warmup]] if warmup else []
        self.steady_s = 0.0
        self.steady_images = 0
        self.steady_iterations = 0
        self._last_batch: int | None = None
        self._compiled = compiles()
        self._open: tuple[float, int] | None = None  # (start train_s, batch) of an iteration
        self._ended = False  # whether the open iteration's step finished
        self._paused_at: float | None = None  # train_s where an excluded window opened
        self._previous_steady: bool | None = None

    def leave_out(self, start: int, end: int) -> None:
        """Leave iterations [start, end) out of the steady figures."""
        if end > start:
            self.left_out.append([start, end])

    def is_left_out(self, iteration: int) -> bool:
        return any(a <= iteration < b for a, b in self.left_out)

    def begin_iteration(self, iteration: int) -> None:
        batch = self.batch_size()
        if self._last_batch is not None and batch != self._last_batch:
            self.leave_out(iteration, iteration + max(1, self.settle))
        self._last_batch = batch
        self._compiled = self.compiles()  # graphs compiled outside iterations (evaluation)
        steady = not self.is_left_out(iteration)
        if self._previous_steady is not None and steady != self._previous_steady:
            self.sync()  # the window opens or closes here: the device's work so far is done
        now = self.train_s()
        self._close(now)
        self._open = (now, batch) if steady else None
        self._ended = False
        self._previous_steady = steady

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        self._ended = True
        compiled = self.compiles()
        if compiled != self._compiled:  # this iteration compiled a graph: not steady
            self._compiled = compiled
            self.leave_out(iteration - 1, iteration + self.settle)
            self._open = None
            self._previous_steady = False

    @contextlib.contextmanager
    def excluded(self, phase: str) -> Iterator[None]:
        """Where a window that is not training opens, the open iteration's time so far
        (what a checkpoint taken inside it records)."""
        self._paused_at = self.train_s()
        try:
            yield
        finally:
            self._paused_at = None

    def close(self) -> None:
        """Where the loop ends (the device synchronised): count the last iteration, if
        its step finished."""
        self.sync()
        self._close(self.train_s())
        self._previous_steady = None

    def _close(self, now: float) -> None:
        if self._open is not None and self._ended:
            started, batch = self._open
            self.steady_s += now - started
            self.steady_images += batch
            self.steady_iterations += 1
        self._open = None

    def state_dict(self) -> dict[str, Any]:
        """The totals with the open iteration counted up to now (a resume goes on from a
        checkpoint taken after it: its time after this point is not training)."""
        seconds, images, iterations = self.steady_s, self.steady_images, self.steady_iterations
        if self._open is not None and self._ended:
            started, batch = self._open
            now = self._paused_at if self._paused_at is not None else self.train_s()
            seconds, images, iterations = seconds + now - started, images + batch, iterations + 1
        return {
            "steady": {"seconds": seconds, "images": images, "iterations": iterations},
            "excluded": [list(r) for r in self.left_out],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        steady = state.get("steady") or {}
        self.steady_s = steady.get("seconds", 0.0)
        self.steady_images = steady.get("images", 0)
        self.steady_iterations = steady.get("iterations", 0)
        self.left_out = [list(r) for r in state.get("excluded", [])] + self.left_out
