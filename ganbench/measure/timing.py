"""Per-iteration durations: perf_counter on CPU, CUDA events on GPU read without stalling."""

from __future__ import annotations

import time

import torch


class StepTimer:
    """Times each step. On CUDA, start/end events are recorded around the step and only
    resolved in ``collect()`` (called at log points, where the loop synchronises anyway),
    so timing never adds a per-iteration stall."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._pending: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._done: list[float] = []
        self._t0 = 0.0
        self._start: torch.cuda.Event | None = None

    def start(self) -> None:
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._pending.append((self._start, end))
        else:
            self._done.append(time.perf_counter() - self._t0)

    def collect(self) -> list[float]:
        """Durations (s) of the steps finished since the last call."""
        if self._pending:
            self._pending[-1][1].synchronize()
            self._done += [s.elapsed_time(e) / 1000.0 for s, e in self._pending]
            self._pending.clear()
        done, self._done = self._done, []
        return done
