"""The history's tables for people: a row per recorded commit of each series, and the
change points found."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ganbench.cli.console import show
from ganbench.cli.console import table as _table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def print_series(console: Console, series: list[Any]) -> None:
    """A table per suite, figure and machine (and pipeline), a row per configuration and
    recorded commit, with the change from that configuration's previous point."""
    if not series:
        console.print("history: nothing recorded matches (ganbench history record FOLDER)")
        return
    groups: dict[tuple, list[Any]] = {}
    for s in series:
        groups.setdefault((s.suite, s.figure, s.machine, s.pipeline), []).append(s)
    for (suite, figure, machine, pipeline), members in groups.items():
        shown = f", pipeline {pipeline[:8]}" if pipeline else ""
        where = f"{members[0].machine_label} (machine {machine[:8]}{shown})"
        better = "higher" if members[0].direction == "max" else "lower"
        table = _table(
            escape(f"{suite}: {figure} on {where}; {better} is better; geometric means"),
            ("configuration", "commit", "date", "seeds", "mean", "change"),
            left=3,
        )
        for s in members:
            previous = None
            for point in s.points:
                change = point.mean / previous - 1 if previous else None
                date = (point.commit_time or point.recorded_at)[:10]
                table.add_row(
                    escape(s.configuration),
                    point.label,
                    date,
                    str(len(point.values)),
                    f"{point.mean:.4g}",
                    _pct(change),
                )
                previous = point.mean
        show(console, table)


def print_changes(console: Console, found: list[Any]) -> None:
    """Every change point: where, how much (95 % interval), between which commits."""
    if not found:
        console.print(
            "history: no change points in the selected series (a series needs 6 points "
            "or more to show one)",
            highlight=False,
        )
        return
    table = _table("change points (regressions first, newest first)",
                   ("configuration", "figure", "machine", "commits", "change", "95% interval",
                    "kind"), left=3)  # fmt: skip
    for f in found:
        c = f.change
        interval = f"[{(c.low - 1) * 100:+.1f}, {(c.high - 1) * 100:+.1f}]"
        style = "bold red" if c.kind == "regression" else "green"
        table.add_row(
            escape(f"{f.series.suite}/{f.series.configuration}"), escape(f.series.figure),
            f.series.machine[:8], f"{f.before}..{f.after}", _pct(c.ratio - 1),
            escape(interval), f"[{style}]{c.kind}[/]",
        )  # fmt: skip
    show(console, table)
    machines = {f.series.machine[:8]: f.series.machine_label for f in found}
    for short, label in machines.items():
        console.print(f"machine {short}: {escape(label)}", highlight=False)
