"""Process faults on real processes: preemption signals (SIGTERM, SIGUSR2), two processes
on one suite folder, and a lock left by a process that died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch

from ganbench.results import RunStore, read_events
from ganbench.results.lock import HOLDER_FILE, FolderLock
from tests.cli.test_commands import invoke, long_suite, start, wait_for
from tests.conftest import tiny_suite


def finish(path: Path, target: int, *extra: str) -> None:
    result = invoke("train-suite", str(path), "--set", f"budget.iterations={target}", *extra)
    assert result.exit_code == 0, result.output


def test_sigterm_checkpoints_and_the_resume_is_bit_identical(write_suite, tmp_path) -> None:
    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)
    wait_for(store, 20, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143, proc.stdout.read().decode()
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == "interrupted"
    assert "SIGTERM" in summary["reason"]
    stopped = summary["iterations"]
    assert store.load_checkpoint()["train"]["iteration"] == stopped
    assert read_events(store.events)[-1]["event"] == "end"

    target = stopped + 7
    finish(path, target)
    reference = tmp_path / "reference"
    finish(path, target, "--set", f"output_dir={reference}")
    resumed = store.load_checkpoint()
    straight = RunStore(reference / "tiny-seed0").load_checkpoint()
    assert resumed["train"]["iteration"] == straight["train"]["iteration"] == target
    for net in ("G", "D"):
        for key, value in straight[net].items():
            assert torch.equal(resumed[net][key], value), (net, key)


def test_a_second_process_on_a_busy_suite_is_refused(write_suite) -> None:
    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)
    try:
        wait_for(store, 10, proc)
        second = invoke("train-suite", str(path))
        assert second.exit_code == 2, second.output
        message = " ".join(second.output.split())
        assert f"pid {proc.pid} on host" in message and "in use by" in message
        # SIGUSR2 (Slurm's warning ahead of a kill) stops the first one cleanly too.
        proc.send_signal(signal.SIGUSR2)
        assert proc.wait(timeout=60) == 128 + signal.SIGUSR2
    finally:
        proc.kill()
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == "interrupted" and "SIGUSR2" in summary["reason"]
    events = read_events(store.events)
    assert [e["event"] for e in events].count("start") == 1
    iterations = [e["iteration"] for e in events if e["event"] == "iteration"]
    assert iterations == sorted(set(iterations))  # one stream, no interleaving
    assert not (store.folder.parent / HOLDER_FILE).exists()  # released on the way out


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    code = (
        "import os, sys; from pathlib import Path; "
        "from ganbench.results.lock import FolderLock; "
        "FolderLock(Path(sys.argv[1])).__enter__(); os.kill(os.getpid(), 9)"
    )
    dead = subprocess.run([sys.executable, "-c", code, str(folder)], check=False)
    assert dead.returncode == -9
    holder = json.loads((folder / HOLDER_FILE).read_text())
    with FolderLock(folder) as lock:
        assert lock.took_over == holder
        assert f"pid {holder['pid']} on host" in lock.describe_previous()
        assert json.loads((folder / HOLDER_FILE).read_text())["pid"] == os.getpid()
        with FolderLock(folder):  # nested in the holder: held once, still held after
            pass
        other = subprocess.run(
            [sys.executable, "-c", code.replace("os.kill(os.getpid(), 9)", "0"), str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert other.returncode == 1
        assert f"in use by pid {os.getpid()} on host" in other.stderr
    assert not (folder / HOLDER_FILE).exists()


@pytest.mark.parametrize(
    ("stop", "who"),
    [(signal.SIGTERM, "all"), (signal.SIGUSR2, "all"), (signal.SIGTERM, "workers")],
)
def test_a_scheduler_signalling_ddp_processes_gets_one_clean_stop(write_suite, stop, who):
    """Slurm signals every process of the job: the suite's, torchrun's agent and each
    worker (or a node's workers only). All ranks stop at one iteration with a checkpoint;
    nothing dies early; the exit code names the signal either way."""
    suite = tiny_suite(
        budget={"iterations": 1_000_000, "wall_seconds": 120},
        checkpoint={"every_iterations": 10, "every_seconds": None},
        levers={"parallel": "ddp"},
        log_every=5,
    )
    path = write_suite(suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "ganbench", "train-suite", str(path), "--nproc-per-node", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(store, 10, proc, limit_s=120)
        agent = psutil.Process(proc.pid).children()
        workers = [p.pid for a in agent for p in a.children(recursive=True)]
        assert len(agent) == 1 and len(workers) >= 2
        tree = [proc.pid, agent[0].pid, *workers] if who == "all" else workers
        for pid in tree:
            os.kill(pid, stop)
        assert proc.wait(timeout=120) == 128 + stop, proc.stdout.read().decode()
    finally:
        proc.kill()
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == "interrupted", summary["reason"]
    assert stop.name in summary["reason"] and summary["ranks_in_sync"] is True
    assert store.load_checkpoint()["train"]["iteration"] == summary["iterations"]
