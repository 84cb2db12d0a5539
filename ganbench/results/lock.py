"""One writer per results folder: a suite folder is locked by the process that drives the
suite, a run folder by the process that trains the run (several may share one suite
under launchers that spread runs over processes or machines).

The lock is the operating system's (``filelock``: ``flock`` on Linux, also over NFS v4),
so a process that dies, even by ``kill -9``, releases it. Beside it a small JSON file
names the holder (host, pid, start time, command) for the message a second process
gets; finding that file while the lock is free means its holder died without cleaning
up, and the lock is taken over (``took_over`` names the dead holder).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ganbench.errors import UserError
from ganbench.results.store import write_atomic

LOCK_FILE = ".ganbench.lock"
HOLDER_FILE = ".ganbench.lock.json"
_HELD: dict[Path, int] = {}  # lock files this process holds, and how many times entered


class FolderLock:
    """``with FolderLock(folder):`` raises ``UserError`` (exit 2) naming the holder when
    another process holds ``folder``; nested in this process, it is held once."""

    def __init__(self, folder: Path, what: str = "folder") -> None:
        self.folder = folder
        self.what = what
        self.took_over: dict[str, Any] | None = None
        self._lock = FileLock(folder / LOCK_FILE, timeout=0)
        self._holder = folder / HOLDER_FILE

    def __enter__(self) -> FolderLock:
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = (self.folder / LOCK_FILE).resolve()
        if _HELD.get(self._key):  # this process holds it already (plan, then run)
            _HELD[self._key] += 1
            return self
        try:
            self._lock.acquire()
        except Timeout:
            raise UserError(
                f"{self.folder}: this {self.what} is in use by {describe_holder(self._holder)}; "
                "wait for it to end or stop it (its results are kept), or use another "
                "output_dir"
            ) from None
        self.took_over = read_holder(self._holder)
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
        }
        write_atomic(self._holder, json.dumps(holder) + "\n")
        _HELD[self._key] = 1
        return self

    def __exit__(self, *exc: object) -> None:
        _HELD[self._key] -= 1
        if _HELD[self._key]:
            return
        del _HELD[self._key]
        self._holder.unlink(missing_ok=True)
        self._lock.release()
        if self._created and {p.name for p in self.folder.iterdir()} <= {LOCK_FILE}:
            # Nothing was written under the lock (a refused plan): leave no folder behind.
            (self.folder / LOCK_FILE).unlink(missing_ok=True)
            self.folder.rmdir()

    def describe_previous(self) -> str:
        """What taking over a dead holder's lock means, for the console."""
        return (
            f"the lock of {_describe(self.took_over)} was left behind (that process ended "
            "without releasing it: killed?); taken over, its unfinished runs resume"
        )


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def describe_holder(path: Path) -> str:
    """``pid 12 on host h since 2026-12-02 15:40:01 UTC (ganbench train-suite x.yaml)``."""
    return _describe(read_holder(path))


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another process (it has not named itself yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')} since {since} "
        f"({holder.get('command', '?')})"
    )


@contextlib.contextmanager
def building(path: Path) -> Iterator[None]:
    """Held while the cache file ``path`` is built (a classifier, reference statistics):
    another process (or thread) wanting the same file waits here, then finds it built,
    so N runs starting together build it once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        yield
