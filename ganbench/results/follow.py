"""Reading files a run is still writing: only whole lines, from where the last read
stopped (a launcher's driver following its workers' progress, a live logger following a
run's figures)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any


class Tail:
    """The whole lines added to a file since the last read. A file replaced by another (a
    run trained again in its folder) or cut shorter is read again from its start, and
    ``restarted`` says so until cleared."""

    def __init__(self, path: Path, from_start: bool) -> None:
        self.path = path
        stat = _stat(path)
        self.inode = stat.st_ino if stat else None
        self.offset = stat.st_size if stat and not from_start else 0
        self.restarted = False

    def changed(self) -> bool:
        """Whether the file is now another one, or shorter than what was read."""
        stat = _stat(self.path)
        return stat is not None and (stat.st_ino != self.inode or stat.st_size < self.offset)

    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                stat = os.fstat(f.fileno())
                if stat.st_ino != self.inode or stat.st_size < self.offset:
                    self.restarted = self.inode is not None
                    self.inode, self.offset = stat.st_ino, 0
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return b""
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        return chunk[:end]


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


class EventFollower(Tail):
    """New events of a growing events.jsonl (whole lines only)."""

    def __init__(self, path: Path, from_start: bool = False) -> None:
        """``from_start``: every event, else only those written after now."""
        super().__init__(path, from_start)

    def new_iterations(self) -> list[dict[str, Any]]:
        return [r for r in self.new_events() if r.get("event") == "iteration"]

    def new_events(self) -> list[dict[str, Any]]:
        """Every whole record written since the last call."""
        records = []
        for line in self.read().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # not a whole record (never expected: skipped, not fatal)
        return [r for r in records if isinstance(r, dict)]


class CsvFollower(Tail):
    """New whole rows of a growing CSV file (its header read first), as dicts."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, from_start=True)
        self.header: list[str] | None = None

    def new_rows(self) -> list[dict[str, str]]:
        chunk = self.read()
        if self.offset == len(chunk):  # read from the start: the header comes first again
            self.header = None
        rows = []
        for line in chunk.decode("utf-8", "replace").replace("\0", "").splitlines():
            (row,) = csv.reader([line]) if line else ([],)
            if self.header is None:
                self.header = row
            elif row:
                rows.append(dict(zip(self.header, row, strict=False)))
        return rows
