"""Which suite folders ``ganbench report`` reports when none (or ``--all``) is named."""

from __future__ import annotations

from pathlib import Path

from ganbench.errors import UserError
from ganbench.results.folders import REPORTS, suite_folders


def report_folders(
    named: list[Path], every: bool, root: Path = REPORTS
) -> tuple[list[list[Path]], str]:
    """The reports to build (each a list of folders reported together) and a line saying
    which were chosen and why ("" when the user named them)."""
    if named and every:
        raise UserError("name suite folders or give --all, not both")
    if named:
        return [list(named)], ""
    found = suite_folders(root)
    if not found:
        raise UserError(
            f"no suite folders under {root}/ yet: train a suite first (ganbench train-suite "
            "suites/quick.yaml), or name a folder (ganbench report path/to/suite)"
        )
    if every:
        shown = ", ".join(str(f.path) for f in found)
        return [[f.path] for f in found], f"reporting every suite folder under {root}/: {shown}"
    newest = found[0]
    more = f"; {len(found) - 1} more there (--all, or name one)" if len(found) > 1 else ""
    return [[newest.path]], f"reporting {newest.path}, the suite folder written last{more}"
