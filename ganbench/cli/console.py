"""The terminals ganbench writes to, and the table and number formats its renderers share."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

# Piped output (CI logs) gets room for the tables; a terminal keeps its own width.
console = Console(width=None if Console().is_terminal else 140)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 140)


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
