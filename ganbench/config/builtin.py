"""The suites ganbench ships, as package data (``ganbench/suites/*.yaml``; a checkout's
``suites/`` points there): found by bare name from any folder, listed by ``ganbench
suites``, copied to edit by ``ganbench init``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ganbench.errors import UserError

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"
LOCAL_SUITES = Path("suites")  # a project's own suites folder, looked in for a bare name


@dataclass(frozen=True)
class BuiltinSuite:
    name: str
    path: Path
    description: str


def builtin_suites() -> list[BuiltinSuite]:
    """Every shipped suite, by name, with its one-line description."""
    found = []
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found.append(BuiltinSuite(path.stem, path, str(data.get("description", ""))))
    return found


def builtin_names() -> str:
    """The shipped suites' names, for messages: "growth, quick, ..."."""
    return ", ".join(path.stem for path in sorted(SUITES_DIR.glob("*.yaml")))


def builtin_path(name: str) -> Path | None:
    path = SUITES_DIR / f"{name}.yaml"
    return path if path.is_file() else None


def find_suite(path: Path) -> Path:
    """The suite file meant by ``path``: a file that exists, as given; a bare name
    (``quick``) in ./suites, else the built-in one; ``suites/NAME.yaml`` typed where no
    such file is (outside a checkout), the built-in NAME. Else ``path`` as given."""
    if path.is_file():
        return path
    if len(path.parts) == 1 and not path.suffix:
        local = LOCAL_SUITES / f"{path}.yaml"
        return local if local.is_file() else builtin_path(path.name) or path
    if path.parent == LOCAL_SUITES and path.suffix == ".yaml":
        return builtin_path(path.stem) or path
    return path


def not_found(path: Path) -> str:
    """The message for a suite file that is not there, naming the built-in ones."""
    return (
        f"{path}: suite file not found (built-in suites, by name from any folder: "
        f"{builtin_names()}; "
        "`ganbench suites` describes them, `ganbench init NAME` copies one to edit)"
    )


SUITE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # as SuiteFile.name allows


def copy_suite(name: str, dest: str | None = None, force: bool = False) -> Path:
    """Copy the built-in suite ``name`` to ``dest`` (a file; a folder, existing or
    written with a trailing slash, to put NAME.yaml in; default ./NAME.yaml) and return
    where it went. A file named otherwise gets its stem as the suite's ``name:``, so its
    results do not land in the built-in's folder."""
    source = builtin_path(name)
    if source is None:
        raise UserError(f"init: unknown suite {name!r} (choose: {builtin_names()})")
    target = Path(dest) if dest else Path(f"{name}.yaml")
    if target.is_dir() or (dest or "").endswith(("/", os.sep)):
        target = target / f"{name}.yaml"
    if not re.fullmatch(SUITE_NAME, target.stem):
        raise UserError(
            f"init: {target.name!r} cannot name a suite (letters, digits, '_', '.', '-'; "
            "the file's name becomes the suite's): choose another DEST"
        )
    if target.exists() and not force:
        raise UserError(f"init: {target} already exists (another DEST, or --force to replace)")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = source.read_text(encoding="utf-8")
    if target.stem != name:
        text = re.sub(
            rf"^name: {re.escape(name)}$", f"name: {target.stem}", text, count=1, flags=re.M
        )
    target.write_text(text, encoding="utf-8")
    return target
