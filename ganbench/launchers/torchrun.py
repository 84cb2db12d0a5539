"""``levers.parallel: ddp`` runs in N processes through torch's own launcher.

For such a run the suite's process starts ``python -m torch.distributed.run --standalone
--nproc-per-node N -m ganbench.launchers.torchrun_worker FOLDER DEVICE`` and waits. Each
worker joins the process group (gloo on CPU, nccl on CUDA, one GPU per process) and
trains the run with ``train_run``; rank 0 writes the run folder as a one-process run
would, the other ranks write only their own error file, GPU samples and profiler trace.
Runs without ``parallel: ddp`` train in this process, as with the inline launcher.

While it waits, the suite's process shows rank 0's progress from ``events.jsonl``, passes
a first stop signal (Ctrl-C, SIGTERM, SIGUSR2) on as a stop file naming it, which rank 0
reads every iteration (all ranks stop at the same iteration, with a checkpoint; workers
signalled directly, as Slurm does, stop the same way), and records a failed run itself
when the launch ends without a summary. The launcher's output is kept in the run folder
as ``ddp.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
from ganbench.launchers.follow import STOP_FILE, EventFollower, request_stop
from ganbench.launchers.inline import InlineConfig, InlineLauncher
from ganbench.results import RunSummary
from ganbench.run.plan import RunPlan
from ganbench.trackers.environment import LAUNCHER_ENV

LOG_FILE = "ddp.log"
POLL_S = 0.2
WORKER = "ganbench.launchers.torchrun_worker"


class TorchrunConfig(LauncherConfig):
    name: Literal["torchrun"] = "torchrun"
    nproc_per_node: PositiveInt | None = Field(
        None, description="processes per ddp run (null: one per visible GPU, 2 on a CPU)"
    )


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
            return InlineLauncher(InlineConfig()).launch(plan, observer, stop)
        store = plan.store
        store.create()
        store.write_config(plan.run.model_dump(mode="json"))  # the workers read it there
        store.summary.unlink(missing_ok=True)  # a summary after the launch is this launch's
        stop_file = store.folder / STOP_FILE
        if self.owns_stop_file:
            stop_file.unlink(missing_ok=True)
        code = _run_workers(plan, observer, stop, stop_file)
        if self.owns_stop_file:
            stop_file.unlink(missing_ok=True)
        written = store.read_summary()  # rank 0's, if it got that far
        if written is None:
            return _record_failure(plan, code)
        return RunSummary.model_validate(written)


def _run_workers(
    plan: RunPlan, observer: Observer | None, stop: StopSignal, stop_file: Path
) -> int:
    """Start the workers and follow them; their exit code."""
    store = plan.store
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={plan.processes}",
        "-m",
        WORKER,
        str(store.folder),
        plan.device.type,
    ]
    follower = EventFollower(store.events)
    budget = plan.run.budget
    with open(store.folder / LOG_FILE, "w", encoding="utf-8") as log:
        # Its own session: the terminal's Ctrl-C reaches only us; we pass it on (stop file).
        proc = subprocess.Popen(
            command,
            env={**os.environ, LAUNCHER_ENV: _launcher_name()},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_agent_signals,
        )
        try:
            while proc.poll() is None:
                time.sleep(POLL_S)
                asked = stop.requested()
                if asked and not stop_file.exists():
                    request_stop(stop_file.parent, str(asked))
                for record in follower.new_iterations():
                    if observer is not None:
                        fraction = budget.fraction(
                            record["iteration"], record["epoch"], record["wall_s"]
                        )
                        observer.logged({"run_id": plan.run.id, "fraction": fraction, **record})
        except BaseException:  # a second Ctrl-C, or this process failing: workers go too
            _stop_workers(proc)
            raise
    return proc.returncode


def _launcher_name() -> str:
    """``torchrun``, or ``ray+torchrun`` for a ddp run a Ray task (or Slurm job) launched."""
    outer = os.environ.get(LAUNCHER_ENV, "inline")
    return "torchrun" if outer in ("inline", "torchrun") else f"{outer}+torchrun"


def _agent_signals() -> None:
    """In torchrun's agent, before it starts: SIGUSR2 ignored (the agent would die of it,
    its workers stop on it themselves), and SIGTERM when the suite's process dies (even
    by kill -9: the agent passes it on and the workers stop with a checkpoint)."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop_workers(proc: subprocess.Popen) -> None:
    """SIGTERM to the agent's process group (workers checkpoint), SIGKILL after a minute."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _record_failure(plan: RunPlan, code: int) -> RunSummary:
    store = plan.store
    errors = sorted(p.name for p in store.folder.glob("error*.txt"))
    where = f"{LOG_FILE}" + (f" and {', '.join(errors)}" if errors else "")
    reason = f"the ddp launch exited with code {code} before rank 0 wrote a summary; see {where}"
    return record_failure(plan, reason, world_size=plan.processes)
