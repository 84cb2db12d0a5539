"""The default launcher: runs one after another, each in a process of its own.

Every run trains in a new Python process (``python -m ganbench.launchers.run_worker
FOLDER DEVICE``, as optimum-benchmark's process launcher does), so nothing one run
leaves behind (host memory, the CUDA caching allocator, cuDNN autotune results,
torch.compile's caches) shapes the next: each starts cold, whatever the order. The
The compilers' on-disk caches (Inductor's, Triton's) start empty for every run too,
in a temporary folder of its own, unless the user named their folders. The suite's
process follows it (``launchers.process``): progress, stop requests, a failed
run recorded when the process ends without a summary. The process's start-up (the
interpreter and imports, measured by the worker) is recorded in the run's environment
as ``process_startup_s``. ``--in-process`` (``launcher.in_process: true``, or
``GANBENCH_IN_PROCESS=1``) trains every run in the suite's own process instead, for
debugging.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from ganbench.launchers.base import (
    LAUNCHERS,
    Launcher,
    LauncherConfig,
    Observer,
    StopSignal,
    record_failure,
)
from ganbench.launchers.process import follow_child, python_module
from ganbench.results import RunSummary
from ganbench.run.plan import RunPlan
from ganbench.run.train import train_run
from ganbench.trackers.environment import LAUNCHER_ENV

IN_PROCESS_ENV = "GANBENCH_IN_PROCESS"
SPAWNED_ENV = "GANBENCH_SPAWNED_AT"  # time.time() when the suite's process started it
LOG_FILE = "run.log"
WORKER = "ganbench.launchers.run_worker"


def in_process_field() -> Any:
    return Field(
        default_factory=lambda: os.environ.get(IN_PROCESS_ENV) == "1",
        description="train every run in the suite's own process (debugging; default: a "
        "process per run, so nothing carries over from one run to the next)",
    )


class InlineConfig(LauncherConfig):
    name: Literal["inline"] = "inline"
    in_process: bool = in_process_field()


@LAUNCHERS.register("inline")
class InlineLauncher(Launcher):
    Config = InlineConfig
    cfg: InlineConfig

    def launch(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        if self.cfg.in_process:
            return _in_this_process(plan, observer, stop)
        store = plan.store
        store.create()
        store.write_config(plan.run.model_dump(mode="json"))  # the worker reads it there
        store.summary.unlink(missing_ok=True)  # a summary after the launch is this launch's
        command = python_module(WORKER, store.folder, str(plan.device))
        with tempfile.TemporaryDirectory(prefix="ganbench-compile-cache-") as caches:
            env = {
                **fresh_compile_caches(Path(caches)),
                SPAWNED_ENV: repr(time.time()),
                LAUNCHER_ENV: os.environ.get(LAUNCHER_ENV, "inline"),
            }
            code = follow_child(plan, command, LOG_FILE, observer, stop, env)
        written = store.read_summary()
        if written is None:
            reason = (
                f"the run's process exited with code {code} before it wrote a summary; "
                f"see {LOG_FILE} in the run folder"
            )
            return record_failure(plan, reason)
        return RunSummary.model_validate(written)


def fresh_compile_caches(folder: Path) -> dict[str, str]:
    """Environment variables that point the compilers' caches into ``folder``, for each
    cache whose folder the user did not choose."""
    wanted = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}
    return {var: str(folder / name) for var, name in wanted.items() if var not in os.environ}


def _in_this_process(plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
    on_log = observer.logged if observer else None
    run, store, device = plan.run, plan.store, plan.device
    summary = train_run(run, store, device, on_log=on_log, should_stop=stop.requested)
    # A run's session holds reference cycles (strategy <-> session), so its models, data
    # and optimiser state would outlive it until a full collection: free them now, or the
    # next run starts with this one's host and GPU memory still taken.
    gc.collect()
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    return summary
