"""A run trained by a child process of the suite's: started, followed and stopped.

The inline launcher trains each run in a process of its own (``run_worker``), torchrun's
agent trains a ddp run in N; either way the suite's process starts the command in a new
session (the terminal's Ctrl-C reaches only the suite's process), shows the run's
progress from its ``events.jsonl``, passes a first stop signal on as a stop file naming
it (the run checkpoints and stops), and stops the child when it fails itself. The
child's output is kept in the run folder. The child gets SIGTERM when the suite's
process dies, even by kill -9.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ganbench.launchers.base import Observer, StopSignal
from ganbench.launchers.follow import STOP_FILE, EventFollower, request_stop
from ganbench.run.plan import RunPlan

POLL_S = 0.2
PARENT_ENV = "GANBENCH_PARENT_PID"  # the suite's process, as its child sees it


def follow_child(
    plan: RunPlan,
    command: list[str],
    log_name: str,
    observer: Observer | None,
    stop: StopSignal,
    env: dict[str, str],
    owns_stop_file: bool = True,
    preexec: Callable[[], None] | None = None,
) -> int:
    """Run ``command`` for ``plan``'s run and follow it to its end; its exit code. The
    stop file is the suite's (a stale one removed first) unless ``owns_stop_file`` is
    false (a Ray or Slurm task's: the driver may write it at any moment). ``preexec``
    runs in the child before it starts (only for a child that cannot set up its own
    signals, such as torchrun's agent: Python code between fork and exec is unsafe
    while other threads run)."""
    store = plan.store
    stop_file = store.folder / STOP_FILE
    if owns_stop_file:
        stop_file.unlink(missing_ok=True)
    follower = EventFollower(store.events)
    budget = plan.run.budget
    with open(store.folder / log_name, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command,
            env={**os.environ, PARENT_ENV: str(os.getpid()), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
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
        except BaseException:  # a second Ctrl-C, or this process failing: the child goes too
            stop_child(proc)
            raise
    if owns_stop_file:
        stop_file.unlink(missing_ok=True)
    return proc.returncode


def agent_signals() -> None:
    """In torchrun's agent, before it starts: SIGUSR2 ignored (the agent would die of it;
    its workers stop on it themselves), and SIGTERM when the suite's process dies."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    term_with_parent()


def term_with_parent() -> None:
    """SIGTERM to this process when its parent dies (even by kill -9; Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_with_parent() -> None:
    """In a child started by ``follow_child``, first thing: SIGTERM when the suite's
    process dies (its runs checkpoint and stop), and at once if it died already."""
    term_with_parent()
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is not None and os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)


def stop_child(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (runs checkpoint), SIGKILL after a minute."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def python_module(module: str, *args: str | Path) -> list[str]:
    """The command that runs ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]
