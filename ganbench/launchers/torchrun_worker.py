"""One rank of a ddp run the torchrun launcher started:
``python -m ganbench.launchers.torchrun_worker RUN_FOLDER DEVICE``."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ganbench.config.schema import RunConfig
from ganbench.launchers.follow import stop_requested
from ganbench.launchers.signals import GracefulStop
from ganbench.levers.distributed import init_from_env
from ganbench.results import ReplicaStore, RunStore
from ganbench.run.train import train_run


def worker(folder: Path, device_type: str) -> int:
    """Join the process group, train the run folder's run as this rank; the exit code."""
    replicas, cuda_device = init_from_env(device_type)
    device = cuda_device or torch.device("cpu")
    run = RunConfig.model_validate(RunStore(folder).read_config())
    store = RunStore(folder) if replicas.writes else ReplicaStore(folder, replicas.rank)

    def should_stop() -> str | None:
        return own.requested() or stop_requested(folder)

    try:
        with GracefulStop() as own:
            summary = train_run(run, store, device, should_stop=should_stop, replicas=replicas)
    finally:
        dist.destroy_process_group()
    # A rank whose run failed exits non-zero, so the launcher stops the others (which may
    # be waiting for it in an all-reduce).
    return 0 if summary.status.in_step else 1


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1]), sys.argv[2]))
