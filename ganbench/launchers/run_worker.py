"""One run in a process of its own, as the inline launcher starts it:
``python -m ganbench.launchers.run_worker RUN_FOLDER DEVICE``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ganbench.config.schema import RunConfig
from ganbench.launchers.follow import stop_requested
from ganbench.launchers.inline import SPAWNED_ENV
from ganbench.launchers.process import stop_with_parent
from ganbench.launchers.signals import GracefulStop
from ganbench.results import RunStore
from ganbench.run.train import STARTUP_ENV, train_run


def worker(folder: Path, device: str) -> int:
    """Train the run folder's run on ``device``; 0 when it ended in step."""
    import torch

    stop_with_parent()
    spawned = os.environ.get(SPAWNED_ENV)
    if spawned:  # the interpreter's start and every import until here
        os.environ[STARTUP_ENV] = repr(max(0.0, time.time() - float(spawned)))
    store = RunStore(folder)
    run = RunConfig.model_validate(store.read_config())
    with GracefulStop() as own:

        def should_stop() -> str | None:
            return own.requested() or stop_requested(folder)

        summary = train_run(run, store, torch.device(device), should_stop=should_stop)
    return 0 if summary.status.in_step else 1


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1]), sys.argv[2]))
