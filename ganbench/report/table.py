"""A report table and the text of its cells: figures with their intervals, ratios with
their verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ganbench.report.compare import Comparison
from ganbench.report.estimate import Estimate
from ganbench.report.survival import TargetComparison


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def fmt(value: float, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    v = value / scale
    text = f"{v:,.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}"
    return text + unit


def cell(e: Estimate, scale: float = 1.0, unit: str = "") -> str:
    """``mean [low, high]`` (the 95 % interval, unit after), or the mean alone with one
    value or values that did not vary."""
    if not e.n:
        return "-"
    if not e.varied:
        return fmt(e.mean, scale, unit)
    low, high = fmt(e.low, scale, digits=2), fmt(e.high, scale, digits=2)
    return f"{fmt(e.mean, scale)} [{low}, {high}]{unit}"


def ratio_cell(c: Comparison | TargetComparison | None, verdict: bool = True) -> str:
    """``1.52x [1.24, 1.86] better``: the ratio, its interval at the comparison's
    (adjusted) level, the verdict; a time to target as how many runs reached it."""
    if c is None or c.verdict == "no data":
        return "-"
    said = f" {c.verdict}" if verdict else ""
    if isinstance(c, TargetComparison):
        median = f", median {c.ratio:.2f}x" if math.isfinite(c.ratio) else ""
        reached = f"{len(c.a.reached)}/{c.a.runs} vs {len(c.b.reached)}/{c.b.runs} reached"
        return f"{reached}{median}{':' if verdict else ''}{said}"
    low, high = c.interval()
    marks = (1.0, 1 - c.margin, 1 + c.margin)
    interval = f" [{bound(low, marks)}, {bound(high, marks)}]" if math.isfinite(low) else ""
    return f"{c.ratio:.2f}x{interval}{said}"


def bound(value: float, marks: tuple[float, ...]) -> str:
    """An interval's end with two decimals, or more where two would put it on the other
    side of (or onto) 1 or a margin's end: the printed interval then says what the
    verdict says (1.004, not 1.00, for an interval that excludes 1)."""
    for digits in range(2, 16):
        text = f"{value:.{digits}f}"
        if all(_side(float(text), m) == _side(value, m) for m in marks):
            return text
    return repr(value)


def _side(value: float, mark: float) -> int:
    return (value > mark) - (value < mark)


def text(value: Any) -> str:
    """A cell's or note's text for a summary field that may be missing (NaN)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)
