"""The suite folders ganbench wrote: which suites were trained, how far, and which was
written last (what ``report``, ``check``, ``latency`` and ``baseline save`` use when no
folder is named, and what ``ganbench runs`` lists). Every suite folder is remembered in
ganbench's home (``suites.json``) when it is written, wherever it is, so a command finds
it from any folder; ``./reports`` is searched as well."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ganbench.home import home
from ganbench.results.store import SUITE_FILE, RunStore, read_suite_meta, write_atomic

REPORTS = Path("reports")
REMEMBERED = "suites.json"  # in ganbench's home: the suite folders written, newest first
REMEMBER_AT_MOST = 200


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


def remember_suite_folder(path: Path) -> None:
    """Note in ganbench's home that ``path`` holds a suite folder. Best effort: a home
    that cannot be written costs the memory, never the run."""
    from filelock import FileLock, Timeout

    index = home() / REMEMBERED
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{index}.lock", timeout=10):
            paths = [str(path.resolve())] + remembered_paths()
            kept = list(dict.fromkeys(paths))[:REMEMBER_AT_MOST]
            write_atomic(index, json.dumps(kept, indent=1) + "\n")
    except (OSError, Timeout):
        return


def remembered_paths() -> list[str]:
    """The suite folders written, newest first, as remembered (some may be gone)."""
    try:
        paths = json.loads((home() / REMEMBERED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def suite_folders(root: Path | None = None) -> list[SuiteFolder]:
    """The suite folders directly under ``root``; with none, every one known (remembered
    in ganbench's home, or under ./reports); the most recently written first."""
    if root is not None:
        candidates = sorted(root.glob(f"*/{SUITE_FILE}")) if root.is_dir() else []
    else:
        candidates = [Path(p) / SUITE_FILE for p in remembered_paths()]
        candidates += sorted(REPORTS.glob(f"*/{SUITE_FILE}")) if REPORTS.is_dir() else []
    found: dict[Path, SuiteFolder] = {}
    for meta in candidates:
        key = meta.parent.resolve()
        if key not in found and meta.is_file():
            found[key] = read_folder(shown(meta.parent))
    return sorted(found.values(), key=lambda f: f.changed, reverse=True)


def newest_suite_folder(root: Path | None = None) -> SuiteFolder | None:
    folders = suite_folders(root)
    return folders[0] if folders else None


def shown(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it, else absolute."""
    absolute = path.resolve()
    cwd = Path.cwd().resolve()
    return Path(os.path.relpath(absolute, cwd)) if absolute.is_relative_to(cwd) else absolute


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
