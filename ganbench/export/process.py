"""Live logging from a process of its own, for ``selftest overhead --log``.

``train-suite --log`` logs from the suite's process while every run trains in another
(each launcher's default), so the tools' threads and services never share a training
process's interpreter lock. The overhead self-test times a run inside its own process,
so it starts the same logging in a child (``python -m ganbench.export.process``) to
keep that arrangement: the child follows the run's folder as train-suite's LiveLog does,
and the parent reads the CPU time of the child and of every process the child started
(W&B's service among them). On cores the training keeps busy, that CPU time is the
most the logging can take from training.

The protocol is one line at a time, on a pipe of its own (anything the tools print goes
to stderr): the child says ``ready`` once the tools are open; ``poll`` asks for a poll now
(``polled``); end of input ends the logging, and the child sends its own figures as JSON.
A failure of the logging is a warning: the timing it ran beside stands.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from ganbench.errors import UserError
from ganbench.export.live import JOIN_S

START_S = 180.0  # the most the child may take to import and start the tools


def tree_cpu_s(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and of every process below it (those that
    ended before are not counted: read it while they run)."""
    total = 0.0
    for proc in _tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _tree(pid: int) -> list[psutil.Process]:
    """``pid``'s process and every process below it (none once it ended)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def settled_cpu_s(pid: int, quiet_s: float = 0.5, at_most_s: float = 15.0) -> float:
    """``tree_cpu_s`` once the tree has gone quiet (under 1 % of a core for ``quiet_s``):
    a tool's start-up goes on in its threads and services after its call returned (W&B's,
    about 0.4 s of CPU), and belongs to the once-a-run cost, not to the timed blocks."""
    last, waited = tree_cpu_s(pid), 0.0
    while waited < at_most_s:
        time.sleep(quiet_s)
        waited += quiet_s
        now = tree_cpu_s(pid)
        if now - last < 0.01 * quiet_s:
            return now
        last = now
    return last


class LogProcess:
    """Logging ``folder`` to ``tools`` (written where ``dest`` says) from a child process,
    for the ``with`` block. ``cpu_s``: the CPU the child's process tree used between the
    first ``poll`` and the end of the block (periodic writing, the tools' own threads
    and services); ``once_cpu_s``: opening and finishing the run in the tools, once a
    run; ``points``: scalars handed to the tools; ``failed``: why the logging stopped
    early, if it did (the figures are then None)."""

    def __init__(self, tools: list[str], dest: dict[str, str], folder: Path, every_s: float):
        self.command = [sys.executable, "-m", __name__, str(folder), ",".join(tools),
                        json.dumps(dest), str(every_s)]  # fmt: skip
        self.cpu_s: float | None = None
        self.once_cpu_s: float | None = None
        self.points: int | None = None
        self.failed: str | None = None
        self._from: float | None = None
        self._start_tail_s = 0.0
        self._child: subprocess.Popen | None = None
        self._answers: Any = None  # the child's protocol pipe
        self._sigterm: Any = None

    def __enter__(self) -> LogProcess:
        read, write = os.pipe()
        self._child = subprocess.Popen(
            [*self.command, str(write)], stdin=subprocess.PIPE, pass_fds=(write,), text=True
        )
        os.close(write)
        self._answers = os.fdopen(read, encoding="utf-8")
        # A SIGTERM (a CI timeout) unwinds through __exit__, which never leaves the
        # logging processes stopped.
        self._sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            if self._answer(START_S) != "ready":
                raise UserError("live logging could not start (its error is above)")
        except BaseException:
            self._end_tree()
            raise
        return self

    def poll(self) -> None:
        """A poll now (the run opened in every tool), then CPU counted from here on."""
        assert self._child is not None and self._child.stdin is not None
        self._child.stdin.write("poll\n")
        self._child.stdin.flush()
        if self._answer(JOIN_S) != "polled":
            self.failed = "the logging process did not answer a poll"
            return
        polled = tree_cpu_s(self._child.pid)
        self._from = settled_cpu_s(self._child.pid)
        self._start_tail_s = self._from - polled  # the tools' start-up, after their calls

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The child and every process it started stopped (SIGSTOP) for the block, so
        that logging runs beside the instrumented loop only; every one stopped is
        resumed, however the block ends."""
        assert self._child is not None
        stopped: list[psutil.Process] = []
        try:
            for proc in _tree(self._child.pid):
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.suspend()
                    stopped.append(proc)
            yield
        finally:
            for proc in stopped:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.resume()

    def __exit__(self, kind: object, *exc: object) -> None:
        child = self._child
        assert child is not None and child.stdin is not None
        try:
            if kind is not None or self.failed:  # the timing stopped, or the logging did
                return
            if self._from is not None:
                self.cpu_s = tree_cpu_s(child.pid) - self._from
            child.stdin.close()  # end of input: the last poll, the tools closed, figures
            last = self._answer(JOIN_S + 30)
            if child.wait(JOIN_S) != 0 or not last.startswith("{"):
                self.failed = f"the logging process ended with exit code {child.returncode}"
                return
            figures = json.loads(last)
            self.once_cpu_s = figures["once_cpu_s"] + self._start_tail_s
            self.points = figures["points"]
        except (subprocess.TimeoutExpired, OSError, ValueError) as err:
            self.failed = f"the logging process did not end ({type(err).__name__})"
        finally:
            self._end_tree()

    def _answer(self, timeout_s: float) -> str:
        """The child's next line ("" if it has none within ``timeout_s`` or ended)."""
        ready, _, _ = select.select([self._answers], [], [], timeout_s)
        return self._answers.readline().strip() if ready else ""

    def _end_tree(self) -> None:
        """Every process of the logging gone (resumed first, should one be stopped), the
        pipes closed, SIGTERM's handler put back."""
        if self._child is not None:
            for proc in reversed(_tree(self._child.pid)):
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            self._child.wait()
            if self._child.stdin is not None and not self._child.stdin.closed:
                with contextlib.suppress(OSError):
                    self._child.stdin.close()
        if self._answers is not None:
            self._answers.close()
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


TICK_S = 0.1


@contextlib.contextmanager
def _paced(live: Any, every_s: float) -> Iterator[None]:
    """``live`` polled after every ``every_s`` seconds this process ran: counted in ticks,
    a stop (SIGSTOP, while the bare blocks are timed) adds one tick at most, so the
    instrumented blocks see a poll as often as a run in train-suite does, not the polls
    due while the logging was stopped as well."""
    stop = threading.Event()

    def pace() -> None:
        running, last = 0.0, time.monotonic()
        while not stop.wait(TICK_S):
            now = time.monotonic()
            running, last = running + min(now - last, 2 * TICK_S), now
            if running >= every_s:
                running = 0.0
                live.poll()

    thread = threading.Thread(target=pace, name="ganbench-log-pace", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(JOIN_S)  # a poll a tool holds up: the last poll still follows


def main(argv: list[str]) -> int:
    """FOLDER TOOLS DEST_JSON EVERY_S ANSWER_FD: log FOLDER live until standard input ends,
    answering on ANSWER_FD (what the tools print goes to stderr)."""
    from ganbench.export import open_sinks
    from ganbench.export.live import LiveLog

    folder, tools, dest, every_s = Path(argv[0]), argv[1].split(","), json.loads(argv[2]), argv[3]
    os.set_inheritable(int(argv[4]), False)  # the tools' services do not hold it open
    answers = os.fdopen(int(argv[4]), "w", encoding="utf-8")
    os.dup2(2, 1)  # the tools' own output (and their services') to stderr, not the protocol
    try:
        sinks = open_sinks(tools, dest, replace=False)
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    # Its own polling paced by running time (below), not by the clock.
    live = LiveLog(sinks, [folder], 1e9, lambda text: print(text, file=sys.stderr))
    with live, _paced(live, float(every_s)):
        print("ready", file=answers, flush=True)
        for line in sys.stdin:
            if line.strip() == "poll":
                live.poll()
                print("polled", file=answers, flush=True)
    for sink in sinks:
        sink.close()
    figures: dict[str, Any] = {"once_cpu_s": live.once_cpu_s, "points": live.points}
    print(json.dumps(figures), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
