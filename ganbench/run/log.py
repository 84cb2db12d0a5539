"""What the loop records as it goes: losses averaged between log points, an ``iteration``
event every ``log_every`` iterations (and the progress callback), the training seconds of
every completed epoch, and the check that stops a run whose loss became NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from ganbench.errors import Diverged
from ganbench.run.context import RunContext, RunPart
from ganbench.strategies import StepLosses

OnLog = Callable[[dict[str, Any]], None]


class IterationLog(RunPart):
    """Losses are summed on the device after every step (no sync); a flush reads them
    once, with the iteration times the trackers resolved since the last flush."""

    def __init__(self, ctx: RunContext, on_log: OnLog | None = None) -> None:
        super().__init__(ctx)
        self.on_log = on_log
        self.loss_sums: torch.Tensor | None = None  # (d, g) summed since the last flush
        self.loss_count = 0
        self.last_losses: tuple[float | None, float | None] = (None, None)

    def add(self, losses: StepLosses) -> None:
        step = torch.stack([losses.d_loss.detach().float(), losses.g_loss.detach().float()])
        self.loss_sums = step if self.loss_sums is None else self.loss_sums + step
        self.loss_count += 1

    def after_iteration(self) -> None:
        if self.session.sampler.epochs_completed > self.state.epochs_completed:
            self._close_epochs()
        if self.state.iteration % self.session.run.log_every == 0:
            self.flush()

    def flush(self) -> None:
        """Write one iteration event for the steps since the last one (syncs the device)."""
        if not self.loss_count:
            return
        d_loss, g_loss = (self.loss_sums / self.loss_count).tolist()
        times = self.trackers.iterations.collect()
        self.state.iter_times_s += times
        self.loss_sums, self.loss_count = None, 0
        self.last_losses = (d_loss, g_loss)
        memory = self.trackers.memory.sample()
        record = {**self._record(d_loss, g_loss, sum(times) / max(1, len(times))), **memory}
        self.events.write("iteration", **record)
        if self.on_log is not None:
            self.on_log({"run_id": self.session.run.id, "fraction": self.fraction(), **record})
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss)):
            if not math.isfinite(value):
                raise Diverged(f"{name} became {value} by iteration {self.state.iteration}")

    def fraction(self) -> float:
        """The share of the budget used so far."""
        epoch = self.session.sampler.epoch
        return self.session.run.budget.fraction(self.state.iteration, epoch, self.clock.wall_s())

    def _close_epochs(self) -> None:
        self.clock.sync()
        now = self.clock.train_s()
        state = self.state
        while state.epochs_completed < self.session.sampler.epochs_completed:
            state.epoch_times_s.append(now - state.epoch_start_train_s)
            state.epoch_start_train_s = now
            state.epochs_completed += 1

    def _record(self, d_loss: float, g_loss: float, iter_time_s: float) -> dict[str, Any]:
        sampler, strategy = self.session.sampler, self.session.strategy
        return {
            "iteration": self.state.iteration,
            "epoch": sampler.epoch,
            "images_seen": sampler.images_seen,
            "batch_size": self.state.batch_size,
            "wall_s": self.clock.wall_s(),
            "train_s": self.clock.train_s(),
            "iter_time_s": iter_time_s,
            "d_loss": d_loss,
            "g_loss": g_loss,
            **asdict(strategy.counts),
            **strategy.lr,
        }
