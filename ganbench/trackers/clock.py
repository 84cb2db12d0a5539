"""Clocks: one call at a time, honestly, with a clock per device and its resolution.

On the CPU a call is timed with ``time.perf_counter``. On CUDA, events are recorded on
the current stream around the call and the end event is waited for before the next call
starts, so calls never overlap and the figure is the latency from the moment the device
could start until its last kernel finished (launch overhead included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
