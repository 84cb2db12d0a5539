"""The terminals ganbench writes to, and the table and number formats its renderers share."""

from __future__ import annotations

import os
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table


def _width(stderr: bool = False) -> int | None:
    """A terminal's own width, else ``$COLUMNS``, else 140 for piped output (CI logs)."""
    if Console(stderr=stderr).is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return None  # rich reads the terminal, or COLUMNS
    return 140


console = Console(width=_width())
err_console = Console(stderr=True, width=_width(stderr=True))


def show(out: Console, table: Table) -> None:
    """Print ``table`` when it fits ``out``; otherwise one block per row, a line per
    column (``  it/s  761.5``; a value too long for that, on a line of its own), so a
    narrow terminal never splits a number."""
    natural = out.measure(table, options=out.options.update_width(10_000)).maximum
    if natural <= out.width:
        out.print(table)
        return
    if table.title:
        out.print(table.title, style="bold", highlight=False)
    columns = table.columns
    labels = [str(c.header) for c in columns]
    pad = max((len(label) for label in labels[1:]), default=0)
    for row in range(table.row_count):
        cells = [c._cells[row] if row < len(c._cells) else "" for c in columns]
        out.print(cells[0], style="bold", highlight=False)
        for label, cell in zip(labels[1:], cells[1:], strict=True):
            if 2 + pad + 2 + len(str(cell)) <= out.width:
                out.print(f"  {label:<{pad}}  ", cell, sep="", highlight=False, soft_wrap=True)
            else:  # the value on a line of its own, whole
                out.print(f"  {label}", highlight=False, soft_wrap=True)
                out.print("      ", cell, sep="", highlight=False, soft_wrap=True)
    out.print()


def table(title: str, columns: tuple[str, ...], left: int = 1) -> Table:
    """A compact table whose cells wrap instead of being cut off in narrow terminals."""
    out = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i, column in enumerate(columns):
        # The first column (run ids) never wraps; the others fold when the terminal is narrow.
        out.add_column(
            column, overflow="fold", no_wrap=i == 0, justify="left" if i < left else "right"
        )
    return out


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)
