"""``--format`` for ``report``, ``check`` and ``latency``: the terminal tables (``table``),
or one document on stdout for machines (``md``, ``json``, ``csv``) with everything said to
people on stderr; and the Markdown summary ``check`` adds to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ganbench.cli.console import console, err_console

if TYPE_CHECKING:
    import pandas as pd


class Format(str, Enum):
    table = "table"
    md = "md"
    json = "json"
    csv = "csv"


FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="table (for people), or md, json or csv on stdout (for machines; notes go to stderr).",
    ),
]
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"  # GitHub Actions' job summary file


def people(fmt: Format) -> Console:
    """Where text for people goes: stdout for tables, stderr when stdout is a document."""
    return console if fmt is Format.table else err_console


def emit(text: str) -> None:
    """One machine document on stdout, as is (no wrapping, no markup)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, default=str, allow_nan=False) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def append_step_summary(markdown: str) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when the job has one."""
    target = os.environ.get(STEP_SUMMARY)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


def reports_text(fmt: Format, built: list[tuple[Any, Path, dict[str, Path]]]) -> str:
    """``report --format``: report.md's text; the report as JSON (a list with --all);
    summary.csv's rows (with a ``folder`` column first when there are several)."""
    from ganbench.report.render import as_document, to_markdown

    if fmt is Format.md:
        return "\n".join(to_markdown(report, folder) for report, folder, _ in built)
    if fmt is Format.json:
        documents = [as_document(report, paths) for report, _, paths in built]
        return to_json(documents if len(documents) > 1 else documents[0])
    import pandas as pd

    frames = []
    for report, folder, _ in built:
        frame = report.summary.reset_index()
        if len(built) > 1:
            frame.insert(0, "folder", str(folder))
        frames.append(frame)
    return to_csv(pd.concat(frames, ignore_index=True))


def check_text(fmt: Format, result: Any) -> str:
    """``check --format``: the job-summary Markdown, the verdicts as JSON, or one CSV row
    per figure compared."""
    if fmt is Format.md:
        return result.markdown("ganbench check")
    document = result.as_document()
    if fmt is Format.json:
        return to_json(document)
    import pandas as pd

    return to_csv(pd.DataFrame(document["verdicts"]))


def latency_text(fmt: Format, document: dict[str, Any]) -> str:
    """``latency --format``: latency.json's document, latency.csv's rows, or the rows as
    a Markdown table (the figures a person compares first)."""
    if fmt is Format.json:
        return to_json(document)
    if fmt is Format.csv:
        import pandas as pd

        return to_csv(pd.DataFrame(document["rows"]).convert_dtypes())
    from ganbench.cli.render_results import latency_cells
    from ganbench.report.render import markdown_table
    from ganbench.report.table import Table

    headers, rows = latency_cells(document["rows"])
    from ganbench.results.latency import generator_names

    title = f"latency of the {generator_names(document)} on {document['device']}"
    return markdown_table(Table(title, headers, rows))
