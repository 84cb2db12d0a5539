"""The suite folders ganbench wrote: which suites were trained, how far, and which was
written last (what ``report``, ``check``, ``latency`` and ``baseline save`` use when no
folder is named, and what ``ganbench runs`` lists). Every suite folder is remembered in
ganbench's home (``suites.json``) when it is written, wherever it is, with the folder
train-suite ran from. A command with nothing named takes the folders written from its
own working folder, and ``./reports``; only where there are none, every one remembered
(so another project's runs on a shared machine are not taken where this one has its own).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ganbench.home import home
from ganbench.results.store import SUITE_FILE, RunStore, read_suite_meta, write_atomic

REPORTS = Path("reports")
REMEMBERED = "suites.json"  # in ganbench's home: [{path, cwd}] of suite folders, newest first
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
    entry = {"path": str(path.resolve()), "cwd": str(Path.cwd().resolve())}
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{index}.lock", timeout=10):
            kept = [entry] + [e for e in remembered() if e["path"] != entry["path"]]
            write_atomic(index, json.dumps(kept[:REMEMBER_AT_MOST], indent=1) + "\n")
    except (OSError, Timeout):
        return


def remembered() -> list[dict[str, str]]:
    """The suite folders written ({path, cwd}), newest first (some may be gone)."""
    try:
        entries = json.loads((home() / REMEMBERED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and {"path", "cwd"} <= e.keys()]


def suite_folders(root: Path | None = None) -> list[SuiteFolder]:
    """The suite folders directly under ``root``; with none, those written from this
    working folder or under ./reports, else every one remembered; newest first."""
    if root is not None:
        return _read_all(sorted(root.glob(f"*/{SUITE_FILE}")) if root.is_dir() else [])
    cwd = str(Path.cwd().resolve())
    local = sorted(REPORTS.glob(f"*/{SUITE_FILE}")) if REPORTS.is_dir() else []
    here = [Path(e["path"]) / SUITE_FILE for e in remembered() if e["cwd"] == cwd]
    return _read_all(here + local) or _read_all(
        [Path(e["path"]) / SUITE_FILE for e in remembered()]
    )


def _read_all(candidates: list[Path]) -> list[SuiteFolder]:
    """Each suite folder once, the most recently written first; one that vanishes or
    cannot be read meanwhile is left out, not an error."""
    found: dict[Path, SuiteFolder] = {}
    for meta in candidates:
        try:
            key = meta.parent.resolve()
            if key not in found and meta.is_file():
                found[key] = read_folder(shown(meta.parent))
        except OSError:
            continue
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
