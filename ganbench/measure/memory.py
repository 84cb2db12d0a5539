"""Host RSS and CUDA allocator peaks."""

from __future__ import annotations

import psutil
import torch


class MemoryTracker:
    """Peak host RSS (sampled when asked) and the CUDA allocator's peaks since reset."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._process = psutil.Process()
        self.peak_rss_bytes = self._process.memory_info().rss
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def sample(self) -> int:
        rss = self._process.memory_info().rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        return rss

    def summary(self) -> dict[str, int | None]:
        self.sample()
        cuda = self.device.type == "cuda"
        return {
            "peak_rss_bytes": self.peak_rss_bytes,
            "peak_cuda_alloc_bytes": torch.cuda.max_memory_allocated(self.device) if cuda else None,
            "peak_cuda_reserved_bytes": torch.cuda.max_memory_reserved(self.device)
            if cuda
            else None,
        }
