"""Memory peaks against allocations of known size."""

from __future__ import annotations

import torch

from ganbench.trackers.memory import MemoryTracker

CPU = torch.device("cpu")

# -------------------------------------------------------------------- memory


def test_a_tensor_of_known_size_raises_the_rss_peak() -> None:
    tracker = MemoryTracker(CPU)
    before = tracker.sample()
    block = torch.ones(64 * 2**20 // 4 * 3)  # 192 MiB, written so the pages are resident
    tracker.sample()
    del block
    assert tracker.peak_rss_bytes - before >= 150 * 2**20
    summary = tracker.summary()
    assert summary.peak_rss_bytes == tracker.peak_rss_bytes
    assert summary.peak_cuda_alloc_bytes is None  # CPU run: null, not zero
