"""The suite folders a command names, checked before anything heavy is imported: a folder
that is not there is said at once."""

from __future__ import annotations

from pathlib import Path

from ganbench.errors import UserError


def check_suite_folders(folders: list[Path]) -> None:
    """At least one folder, distinct names when several (their configurations are
    prefixed with them), each one there; else one UserError naming the folder."""
    if not folders:
        raise UserError("report: give at least one suite folder, e.g. reports/quick")
    names = [f.name for f in folders]
    if len(folders) > 1 and len(set(names)) != len(names):
        raise UserError(f"report: suite folders share a name: {', '.join(map(str, folders))}")
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder}: no such suite folder (train it: ganbench train-suite)")
