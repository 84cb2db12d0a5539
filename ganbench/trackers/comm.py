"""ddp communication: what the gradient all-reduces moved per training iteration and the
share of training time they took (``CommMeter`` counts each all-reduce it is handed; the
tracker opens the count for the training iterations only, so the noise scale's extra
passes and other excluded work stay out, and keeps the totals across resumes)."""

from __future__ import annotations

import time
from typing import Any

import torch

from ganbench.trackers.base import Tracker

KEY = "comm"


class CommMeter:
    """What this process's gradient all-reduces moved and how long they took, counted only
    while ``counting`` (the loop's training iterations: not the noise scale's extra passes
    or other excluded work). Bytes are the payload handed to ``all_reduce`` (a ring
    all-reduce sends about 2(n-1)/n of it per rank). Seconds are the time the call held
    this process on the CPU (with gloo it returns when done, so this includes waiting for
    the slowest rank to arrive); on CUDA, CUDA events around the NCCL kernel on the
    current stream, read when ``seconds`` is asked (no synchronisation per step)."""

    PENDING_MAX = 512  # CUDA event pairs kept before the oldest are read

    def __init__(self) -> None:
        self.counting = False
        self.calls = 0
        self.bytes = 0
        self._seconds = 0.0
        self._events: list[tuple[Any, Any]] = []

    def run(self, tensor: torch.Tensor, op: Any) -> None:
        """``op()`` (the all-reduce of ``tensor``), counted when counting."""
        if not self.counting:
            op()
            return
        self.calls += 1
        self.bytes += tensor.numel() * tensor.element_size()
        if tensor.is_cuda:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            op()
            end.record()
            self._events.append((start, end))
            if len(self._events) > self.PENDING_MAX:
                self._read(self.PENDING_MAX // 2)
            return
        began = time.perf_counter()
        op()
        self._seconds += time.perf_counter() - began

    def _read(self, count: int) -> None:
        done, self._events = self._events[:count], self._events[count:]
        for start, end in done:
            end.synchronize()
            self._seconds += start.elapsed_time(end) / 1e3

    @property
    def seconds(self) -> float:
        self._read(len(self._events))
        return self._seconds


class CommTracker(Tracker):
    """Counts ``meter`` inside training iterations; ``distributed``: whether there is
    any communication to count (else no fields)."""

    def __init__(self, meter: CommMeter, distributed: bool) -> None:
        self.meter, self.distributed = meter, distributed
        self.earlier = {"calls": 0, "bytes": 0, "seconds": 0.0, "iterations": 0}
        self.iterations = 0

    def begin_iteration(self, iteration: int) -> None:
        self.meter.counting = True

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        self.meter.counting = False
        self.iterations += 1

    def totals(self) -> dict[str, Any]:
        """Calls, payload bytes, seconds and iterations of every session of the run."""
        now = {
            "calls": self.meter.calls,
            "bytes": self.meter.bytes,
            "seconds": self.meter.seconds,
            "iterations": self.iterations,
        }
        return {k: self.earlier[k] + now[k] for k in now}

    def state_dict(self) -> dict[str, Any]:
        return {KEY: self.totals()} if self.distributed else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if KEY in state:
            self.earlier = dict(state[KEY])

    def summary(self, train_s: float) -> dict[str, Any]:
        """The summary's fields (none outside ddp)."""
        if not self.distributed:
            return {}
        t = self.totals()
        per = t["iterations"] or None
        return {
            "ddp_allreduce_bytes_per_iteration": t["bytes"] / per if per else None,
            "ddp_allreduces_per_iteration": t["calls"] / per if per else None,
            "ddp_comm_s": t["seconds"],
            "ddp_comm_share": t["seconds"] / train_s if train_s > 0 else None,
        }
