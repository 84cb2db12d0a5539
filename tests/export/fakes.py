"""A tool in memory, for the live log's tests: what each run was given, and a tool whose
every run fails on its second write (``dest="broken"``: a full disk in its folder)."""

from __future__ import annotations

from ganbench.export.feed import Batch, RunInfo
from ganbench.export.sink import RunWriter, Sink


class Recording(Sink):
    name = "recording"

    def __init__(self, dest: str | None, replace: bool) -> None:
        super().__init__(dest, replace)
        self.runs: list[RecordingRun] = []

    def open_run(self, info: RunInfo) -> RunWriter:
        self.runs.append(RecordingRun(info, broken=self.dest == "broken"))
        return self.runs[-1]


class RecordingRun(RunWriter):
    def __init__(self, info: RunInfo, broken: bool = False) -> None:
        self.info, self.broken = info, broken
        self.points, self.writes, self.status, self.closed = [], 0, "open", False

    def write(self, batch: Batch) -> None:
        self.writes += 1
        if self.broken and self.writes > 1:
            raise OSError(28, "No space left on device")
        if batch.resumed_at is not None:
            self.points = [p for p in self.points if p.step <= batch.resumed_at]
        self.points += batch.points

    def finish(self, figures, status, trace) -> None:
        self.status = status

    def close(self) -> None:
        self.closed = True
