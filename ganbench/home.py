"""Where ganbench keeps what outlives one command, the same for every command and every
folder it runs from: one folder per user (platformdirs' cache folder, e.g.
``~/.cache/ganbench``; ``$GANBENCH_HOME`` chooses another) holding

    data/                 datasets (``$GANBENCH_DATA`` chooses another data folder)
    cache/classifiers/    fd_classifier's trained classifiers
    cache/reference-stats/  the metrics' reference statistics
    suites.json           the suite folders written, wherever they were written

A folder ganbench used before this existed, ``./data`` with ``ganbench-cache`` in it (or
in a ganbench checkout), is moved in once (``migrate_legacy_data``), said on the console.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

HOME_ENV = "GANBENCH_HOME"
DATA_ENV = "GANBENCH_DATA"
LEGACY_DATA = Path("data")  # the data folder before the home existed, relative to the cwd
LEGACY_CACHE = "ganbench-cache"  # inside it: only ganbench wrote this
LEGACY_DATASETS = ("FashionMNIST", "MNIST", "cifar-10-batches-py", "cifar-10-python.tar.gz")


def home() -> Path:
    """ganbench's folder for this user: $GANBENCH_HOME, else the platform's cache folder."""
    chosen = os.environ.get(HOME_ENV)
    if chosen:
        return Path(chosen).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("ganbench", appauthor=False)


def data_root() -> Path:
    """Where datasets live unless a suite says otherwise: $GANBENCH_DATA, else home/data."""
    chosen = os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else home() / "data"


def cache_dir(kind: str) -> Path:
    """A cache of one kind (``classifiers``, ``reference-stats``): home/cache/<kind>,
    made if missing (UserError naming the fix where it cannot be)."""
    return writable_folder(home() / "cache" / kind)


def writable_folder(path: Path) -> Path:
    """``path``, made if missing; a UserError saying how to choose another place where
    it cannot be made or written (a read-only or foreign HOME, a container's user)."""
    from ganbench.errors import UserError

    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
        why = "not writable by this user"
    except OSError as err:
        why = err.strerror or type(err).__name__
    raise UserError(
        f"{path}: cannot be written ({why}); ganbench keeps data and caches in its home "
        f"{home()}: set {HOME_ENV} (or {DATA_ENV} for the data alone) to a folder you can write"
    )


def migrate_legacy_data(say: Callable[[str], None], cwd: Path | None = None) -> list[str]:
    """Move ganbench's old ``./data`` (marked by its ``ganbench-cache``, or in a ganbench
    checkout, where data/ is ganbench's own) into the home, once: the caches into
    home/cache, the datasets ganbench fetched into home/data. Entries the home already
    has, and anything ganbench did not write, stay where they are. Nothing happens when
    $GANBENCH_DATA names the data folder. Returns the entries moved."""
    cwd = cwd or Path.cwd()
    legacy = cwd / LEGACY_DATA
    if os.environ.get(DATA_ENV) or not legacy.is_dir():
        return []
    if not (legacy / LEGACY_CACHE).is_dir() and not _is_checkout(cwd):
        return []  # nothing says this data/ is ganbench's
    if legacy.resolve() == data_root().resolve():
        return []
    from filelock import FileLock

    try:
        home().mkdir(parents=True, exist_ok=True)
        with FileLock(home() / ".migrate.lock"):
            moved = _move_entries(legacy)
    except OSError as err:  # best effort: the command itself goes on
        say(f"could not move {legacy} into ganbench's home {home()}: {err}")
        return []
    if moved:
        say(
            f"moved {', '.join(moved)} from {legacy} to {home()}: ganbench keeps data and "
            f"caches there now, whichever folder it runs from (${HOME_ENV} to choose)"
        )
    return moved


def _move_entries(legacy: Path) -> list[str]:
    pairs = [(legacy / LEGACY_CACHE / p.name, home() / "cache" / p.name) for p in _entries(legacy)]
    pairs += [(legacy / name, data_root() / name) for name in LEGACY_DATASETS]
    moved = []
    for source, target in pairs:
        if not source.exists() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Under a temporary name first: a move across file systems is a copy, and one
        # cut short must not stand in the home as a complete dataset.
        partial = target.with_name(f".{target.name}.moving")
        if partial.is_dir():
            shutil.rmtree(partial)
        partial.unlink(missing_ok=True)
        shutil.move(str(source), str(partial))
        partial.rename(target)
        moved.append(str(source.relative_to(legacy.parent)))
    for folder in (legacy / LEGACY_CACHE, legacy):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return moved


def _is_checkout(folder: Path) -> bool:
    return (folder / "ganbench" / "home.py").is_file() and (folder / "pyproject.toml").is_file()


def _entries(legacy: Path) -> list[Path]:
    cache = legacy / LEGACY_CACHE
    return sorted(p for p in cache.iterdir() if p.is_dir()) if cache.is_dir() else []
