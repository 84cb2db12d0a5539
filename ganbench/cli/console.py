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


BLOCKS_BELOW = 60  # columns: narrower than this, a block per row instead of a table
HEADER_FOLD = 8  # a header word longer than this may fold onto a second line


def show(out: Console, table: Table) -> None:
    """Print ``table`` so that it reads at ``out``'s width: whole when it fits; else with
    its headers wrapped (cells keep their width, so no number is split); else its columns
    over several tables, each starting with the first (run ids); below ``BLOCKS_BELOW``
    columns, one block per row."""
    natural = out.measure(table, options=out.options.update_width(10_000)).maximum
    if natural <= out.width:
        out.print(table)
    elif out.width < BLOCKS_BELOW:
        _blocks(out, table)
    else:
        for part in _parts(out, table):
            out.print(part)


def _parts(out: Console, table: Table) -> list[Table]:
    """The table's columns in as few tables as fit ``out``'s width unwrapped, the first
    column in each (a column too wide alone is wrapped, its numbers kept whole)."""
    first, *rest = range(len(table.columns))
    parts: list[list[int]] = [[first]]
    for index in rest:
        if len(parts[-1]) > 1 and _natural(out, table, [*parts[-1], index]) > out.width:
            parts.append([first])
        parts[-1].append(index)
    return [_subtable(table, columns, more=i > 0) for i, columns in enumerate(parts)]


def _natural(out: Console, table: Table, columns: list[int]) -> int:
    """The width these columns take unwrapped (a part that fits it needs no squeezing)."""
    wide = out.options.update_width(10_000)  # unclamped: measuring at out's width caps it
    return out.measure(_subtable(table, columns), options=wide).maximum


def _subtable(table: Table, columns: list[int], more: bool = False) -> Table:
    """These columns of ``table``, each at least as wide as its widest word (sentences
    wrap, numbers do not) and its header's (folded past ``HEADER_FOLD`` characters)."""
    title = f"{table.title} (continued)" if more and table.title else table.title
    part = Table(title=title, box=table.box, pad_edge=table.pad_edge, title_justify="left")
    for index in columns:
        column = table.columns[index]
        words = [word for cell in column._cells for word in str(cell).split()]
        header = max((len(word) for word in str(column.header).split()), default=1)
        part.add_column(
            column.header, justify=column.justify, no_wrap=column.no_wrap, overflow="fold",
            min_width=max(min(header, HEADER_FOLD), *(len(word) for word in words)),
        )  # fmt: skip
    for row in range(table.row_count):
        part.add_row(*(table.columns[i]._cells[row] for i in columns))
    return part


def _blocks(out: Console, table: Table) -> None:
    """One block per row, a line per column (``  it/s  761.5``; a value too long for
    that, on a line of its own), so a narrow terminal never splits a number."""
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
