"""Following a run from its folder: the driver of a launcher that trains runs in other
processes (torchrun's workers, Ray tasks) reads their progress from ``events.jsonl`` and
asks them to stop with a stop file naming why (``SIGTERM`` ...)."""

from __future__ import annotations

from pathlib import Path

from ganbench.results import write_atomic
from ganbench.results.follow import EventFollower

__all__ = ["STOP_FILE", "EventFollower", "request_stop", "stop_requested"]

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
