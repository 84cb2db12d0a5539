"""What one array task of ``--launcher slurm`` runs (imported only where submitit is).

submitit, before calling the task, turns SIGUSR2 into "checkpoint and requeue" and
ignores SIGTERM. While the run trains, ganbench's own handling takes both over: the
run stops at its next iteration with a checkpoint. Then, for a SIGUSR2 (the time
limit is near, or a preemption), the signal is raised again under submitit's handler,
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
        with GracefulStop() as signals:
            result = run_task(args, lock=True, signals=signals)
        status = result.get("summary", {}).get("status")
        if signals.requested() == REQUEUE_SIGNAL and status == "interrupted":
            _requeue()
        return result


def _requeue() -> None:
    """submitit's handler (back since the block ended) requeues the job and exits."""
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(30)  # the handler runs at the next bytecode and exits the process
    raise RuntimeError("submitit did not requeue the job on SIGUSR2")
