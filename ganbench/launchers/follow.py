"""Following a run from its folder: the driver of a launcher that trains runs in other
processes (torchrun's workers, Ray tasks) reads their progress from ``events.jsonl`` and
asks them to stop with a stop file naming why (``SIGTERM`` ...)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ganbench.results import write_atomic

STOP_FILE = "stop.request"


def request_stop(folder: Path, why: str) -> None:
    """Ask the run training in ``folder`` to stop (written whole: never read half-written;
    a worker's start-of-run cleanup leaves this write's temp file alone)."""
    write_atomic(folder / STOP_FILE, why)


def stop_requested(folder: Path) -> str | None:
    """What the run folder's stop file names, or None without one."""
    try:
        return (folder / STOP_FILE).read_text(encoding="utf-8").strip() or "a stop request"
    except FileNotFoundError:
        return None
    except OSError:
        return "a stop request"


class EventFollower:
    """New events of a growing events.jsonl (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.is_file() else 0

    def new_iterations(self) -> list[dict[str, Any]]:
        return [r for r in self.new_events() if r.get("event") == "iteration"]

    def new_events(self) -> list[dict[str, Any]]:
        """Every whole record written since the last call."""
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < self.offset:  # a torn last line was cut: go on from the cut
                self.offset = size
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # not a whole record (never expected: skipped, not fatal)
        return [r for r in records if isinstance(r, dict)]
