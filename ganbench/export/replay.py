"""``ganbench export``: a suite folder's runs, as far as each got, into a tool."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import UserError
from ganbench.export.feed import RunFeed, final_figures, has_started, profile_trace, run_info
from ganbench.export.sink import RunWriter, Sink
from ganbench.results.folders import read_folder
from ganbench.results.store import SUITE_FILE


@dataclass(frozen=True)
class Exported:
    """One run written: its id, its scalar series and points, its sample grids."""

    run_id: str
    series: int
    points: int
    samples: int


def run_folders(folder: Path) -> list[Path]:
    """The suite's runs that started (an events file), in the suite's order (a folder
    without suite.json: by name); a missing folder or a run's folder is a UserError."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such suite folder (train one: ganbench train-suite)")
    if (folder / "events.jsonl").is_file():
        raise UserError(f"{folder} is a run's folder: export its suite, {folder.parent}")
    named = read_folder(folder).runs if (folder / SUITE_FILE).is_file() else []
    runs = named or sorted(p.name for p in folder.iterdir() if p.is_dir())
    started = [folder / r for r in runs if has_started(folder / r)]
    if not started:
        raise UserError(f"{folder}: no run in it has started (nothing to export)")
    return started


def export_run(sink: Sink, run: Path) -> Exported:
    """Everything ``run`` recorded, through a new writer (closed, or discarded on error)."""
    info = run_info(run)
    feed = RunFeed(run)
    batch = feed.poll()
    writer = sink.open_run(info)
    try:
        writer.write(batch)
        close_out(writer, feed, batch.ended)
    except BaseException:
        discard(writer)
        raise
    writer.close()
    return Exported(
        info.run_id, len({p.name for p in batch.points}), len(batch.points), len(batch.samples)
    )


def close_out(writer: RunWriter, feed: RunFeed, ended: str | None) -> None:
    """The run's final figures, status (``ended``: its end event's, else its summary's)
    and trace, from this attempt's summary only."""
    summary = feed.summary() or {}
    status = ended or summary.get("status")
    writer.finish(final_figures(summary), status, profile_trace(feed.folder))


def discard(writer: RunWriter) -> None:
    try:
        writer.discard()
    except Exception:  # noqa: BLE001  (the first error is the one to report)
        pass
