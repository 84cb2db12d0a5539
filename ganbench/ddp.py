"""One ``levers.parallel: ddp`` run in N processes.

The suite's process starts torch's own launcher as a subprocess,
``python -m torch.distributed.run --standalone --nproc-per-node N -m ganbench.ddp FOLDER
DEVICE``, and waits. Each worker joins the process group (gloo on CPU, nccl on CUDA, one
GPU per process) and trains the run with ``train_run``; rank 0 writes the run folder as a
one-process run would, the other ranks write only their own error file, GPU samples and
profiler trace (``ReplicaStore``).

While it waits, the suite's process shows rank 0's progress from ``events.jsonl``, passes
a first Ctrl-C on as a stop file that rank 0 reads every iteration (all ranks stop at the
same iteration, with a checkpoint), and records a failed run itself when the launch ends
without a summary. The launcher's output is kept in the run folder as ``ddp.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganbench.config import RunConfig
from ganbench.results import ReplicaStore, RunStatus, RunStore

STOP_FILE = "stop.request"
LOG_FILE = "ddp.log"
POLL_S = 0.2

OnLog = Callable[[dict[str, Any]], None]


def launch(
    run: RunConfig,
    store: RunStore,
    device_type: str,
    processes: int,
    on_log: OnLog | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Train ``run`` in ``processes`` processes; return rank 0's summary (or a failed one)."""
    store.create()
    store.write_config(run.model_dump(mode="json"))  # the workers read the run from here
    store.summary.unlink(missing_ok=True)  # a summary after the launch is this launch's
    stop_file = store.folder / STOP_FILE
    stop_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "ganbench.ddp",
        str(store.folder),
        device_type,
    ]
    follower = _EventFollower(store.events)
    with open(store.folder / LOG_FILE, "w", encoding="utf-8") as log:
        # Its own session: the terminal's Ctrl-C reaches only us; we pass it on (stop file).
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while proc.poll() is None:
                time.sleep(POLL_S)
                if should_stop():
                    stop_file.touch()
                for record in follower.new_iterations():
                    if on_log is not None:
                        on_log({"run_id": run.id, "fraction": _fraction(run, record), **record})
        except KeyboardInterrupt:  # a second Ctrl-C: stop the workers now
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    stop_file.unlink(missing_ok=True)
    summary = store.read_summary()
    if summary is None:
        summary = _record_launch_failure(run, store, proc.returncode, processes)
    return summary


def _record_launch_failure(
    run: RunConfig, store: RunStore, code: int, processes: int
) -> dict[str, Any]:
    from ganbench.train import run_identity  # noqa: PLC0415  (train imports much)

    errors = sorted(p.name for p in store.folder.glob("error*.txt"))
    where = f"{LOG_FILE}" + (f" and {', '.join(errors)}" if errors else "")
    reason = f"the ddp launch exited with code {code} before rank 0 wrote a summary; see {where}"
    summary = {**run_identity(run, "failed", reason), "world_size": processes}
    with store.open_events() as events:
        events.write("end", status="failed", reason=reason)
    store.write_summary(summary)
    return summary


def _fraction(run: RunConfig, record: dict[str, Any]) -> float:
    budget = run.budget
    parts = [
        record["iteration"] / budget.iterations if budget.iterations else 0.0,
        record["epoch"] / budget.epochs if budget.epochs else 0.0,
        record["wall_s"] / budget.wall_seconds if budget.wall_seconds else 0.0,
    ]
    return min(1.0, max(parts))


class _EventFollower:
    """New ``iteration`` events of a growing events.jsonl (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.is_file() else 0

    def new_iterations(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
        return [r for r in records if r.get("event") == "iteration"]


def worker(folder: Path, device_type: str) -> int:
    """One rank of a launched run (``python -m ganbench.ddp FOLDER DEVICE``)."""
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    from ganbench.levers.distributed import init_from_env  # noqa: PLC0415
    from ganbench.train import train_run  # noqa: PLC0415

    replicas, cuda_device = init_from_env(device_type)
    device = cuda_device or torch.device("cpu")
    run = RunConfig.model_validate(RunStore(folder).read_config())
    store = RunStore(folder) if replicas.writes else ReplicaStore(folder, replicas.rank)
    stop_file = folder / STOP_FILE
    try:
        summary = train_run(run, store, device, should_stop=stop_file.exists, replicas=replicas)
    finally:
        dist.destroy_process_group()
    # A rank whose run failed exits non-zero, so the launcher stops the others (which may
    # be waiting for it in an all-reduce).
    return 0 if RunStatus(summary["status"]).in_step else 1


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1]), sys.argv[2]))
