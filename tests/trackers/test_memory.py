"""Memory peaks against allocations of known size."""

from __future__ import annotations

import pytest
import torch

from ganbench.trackers.memory import MemoryTracker

CPU = torch.device("cpu")

# -------------------------------------------------------------------- memory


def test_a_tensor_of_known_size_raises_the_rss_peak() -> None:
    tracker = MemoryTracker(CPU)
    before = tracker.sample()["rss_bytes"]
    block = torch.ones(64 * 2**20 // 4 * 3)  # 192 MiB, written so the pages are resident
    tracker.sample()
    del block
    assert tracker.peak_rss_bytes - before >= 150 * 2**20
    summary = tracker.summary()
    assert summary.peak_rss_bytes == tracker.peak_rss_bytes
    assert summary.peak_cuda_alloc_bytes is None  # CPU run: null, not zero


class FakeAllocator:
    """The CUDA caching allocator's peak counters, as the test allocates."""

    def __init__(self) -> None:
        self.current = self.peak = 0

    def allocate(self, size: int) -> None:
        self.current += size
        self.peak = max(self.peak, self.current)

    def free(self, size: int) -> None:
        self.current -= size

    def memory_stats(self, device=None) -> dict[str, int]:
        return {"allocated_bytes.all.peak": self.peak, "reserved_bytes.all.peak": self.peak}

    def reset_peak_memory_stats(self, device=None) -> None:
        self.peak = self.current


def test_excluded_windows_and_set_up_stay_out_of_the_training_peak(monkeypatch) -> None:
    """An evaluation batch far larger than training's, and metric set-up before the loop:
    the gated (training) peak does not move; the all-inclusive one and the phase's do."""
    fake = FakeAllocator()
    monkeypatch.setattr(torch.cuda, "memory_stats", fake.memory_stats)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", fake.reset_peak_memory_stats)
    tracker = MemoryTracker(torch.device("cuda"), warmup_until=0)
    tracker.end_warmup()
    fake.allocate(900)  # the metrics' set-up, before the loop starts
    fake.free(900)
    with tracker:
        fake.allocate(100)  # training
        fake.free(100)
        tracker.sample()
        with tracker.excluded("evaluation"):
            fake.allocate(500)
            fake.free(500)
        fake.allocate(120)
        fake.free(120)
        peaks = tracker.summary()
    assert peaks.peak_cuda_alloc_bytes == 120  # training alone: what the gate checks
    assert peaks.peak_cuda_alloc_all_bytes == 900
    assert tracker.phase_summary("evaluation")["peak_cuda_alloc_bytes"] == 500
    assert tracker.phase_summary("setup")["peak_cuda_alloc_bytes"] == 900


def test_the_host_peak_is_the_kernels_high_water_mark() -> None:
    tracker = MemoryTracker(CPU)
    if not tracker.exact_host_peak:
        pytest.skip("this kernel does not let a process reset its VmHWM")
    base = tracker.sample()["rss_bytes"]
    block = torch.ones(48 * 2**20)  # 192 MiB, resident, freed before any sample
    del block
    peaks = tracker.summary()
    assert peaks.peak_rss_method == "vmhwm"
    assert peaks.peak_rss_bytes - base >= 150 * 2**20  # seen though never sampled
