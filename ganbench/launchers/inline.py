"""The default launcher: every run in this process, one after another."""

from __future__ import annotations

import gc
from typing import Literal

import torch

from ganbench.launchers.base import LAUNCHERS, Launcher, LauncherConfig, Observer, StopSignal
from ganbench.results import RunSummary
from ganbench.run.plan import RunPlan
from ganbench.run.train import train_run


class InlineConfig(LauncherConfig):
    name: Literal["inline"] = "inline"


@LAUNCHERS.register("inline")
class InlineLauncher(Launcher):
    Config = InlineConfig

    def launch(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        on_log = observer.logged if observer else None
        summary = train_run(
            plan.run, plan.store, plan.device, on_log=on_log, should_stop=stop.requested
        )
        # A run's session holds reference cycles (strategy <-> session), so its models,
        # data and optimiser state would outlive it until a full collection: free them now,
        # or the next run starts with this one's host and GPU memory still taken.
        gc.collect()
        if plan.device.type == "cuda":
            torch.cuda.empty_cache()
        return summary
