"""Which suite folders ``ganbench report`` reports when none (or ``--all``) is named."""

from __future__ import annotations

from pathlib import Path

from ganbench.errors import UserError
from ganbench.results import read_suite_meta
from ganbench.results.folders import suite_folders

BASELINES = Path("baselines")  # a suite's baseline by default: baselines/<suite>.json


def report_folders(
    named: list[Path], every: bool, root: Path | None = None, command: str = "report"
) -> tuple[list[list[Path]], str]:
    """The reports to build (each a list of folders reported together) and a line saying
    which were chosen and why ("" when the user named them); ``command``: the ganbench
    command asking, for the hint when there is no folder."""
    if named and every:
        raise UserError("name suite folders or give --all, not both")
    if named:
        return [list(named)], ""
    found = suite_folders(root)
    where = "known" if root is None else f"under {root}/"
    if not found:
        raise UserError(
            f"no suite folders {where} yet: train a suite first (ganbench train-suite "
            f"quick), or name a folder (ganbench {command} path/to/suite)"
        )
    if every:
        shown = ", ".join(str(f.path) for f in found)
        return [[f.path] for f in found], f"reporting every suite folder {where}: {shown}"
    newest = found[0]
    more = f"; {len(found) - 1} more there (--all, or name one)" if len(found) > 1 else ""
    return [[newest.path]], f"reporting {newest.path}, the suite folder written last{more}"


def newest_folder(root: Path | None = None, command: str = "check") -> tuple[Path, str]:
    """The suite folder written last, and a line saying so."""
    (group,), why = report_folders([], False, root, command)
    return group[0], why.replace("reporting", "using", 1)


def default_baseline(folder: Path) -> Path:
    """Where a suite's baseline lives unless named: baselines/<suite name>.json."""
    return BASELINES / f"{read_suite_meta(folder).get('name') or folder.name}.json"


def check_inputs(folder: Path | None, baseline: Path | None) -> tuple[Path, Path, str]:
    """``ganbench check`` as typed: the newest suite folder against its suite's baseline
    in baselines/, or what was named; and a line saying what was chosen ("" if named)."""
    chosen = folder is None or baseline is None
    if folder is None:
        folder, _ = newest_folder()
    if baseline is None:
        baseline = default_baseline(folder)
        if not baseline.is_file():
            raise UserError(
                f"no baseline for {folder} at {baseline}: save one from runs you trust "
                f"(ganbench baseline save {folder}, then commit {baseline}), or name one "
                "(--baseline FILE)"
            )
    return folder, baseline, f"checking {folder} against {baseline}" if chosen else ""
