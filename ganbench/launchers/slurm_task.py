"""What one array task of ``--launcher slurm`` runs (imported only where submitit is).

submitit, before calling the task, turns SIGUSR2 into "checkpoint and requeue" and
ignores SIGTERM. While the run trains, ganbench's own handling takes both over: the
run stops at its next iteration with a checkpoint. Then, for a SIGUSR2 (the time
limit is near, or a preemption: SIGTERM then SIGUSR2), the signal is raised again under
submitit's handler,
which calls ``SlurmTask.checkpoint`` (the same call, resubmitted: it resumes) and
requeues the job. A SIGTERM (``scancel``) ends the task with the run interrupted.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from submitit.helpers import Checkpointable

from ganbench.launchers.remote import TaskArgs, run_task
from ganbench.launchers.signals import GracefulStop

REQUEUE_SIGNAL = "SIGUSR2"


class SlurmTask(Checkpointable):
    """Train one run folder; requeue the job when Slurm asks for it."""

    def __call__(self, args: TaskArgs) -> dict[str, Any]:
        with _EverySignal() as signals:
            result = run_task(args, lock=True, signals=signals)
        status = result.get("summary", {}).get("status")
        if REQUEUE_SIGNAL in signals.received and status == "interrupted":
            _requeue()
        return result


class _EverySignal(GracefulStop):
    """GracefulStop that also keeps every signal received: on preemption Slurm sends
    SIGTERM and then SIGUSR2, and the second one is what asks for a requeue."""

    def __init__(self) -> None:
        super().__init__()
        self.received: set[str] = set()

    def _handle(self, signum: int, frame: Any) -> None:
        self.received.add(signal.Signals(signum).name)
        super()._handle(signum, frame)


def _requeue() -> None:
    """submitit's handler (back since the block ended) requeues the job and exits."""
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(30)  # the handler runs at the next bytecode and exits the process
    raise RuntimeError("submitit did not requeue the job on SIGUSR2")
