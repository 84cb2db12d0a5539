"""``levers.parallel: ddp`` runs in N processes through torch's own launcher.

For such a run the suite's process starts ``python -m torch.distributed.run --standalone
--nproc-per-node N -m ganbench.launchers.torchrun_worker FOLDER DEVICE`` and waits. Each
worker joins the process group (gloo on CPU, nccl on CUDA, one GPU per process) and
trains the run with ``train_run``; rank 0 writes the run folder as a one-process run
would, the other ranks write only their own error file, GPU samples and profiler trace.
Runs without ``parallel: ddp`` train as the inline launcher trains them.

While it waits, the suite's process shows rank 0's progress from ``events.jsonl``, passes
a first stop signal (Ctrl-C, SIGTERM, SIGUSR2) on as a stop file naming it, which rank 0
reads every iteration (all ranks stop at the same iteration, with a checkpoint; workers
signalled directly, as Slurm does, stop the same way), and records a failed run itself
when the launch ends without a summary. The launcher's output is kept in the run folder
as ``ddp.log``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, PositiveInt

from ganbench.launchers.base import (
    LAUNCHERS,
    Launcher,
    LauncherConfig,
    Observer,
    StopSignal,
    record_failure,
)
from ganbench.launchers.inline import (
    InlineConfig,
    InlineLauncher,
    fresh_compile_caches,
    in_process_field,
)
from ganbench.launchers.process import agent_signals, follow_child, python_module
from ganbench.results import RunSummary
from ganbench.run.plan import RunPlan
from ganbench.trackers.environment import LAUNCHER_ENV

LOG_FILE = "ddp.log"
WORKER = "ganbench.launchers.torchrun_worker"


class TorchrunConfig(LauncherConfig):
    name: Literal["torchrun"] = "torchrun"
    nproc_per_node: PositiveInt | None = Field(
        None, description="processes per ddp run (null: one per visible GPU, 2 on a CPU)"
    )
    in_process: bool = in_process_field()


@LAUNCHERS.register("torchrun")
class TorchrunLauncher(Launcher):
    Config = TorchrunConfig
    cfg: TorchrunConfig
    # The suite's process owns the run's stop file (a stale one is removed); in a Ray or
    # Slurm task it is the driver's, which may write it at any moment: left alone.
    owns_stop_file = True

    def ddp_processes(self, device: torch.device) -> int:
        if self.cfg.nproc_per_node is not None:
            return self.cfg.nproc_per_node
        return torch.cuda.device_count() if device.type == "cuda" else 2

    def launch(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        if plan.processes == 1:
            inline = InlineLauncher(InlineConfig(in_process=self.cfg.in_process))
            return inline.launch(plan, observer, stop)
        store = plan.store
        store.create()
        store.write_config(plan.run.model_dump(mode="json"))  # the workers read it there
        store.summary.unlink(missing_ok=True)  # a summary after the launch is this launch's
        code = _run_workers(plan, observer, stop, self.owns_stop_file)
        written = store.read_summary()  # rank 0's, if it got that far
        if written is None:
            return _record_failure(plan, code)
        return RunSummary.model_validate(written)


def _run_workers(plan: RunPlan, observer: Observer | None, stop: StopSignal, owns: bool) -> int:
    """Start torchrun's agent and its workers and follow them; their exit code."""
    command = python_module(
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={plan.processes}",
        "-m",
        WORKER,
        plan.store.folder,
        plan.device.type,
    )
    with tempfile.TemporaryDirectory(prefix="ganbench-compile-cache-") as caches:
        env = {**fresh_compile_caches(Path(caches)), LAUNCHER_ENV: _launcher_name()}
        return follow_child(plan, command, LOG_FILE, observer, stop, env, owns, agent_signals)


def _launcher_name() -> str:
    """``torchrun``, or ``ray+torchrun`` for a ddp run a Ray task (or Slurm job) launched."""
    outer = os.environ.get(LAUNCHER_ENV, "inline")
    return "torchrun" if outer in ("inline", "torchrun") else f"{outer}+torchrun"


def _record_failure(plan: RunPlan, code: int) -> RunSummary:
    store = plan.store
    errors = sorted(p.name for p in store.folder.glob("error*.txt"))
    where = f"{LOG_FILE}" + (f" and {', '.join(errors)}" if errors else "")
    reason = f"the ddp launch exited with code {code} before rank 0 wrote a summary; see {where}"
    return record_failure(plan, reason, world_size=plan.processes)
