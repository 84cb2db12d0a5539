"""The terminals ganbench writes to, and the table and number formats its renderers share."""

from __future__ import annotations

import io
import os
import re
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
HEADER_FOLD = 12  # a header word longer than this may fold onto a second line


def show(out: Console, table: Table) -> None:
    """Print ``table`` so that it reads at ``out``'s width: whole when it fits; else
    without its columns that hold no value (said below it), its headers folded (no
    number is ever split), and its columns over as few tables as fit, each starting with
    the first (run ids); below ``BLOCKS_BELOW`` columns, one block per row."""
    wide = out.options.update_width(10_000)  # unclamped: measuring at out's width caps it
    if out.measure(table, options=wide).maximum <= out.width:
        out.print(table)
        return
    empty = [i for i, column in enumerate(table.columns) if i > 0 and not _values(column)]
    kept = [i for i in range(len(table.columns)) if i not in empty]
    if out.width < BLOCKS_BELOW:
        _blocks(out, _subtable(table, kept))
    else:
        for part in _parts(out, table, kept):
            out.print(part)
    if empty:
        names = ", ".join(str(table.columns[i].header) for i in empty)
        out.print(f"(no values, left out: {names})\n", highlight=False)


def _values(column: Any) -> bool:
    return any(str(cell).strip() not in ("", "-") for cell in column._cells)


def _parts(out: Console, table: Table, columns: list[int]) -> list[Table]:
    """``columns`` over as few tables as fit ``out``'s width, the first column in each:
    packed with no cell wrapped; or, when that leaves one column a table (sentences
    such as "1.98x [0.00, 15.1] no clear difference"), with sentences wrapped (numbers
    whole) if that takes fewer tables. Long headers fold either way."""
    whole = _packed(out, table, columns, True)
    words = _packed(out, table, columns, False) if len(whole) == len(columns) - 1 else whole
    cells_whole = len(whole) <= len(words)
    return [
        _subtable(table, part, more=i > 0, whole=cells_whole and _fits(out, table, part, True))
        for i, part in enumerate(whole if cells_whole else words)
    ]


def _packed(out: Console, table: Table, columns: list[int], whole: bool) -> list[list[int]]:
    first, *rest = columns
    parts: list[list[int]] = [[first]]
    for index in rest:
        if len(parts[-1]) > 1 and not _fits(out, table, [*parts[-1], index], whole):
            parts.append([first])
        parts[-1].append(index)
    return parts


def _fits(out: Console, table: Table, columns: list[int], whole: bool) -> bool:
    """Whether these columns, laid out at ``out``'s width (headers folded; ``whole``: no
    cell wrapped, else sentences wrapped), keep every word of every cell whole: rendered
    and read back, since rich squeezes columns below their least width when it must."""
    part = _subtable(table, columns, whole=whole)
    probe = Console(width=out.width, file=io.StringIO(), color_system=None)
    with probe.capture() as captured:
        probe.print(part)
    shown = set(captured.get().split())
    cells = (str(cell) for i in columns for cell in table.columns[i]._cells)
    return all(word in shown for cell in cells for word in cell.split())


def _subtable(table: Table, columns: list[int], more: bool = False, whole: bool = False) -> Table:
    """These columns of ``table``, each at least as wide as its widest word (sentences
    wrap, numbers do not; ``whole``: as its widest cell, so no cell wraps) and its
    header's (folded past ``HEADER_FOLD`` characters). A part after the first is titled
    by the title's first words and "(continued)", on one line."""
    title = table.title
    if more and title:
        title = CONTINUED.split(str(title))[0] + " (continued)"
    part = Table(title=title, box=table.box, pad_edge=table.pad_edge, title_justify="left",
                 min_width=len(title) if more and title else None)  # fmt: skip
    for index in columns:
        column = table.columns[index]
        cells = [str(cell) for cell in column._cells]
        words = [word for cell in cells for word in cell.split()]
        widest = max((len(cell) for cell in cells), default=1) if whole else 0
        header = max((len(word) for word in str(column.header).split()), default=1)
        part.add_column(
            column.header, justify=column.justify, no_wrap=column.no_wrap, overflow="fold",
            min_width=max(min(header, HEADER_FOLD), widest, *(len(word) for word in words)),
        )  # fmt: skip
    for row in range(table.row_count):
        part.add_row(*(table.columns[i]._cells[row] for i in columns))
    return part


CONTINUED = re.compile(r":| \(| \\?\[|;")  # where a title's first words end ([ escaped or not)


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
