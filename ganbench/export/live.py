"""``train-suite --log``: a thread of the process that launched the runs follows each run
folder's files and writes what is new to every tool, every few seconds and once more
when training ends. The training loop does nothing for it (its events are written
anyway); a tool that fails stops for that run with one warning, and training and
ganbench's own files go on as if it were not there."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from ganbench.export.feed import RunFeed, attempt_began, run_info
from ganbench.export.replay import close_out, discard
from ganbench.export.sink import RunWriter, Sink

Warn = Callable[[str], None]
JOIN_S = 60.0  # the most the end of training waits for the logging thread


class LiveLog:
    """Follows ``folders`` (runs not started yet included) for the ``with`` block; does
    nothing without sinks."""

    def __init__(self, sinks: list[Sink], folders: list[Path], every_s: float, warn: Warn) -> None:
        self.sinks, self.folders, self.every_s, self.warn = sinks, folders, every_s, warn
        self.feeds: dict[Path, RunFeed] = {}
        self.writers: dict[tuple[Sink, Path], RunWriter | None] = {}  # None: off for the run
        self.ended: dict[Path, str | None] = {}
        self.done: set[Path] = set()
        self.since = time.time()
        self.cpu_s = 0.0  # CPU seconds polling (the logging thread's cost to the machine)
        self.once_cpu_s = 0.0  # of which opening and finishing runs in the tools
        self.points = 0  # scalars handed to the tools (each tool's counted)
        self._lock = threading.Lock()  # one poll at a time (the thread's, or a caller's)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ganbench-live-log", daemon=True)

    def __enter__(self) -> LiveLog:
        if self.sinks:
            self._thread.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if not self.sinks:
            return
        self._stop.set()
        if kind is KeyboardInterrupt:  # stopped at once: no waiting for the tools
            return
        self._thread.join(JOIN_S)
        if self._thread.is_alive():  # a tool not answering: training's end does not wait
            self.warn(f"live logging did not finish within {JOIN_S:.0f} s; ganbench export "
                      "writes what is missing")  # fmt: skip
            return
        self.poll(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.poll()

    def poll(self, final: bool = False) -> None:
        """What each run wrote since the last poll, to every tool; a run that ended is
        finished and closed once its summary is written (``final``: every run closed)."""
        with self._lock:
            started = time.thread_time()
            for folder in self.folders:
                feed = self._feed(folder)
                if feed is None or (folder in self.done and not feed.events.changed()):
                    continue
                self.done.discard(folder)
                try:
                    self._poll_run(folder, feed, final)
                except Exception as err:  # noqa: BLE001  (unreadable files never stop training)
                    self.done.add(folder)
                    self.warn(f"logging {folder.name} stopped ({type(err).__name__}: {err})")
            self.cpu_s += time.thread_time() - started

    def _poll_run(self, folder: Path, feed: RunFeed, final: bool) -> None:
        batch = feed.poll()
        if batch.restarted:  # trained again in its folder: a new run in every tool
            self._close_run(folder)
        if batch.resumed_at is not None:
            self.ended.pop(folder, None)
        ended = self.ended[folder] = batch.ended or self.ended.get(folder)
        for sink in self.sinks:  # opened as soon as the run starts, written when it logs
            self._deliver(sink, folder, lambda writer: writer.write(batch) if batch else None)
        self.points += len(batch.points) * len(self.sinks)
        if ended and feed.summary() is not None:
            self.done.add(folder)
            for sink in self.sinks:
                self._deliver(sink, folder, lambda w: close_out(w, feed, ended), last=True)
        elif final:  # still training elsewhere (a detached Slurm job): closed, not finished
            self._close_run(folder)

    def _close_run(self, folder: Path) -> None:
        for sink in self.sinks:
            if self.writers.get((sink, folder)) is not None:
                self._deliver(sink, folder, lambda writer: None, last=True)
            self.writers.pop((sink, folder), None)

    def _feed(self, folder: Path) -> RunFeed | None:
        """A run's feed, once this invocation started or resumed it (runs done before were
        logged by the invocation that trained them; a resumed run is read from its start,
        so every tool gets it whole)."""
        if folder not in self.feeds:
            events = folder / "events.jsonl"
            # (a file's mtime is the kernel's coarse clock: a few ms behind time.time())
            if not events.is_file() or events.stat().st_mtime < self.since - 1.0:
                return None
            began = attempt_began(folder)
            if began is None or began < self.since - 1.0:
                return None
            self.feeds[folder] = RunFeed(folder)
        return self.feeds[folder]

    def _deliver(self, sink: Sink, folder: Path, act: Callable, last: bool = False) -> None:
        """``act`` on the run's writer in ``sink`` (opened on first use); a failure is one
        warning and that tool's end for the run."""
        key = (sink, folder)
        if key in self.writers and self.writers[key] is None:
            return
        writer = None
        try:
            writer = self.writers.get(key) or self._timed(sink.open_run, run_info(folder))
            self.writers[key] = writer
            if last:
                self._timed(_act_and_close, act, writer)
                self.writers[key] = None
            else:
                act(writer)
        except Exception as err:  # noqa: BLE001  (a tool's failure never stops training)
            self.writers[key] = None
            if writer is not None:
                discard(writer)
            self.warn(
                f"{sink.name}: logging {folder.name} stopped ({type(err).__name__}: {err}); "
                f"training and its files are not affected (later: ganbench export "
                f"{folder.parent} --to {sink.name})"
            )

    def _timed(self, call: Callable, *args: object) -> object:
        """``call``'s result; its CPU time counted as once a run (opening, finishing)."""
        started = time.thread_time()
        try:
            return call(*args)
        finally:
            self.once_cpu_s += time.thread_time() - started


def _act_and_close(act: Callable, writer: RunWriter) -> None:
    act(writer)
    writer.close()
