"""Limits on what a suite file or ``--set`` may hold, checked before anything else reads
it: a file over ``MAX_FILE_BYTES``, YAML aliases that expand past ``MAX_NODES`` values
(a "billion laughs" file is a few hundred bytes and would expand to gigabytes when the
runs are merged, validated and echoed), self-referencing aliases, integers beyond 64 bits
and very long strings are refused with exit 2 and a short message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganbench.errors import UserError

MAX_FILE_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_STRING = 10_000
MAX_INT = 2**63 - 1
ECHO = 80


def check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(
            f"{path}: {size:,} bytes; suite files are limited to {MAX_FILE_BYTES:,} bytes"
        )


def check_bounds(value: Any, where: str) -> None:
    """UserError naming ``where`` when ``value`` (parsed YAML) is out of bounds."""
    try:
        total = _expanded_size(value, {}, set(), where)
    except RecursionError:
        raise UserError(f"{where}: nested too deeply") from None
    if total > MAX_NODES:
        raise UserError(
            f"{where}: expands to more than {MAX_NODES:,} values (through YAML aliases?); "
            "write the values out, or split the suite"
        )


def echo(value: Any) -> str:
    """``repr(value)`` cut to about ``ECHO`` characters for messages."""
    return clip(repr(value))


def clip(text: str) -> str:
    return text if len(text) <= ECHO else text[: ECHO - 3] + "..."


def _expanded_size(value: Any, sizes: dict[int, int], open_: set[int], where: str) -> int:
    """Values in ``value`` counted as if every alias were copied (each shared mapping
    or list counted once per reference, computed once)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return 1
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise UserError(f"{where}: integer of {len(str(abs(value)))} digits is too large")
        return 1
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise UserError(f"{where}: a string of {len(value):,} characters is too long")
        return 1
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise UserError(f"{where}: a YAML alias refers to itself")
    open_.add(key)
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _expanded_size(item, sizes, open_, where)
        if total > MAX_NODES:
            break
    open_.discard(key)
    sizes[key] = total
    return total
