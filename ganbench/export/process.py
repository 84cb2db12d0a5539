"""Live logging from a process of its own, for ``selftest overhead --log``.

``train-suite --log`` logs from the suite's process while every run trains in another
(each launcher's default), so the tools' threads and services never share a training
process's interpreter lock. The overhead self-test times a run inside its own process,
so it starts the same logging in a child (``python -m ganbench.export.process``) to
keep that arrangement: the child follows the run's folder as train-suite's LiveLog does,
and the parent reads the CPU time of the child and of every process the child started
(W&B's service among them). On cores the training keeps busy, that CPU time is the
most the logging can take from training.

The protocol is one line at a time: the child says ``ready`` once the tools are open;
``poll`` asks for a poll now (``polled``); end of input ends the logging, and the child
prints its own figures as JSON on its last line.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

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
    run; ``points``: scalars handed to the tools."""

    def __init__(self, tools: list[str], dest: dict[str, str], folder: Path, every_s: float):
        self.command = [sys.executable, "-m", __name__, str(folder), ",".join(tools),
                        json.dumps(dest), str(every_s)]  # fmt: skip
        self.cpu_s = self.once_cpu_s = 0.0
        self.points = 0
        self._from: float | None = None
        self._start_tail_s = 0.0
        self._child: subprocess.Popen | None = None

    def __enter__(self) -> LogProcess:
        self._child = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._expect("ready")
        return self

    def poll(self) -> None:
        """A poll now (the run opened in every tool), then CPU counted from here on."""
        assert self._child is not None and self._child.stdin is not None
        self._child.stdin.write("poll\n")
        self._child.stdin.flush()
        self._expect("polled")
        polled = tree_cpu_s(self._child.pid)
        self._from = settled_cpu_s(self._child.pid)
        self._start_tail_s = self._from - polled  # the tools' start-up, after their calls

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The child and every process it started stopped (SIGSTOP) for the block, so
        that logging runs only while the training it logs does, as in train-suite."""
        assert self._child is not None
        procs = _tree(self._child.pid)
        for proc in procs:
            proc.suspend()
        try:
            yield
        finally:
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.resume()

    def __exit__(self, kind: object, *exc: object) -> None:
        child = self._child
        assert child is not None and child.stdin is not None and child.stdout is not None
        if kind is not None:  # the timing failed or was stopped: nothing to report
            child.kill()
            child.wait()
            return
        if self._from is not None:
            self.cpu_s = tree_cpu_s(child.pid) - self._from
        try:  # end of input: the child's last poll, its tools closed, its figures
            out, _ = child.communicate(timeout=JOIN_S + 30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise RuntimeError("the logging process did not end") from None
        last = out.strip().splitlines()
        if child.returncode != 0 or not last:
            raise RuntimeError(f"the logging process failed (exit {child.returncode})")
        figures = json.loads(last[-1])
        self.once_cpu_s = figures["once_cpu_s"] + self._start_tail_s
        self.points = figures["points"]

    def _expect(self, word: str) -> None:
        assert self._child is not None and self._child.stdout is not None
        line = self._child.stdout.readline().strip()  # the child always answers or exits
        if line != word:
            self._child.kill()
            raise RuntimeError(f"the logging process failed (said {line or 'nothing'!r})")


def main(argv: list[str]) -> int:
    """FOLDER TOOLS DEST_JSON EVERY_S: log FOLDER live until standard input ends."""
    from ganbench.errors import UserError
    from ganbench.export import open_sinks
    from ganbench.export.live import LiveLog

    folder, tools, dest, every_s = Path(argv[0]), argv[1].split(","), json.loads(argv[2]), argv[3]
    try:
        sinks = open_sinks(tools, dest, replace=False)
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    live = LiveLog(sinks, [folder], float(every_s), lambda text: print(text, file=sys.stderr))
    with live:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "poll":
                live.poll()
                print("polled", flush=True)
    for sink in sinks:
        sink.close()
    figures: dict[str, Any] = {"once_cpu_s": live.once_cpu_s, "points": live.points}
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
