"""Memory, for training and for latency alike: host RSS and the CUDA caching allocator's
peaks, over a run (overall, during warm-up and per phase: ``MemoryTracker``) or over a
window of calls (``MemoryWindow``).

The allocator's peak counters are global, so this tracker is the only code that resets
them: every read folds the window's peak into the right bucket (warm-up or steady state,
and the phase that just ended when the phase timer asks) before starting a new window.
Reads are host-side allocator queries; they never synchronise the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch

from ganbench.trackers.base import Tracker

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class MemoryPeaks:
    """A run's memory peaks in bytes; the CUDA ones None off CUDA. ``peak_cuda_*`` are the
    training peaks after warm-up (what the gate checks); ``*_all_bytes`` fold in warm-up,
    metric set-up and every excluded window (evaluation, checkpoints ...)."""

    peak_rss_bytes: int
    peak_rss_method: str
    peak_cuda_alloc_bytes: int | None
    peak_cuda_reserved_bytes: int | None
    warmup_peak_cuda_alloc_bytes: int | None
    warmup_peak_cuda_reserved_bytes: int | None
    peak_cuda_alloc_all_bytes: int | None
    peak_cuda_reserved_all_bytes: int | None


class MemoryTracker(Tracker):
    """Peak host RSS (the kernel's high-water mark, reset when the tracker is made, where
    the kernel allows; else sampled when asked) and CUDA allocated/reserved peaks: of
    training after warm-up, of the first ``warmup`` iterations of a session, of each
    excluded window, and of everything together."""

    def __init__(self, device: torch.device, warmup_until: int = 0) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._process = psutil.Process()
        self.exact_host_peak = _can_reset_hwm()  # resets the high-water mark if it can
        self.peak_rss_bytes = self._process.memory_info().rss
        self.in_warmup = True
        self.warmup_peak = [0, 0]  # allocated, reserved
        self.steady_peak = [0, 0]
        self.all_peak = [0, 0]
        self.phase_peaks: dict[str, list[int]] = {}
        self.warmup_until = warmup_until
        self._training = True  # whether the allocator's current window is training
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def __enter__(self) -> MemoryTracker:
        """The loop starts: what came before (metric set-up) is not training."""
        self._window_apart("setup")
        return self

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        if iteration == self.warmup_until:
            self.end_warmup()

    @contextlib.contextmanager
    def excluded(self, phase: str) -> Iterator[None]:
        """Evaluation, checkpointing ...: its own memory peak, not training's."""
        self.read_and_reset()
        try:
            yield
        finally:
            self._window_apart(phase)

    def _window_apart(self, phase: str) -> None:
        """Charge the allocator's window so far to ``phase`` alone (not to training)."""
        self._training = False
        try:
            self.attribute(phase)
        finally:
            self._training = True

    def sample(self) -> dict[str, int]:
        """Fold the current window into the peaks; the current RSS (``rss_bytes``) and, on
        CUDA, the window's peak allocation (``cuda_peak_alloc_bytes``)."""
        rss = self._process.memory_info().rss
        hwm = _read_hwm() if self.exact_host_peak else None
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss, hwm or 0)
        if not self.cuda:
            return {"rss_bytes": rss}
        return {"rss_bytes": rss, "cuda_peak_alloc_bytes": self.read_and_reset()[0]}

    def read_and_reset(self) -> tuple[int, int]:
        """(allocated, reserved) peaks since the last reset, folded into the run's peaks
        (training's too, unless the window is not training)."""
        if not self.cuda:
            return 0, 0
        stats = torch.cuda.memory_stats(self.device)
        window = (stats.get("allocated_bytes.all.peak", 0), stats.get("reserved_bytes.all.peak", 0))
        torch.cuda.reset_peak_memory_stats(self.device)
        buckets = [self.all_peak]
        if self._training:
            buckets.append(self.warmup_peak if self.in_warmup else self.steady_peak)
        for bucket in buckets:
            bucket[0], bucket[1] = max(bucket[0], window[0]), max(bucket[1], window[1])
        return window

    def attribute(self, phase: str) -> None:
        """Charge the window that just closed to ``phase`` (called at phase boundaries)."""
        alloc, reserved = self.read_and_reset()
        peaks = self.phase_peaks.setdefault(phase, [0, 0])
        peaks[0], peaks[1] = max(peaks[0], alloc), max(peaks[1], reserved)

    def end_warmup(self) -> None:
        """Close the warm-up window: later peaks are the steady-state figures."""
        self.read_and_reset()
        self.in_warmup = False

    def state_dict(self) -> dict[str, Any]:
        memory = {
            "peak_rss_bytes": self.peak_rss_bytes,
            "warmup_peak": list(self.warmup_peak),
            "steady_peak": list(self.steady_peak),
            "all_peak": list(self.all_peak),
            "phase_peaks": {k: list(v) for k, v in self.phase_peaks.items()},
        }
        return {"memory": memory}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Peaks of earlier sessions of a resumed run (the maximum is kept)."""
        state = state.get("memory") or {}
        if not state:
            return
        self.peak_rss_bytes = max(self.peak_rss_bytes, state["peak_rss_bytes"])
        for name in ("warmup_peak", "steady_peak", "all_peak"):
            mine, theirs = getattr(self, name), state.get(name, [0, 0])
            setattr(self, name, [max(a, b) for a, b in zip(mine, theirs, strict=True)])
        # An older checkpoint has no all-inclusive peak: at least the training ones.
        for bucket in (self.warmup_peak, self.steady_peak):
            self.all_peak = [max(a, b) for a, b in zip(self.all_peak, bucket, strict=True)]
        for phase, peaks in state["phase_peaks"].items():
            mine = self.phase_peaks.setdefault(phase, [0, 0])
            mine[0], mine[1] = max(mine[0], peaks[0]), max(mine[1], peaks[1])

    def summary(self) -> MemoryPeaks:
        self.sample()
        method = "vmhwm" if self.exact_host_peak else "sampled"
        if not self.cuda:
            return MemoryPeaks(self.peak_rss_bytes, method, None, None, None, None, None, None)
        # Before warm-up ended (a very short run) the warm-up window is all there is.
        steady = self.steady_peak if not self.in_warmup else self.warmup_peak
        return MemoryPeaks(self.peak_rss_bytes, method, *steady, *self.warmup_peak, *self.all_peak)

    def phase_summary(self, phase: str) -> dict[str, int | None]:
        peaks = self.phase_peaks.get(phase)
        return {
            "peak_cuda_alloc_bytes": peaks[0] if peaks else None,
            "peak_cuda_reserved_bytes": peaks[1] if peaks else None,
        }


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
