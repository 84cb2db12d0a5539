"""Timing one call at a time, honestly: a clock per device, its resolution, and the memory
a window of calls needs.

On the CPU a call is timed with ``time.perf_counter``. On CUDA, events are recorded on
the current stream around the call and the end event is waited for before the next call
starts, so calls never overlap and the figure is the latency from the moment the device
could start until its last kernel finished (launch overhead included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import torch

# cudaEventElapsedTime's documented resolution ("around 0.5 microseconds").
CUDA_EVENT_RESOLUTION_S = 0.5e-6

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


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


class MemoryWindow:
    """Peak memory over a window of calls.

    CUDA: the caching allocator's peak allocated and reserved bytes (reset when the window
    opens; weights and inputs included). Host: RSS growth, the peak resident set over the
    window minus the RSS at ``baseline()``. On Linux the kernel's high-water mark (VmHWM)
    is reset through /proc/self/clear_refs, so the peak between reads is exact; elsewhere
    RSS is sampled whenever ``sample()`` is called. Freed host memory the allocator keeps
    is counted as the process holds it, so RSS growth is approximate.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._process = psutil.Process()
        self._baseline = self._rss()
        self._sampled_peak = self._baseline
        self.exact_host_peak = _can_reset_hwm()

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def baseline(self) -> None:
        """Take the current RSS as the zero of the host growth."""
        self._baseline = self._rss()

    def open(self) -> None:
        """Start a window: reset the CUDA peaks and the host high-water mark."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        if self.exact_host_peak:
            _CLEAR_REFS.write_text("5")
        self._sampled_peak = self._rss()

    def sample(self) -> None:
        if not self.exact_host_peak:
            self._sampled_peak = max(self._sampled_peak, self._rss())

    def close(self) -> dict[str, int | None]:
        """The window's peaks: ``peak_cuda_alloc_bytes``, ``peak_cuda_reserved_bytes``
        (None off CUDA) and ``rss_growth_bytes``."""
        self.sample()
        peak = _read_hwm() if self.exact_host_peak else self._sampled_peak
        cuda = (None, None)
        if self.cuda:
            stats = torch.cuda.memory_stats(self.device)
            cuda = (stats["allocated_bytes.all.peak"], stats["reserved_bytes.all.peak"])
        return {
            "peak_cuda_alloc_bytes": cuda[0],
            "peak_cuda_reserved_bytes": cuda[1],
            "rss_growth_bytes": max(0, (peak or self._sampled_peak) - self._baseline),
        }


def _can_reset_hwm() -> bool:
    """Whether this kernel lets a process reset its peak RSS (Linux >= 4.0, writable)."""
    if _read_hwm() is None:
        return False
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _read_hwm() -> int | None:
    """VmHWM (peak resident set since the last reset) in bytes, or None where unknown."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
