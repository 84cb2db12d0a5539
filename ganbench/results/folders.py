"""The result folders under ``reports/``: which suites were trained, how far, and which
was written last (what ``report`` and ``latency`` use when no folder is named, and what
``ganbench runs`` lists)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ganbench.results.store import SUITE_FILE, RunStore, read_suite_meta

REPORTS = Path("reports")


@dataclass(frozen=True)
class SuiteFolder:
    path: Path
    name: str
    baseline: str | None
    runs: list[str]  # run ids, in the suite's order
    statuses: dict[str, int]  # status -> runs ("planned": no summary yet)
    changed: float  # the newest write in it (seconds since the epoch)

    def run_store(self, run_id: str) -> RunStore:
        return RunStore(self.path / run_id)


def suite_folders(root: Path = REPORTS) -> list[SuiteFolder]:
    """Every suite folder directly under ``root``, the most recently written first."""
    if not root.is_dir():
        return []
    found = [read_folder(p.parent) for p in root.glob(f"*/{SUITE_FILE}")]
    return sorted(found, key=lambda f: f.changed, reverse=True)


def newest_suite_folder(root: Path = REPORTS) -> SuiteFolder | None:
    folders = suite_folders(root)
    return folders[0] if folders else None


def read_folder(path: Path) -> SuiteFolder:
    meta = read_suite_meta(path)
    runs = [str(r) for r in meta.get("runs", [])]
    statuses: Counter[str] = Counter()
    changed = (path / SUITE_FILE).stat().st_mtime
    for run_id in runs:
        store = RunStore(path / run_id)
        summary = store.read_summary()
        statuses[str(summary.get("status")) if summary else "planned"] += 1
        for file in (store.events, store.summary):
            if file.is_file():
                changed = max(changed, file.stat().st_mtime)
    name = str(meta.get("name", path.name))
    return SuiteFolder(path, name, meta.get("baseline"), runs, dict(statuses), changed)
