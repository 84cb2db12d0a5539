"""Reading files a run is still writing: only whole lines, from where the last read
stopped (a launcher's driver following its workers' progress, a live logger following a
run's figures)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any


class EventFollower:
    """New events of a growing events.jsonl (whole lines only)."""

    def __init__(self, path: Path, from_start: bool = False) -> None:
        """``from_start``: every event, else only those written after now."""
        self.path = path
        self.offset = path.stat().st_size if path.is_file() and not from_start else 0

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


class CsvFollower:
    """New whole rows of a growing CSV file (its header read once), as dicts."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self.header: list[str] | None = None

    def new_rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        lines = chunk[:end].decode("utf-8", "replace").splitlines()
        if self.header is None and lines:
            self.header = next(csv.reader([lines.pop(0)]))
        return [dict(zip(self.header or [], row, strict=False)) for row in csv.reader(lines)]
