"""ddp communication: what the gradient all-reduces moved per training iteration and the
share of training time they took (``levers.distributed.CommMeter`` counts; this tracker
opens the count for the training iterations only, so the noise scale's extra passes and
other excluded work stay out, and keeps the totals across resumes)."""

from __future__ import annotations

from typing import Any

from ganbench.levers.distributed import Replicas
from ganbench.trackers.base import Tracker

KEY = "comm"


class CommTracker(Tracker):
    def __init__(self, replicas: Replicas) -> None:
        self.replicas = replicas
        self.meter = replicas.comm
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
        return {KEY: self.totals()} if self.replicas.distributed else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if KEY in state:
            self.earlier = dict(state[KEY])

    def summary(self, train_s: float) -> dict[str, Any]:
        """The summary's fields (none outside ddp)."""
        if not self.replicas.distributed:
            return {}
        t = self.totals()
        per = t["iterations"] or None
        return {
            "ddp_allreduce_bytes_per_iteration": t["bytes"] / per if per else None,
            "ddp_allreduces_per_iteration": t["calls"] / per if per else None,
            "ddp_comm_s": t["seconds"],
            "ddp_comm_share": t["seconds"] / train_s if train_s > 0 else None,
        }
