"""Clocks, shared by training and latency: a run's wall and training seconds with the
windows that are not training (``RunClock``), and one call at a time (``CallTimer``).

``CallTimer`` times a call with ``time.perf_counter`` on the CPU. On CUDA, events are
recorded on the current stream around the call and the end event is waited for before the next call
starts, so calls never overlap and the figure is the latency from the moment the device
could start until its last kernel finished (launch overhead included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

# cudaEventElapsedTime's documented resolution ("around 0.5 microseconds").
CUDA_EVENT_RESOLUTION_S = 0.5e-6


class CallTimer:
    """Seconds one call takes on ``device``, with the call's result."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.name = "cuda_event" if self.cuda else "perf_counter"
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def __call__(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        if self.cuda:
            self._start.record()
            out = fn()
            self._end.record()
            self._end.synchronize()
            return self._start.elapsed_time(self._end) / 1e3, out
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    def resolution_s(self) -> float:
        """The smallest step the clock shows: documented for CUDA events, measured for
        perf_counter (the smallest positive difference of back-to-back reads)."""
        if self.cuda:
            return CUDA_EVENT_RESOLUTION_S
        return perf_counter_resolution_s()


def perf_counter_resolution_s(reads: int = 20_000) -> float:
    """Smallest positive difference between consecutive ``perf_counter`` reads: the clock's
    granularity or the cost of one read, whichever is larger."""
    smallest = float("inf")
    last = time.perf_counter()
    for _ in range(reads):
        now = time.perf_counter()
        if now > last:
            smallest = min(smallest, now - last)
        last = now
    return max(
        smallest if smallest != float("inf") else 0.0,
        time.get_clock_info("perf_counter").resolution,
    )


class Span:
    """The seconds an ``excluded()`` window took, set when it closes."""

    seconds: float = 0.0


class RunClock:
    """A run's wall-clock and training seconds, with earlier sessions' added on resume.

    Training time is the loop's wall time minus every ``excluded()`` window inside it
    (evaluation, checkpoints, FLOP probes); ``excluded(wall=True)`` also keeps a window out
    of the wall clock (the metrics' one-off set-up). Each window first waits for the
    device (``sync``), so work queued before it is charged to training.
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync or (lambda: None)
        self._started = time.perf_counter()
        self._loop_started: float | None = None
        self._base_train_s = self._base_wall_s = 0.0
        self._excluded_train_s = self._excluded_wall_s = 0.0

    def resume(self, train_s: float, wall_s: float) -> None:
        """Continue from a checkpoint's totals."""
        self._base_train_s, self._base_wall_s = train_s, wall_s

    def start_loop(self) -> None:
        """Training time counts from here."""
        self._loop_started = time.perf_counter()
        self._excluded_train_s = 0.0

    def wall_s(self) -> float:
        return self._base_wall_s + time.perf_counter() - self._started - self._excluded_wall_s

    def train_s(self) -> float:
        if self._loop_started is None:
            return self._base_train_s
        elapsed = time.perf_counter() - self._loop_started - self._excluded_train_s
        return self._base_train_s + elapsed

    @contextmanager
    def excluded(self, wall: bool = False) -> Iterator[Span]:
        """A window that is not training time (and with ``wall``, not wall time either)."""
        self.sync()
        span = Span()
        t0 = time.perf_counter()
        try:
            yield span
        finally:
            span.seconds = time.perf_counter() - t0
            if self._loop_started is not None:
                self._excluded_train_s += span.seconds
            if wall:
                self._excluded_wall_s += span.seconds
