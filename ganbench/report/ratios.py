"""The comparison tables: every configuration's ratio to the baseline on the figures
people decide on, and ``--compare A B`` on every figure (report.compare's rule)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ganbench.errors import UserError
from ganbench.report.aggregate import decision_figures
from ganbench.report.collect import SuiteRuns, load_suites
from ganbench.report.compare import (
    Comparison,
    Comparisons,
    Side,
    adjust,
    compare_sides,
    samples_all,
)
from ganbench.report.estimate import Estimates, estimate_all
from ganbench.report.survival import TargetComparison
from ganbench.report.table import Table, cell, ratio_cell


def rule_caption(compared: list[tuple[str, Comparison | TargetComparison | None]]) -> str:
    """How a table's verdicts were reached, for its title: the adjustment, the margins,
    the methods. ``compared``: (figure label, comparison) of every cell."""
    found = [(label, c) for label, c in compared if c is not None]
    family = max((c.family for _, c in found), default=0)
    margins: dict[str, list[str]] = {}
    for label, c in found:
        if isinstance(c, Comparison):
            key = f"+-{c.margin:.0%}" if c.margin else "none"
            margins.setdefault(key, [])
            if label not in margins[key]:
                margins[key].append(label)
    methods: dict[str, int] = {}
    for _, c in found:
        if c.testable:
            method = c.method.split(" (")[0]
            methods[method] = methods.get(method, 0) + 1
    margin_text = "; ".join(f"{k} for {', '.join(v)}" for k, v in margins.items())
    method_text = ", ".join(f"{m} ({n})" for m, n in methods.items()) or "-"
    return (
        f"[interval adjusted for {family} comparisons (Benjamini-Hochberg, false coverage "
        "rate 5%)]; equivalent: the interval "
        f"inside the margin ({margin_text}); better/worse: it excludes 1; else no clear "
        f"difference; estimated {method_text}"
    )


def ratio_table(suite: SuiteRuns, comparisons: Comparisons) -> Table | None:
    """Each configuration's ratio to the baseline for the decision figures (None when no
    run has any of them yet)."""
    columns = decision_figures(suite)
    if not columns:
        return None
    names = [n for n in dict.fromkeys(suite.runs["configuration"]) if n != comparisons.baseline]
    rows = [[n, *(ratio_cell(comparisons.get((n, f))) for f, _ in columns)] for n in names]
    shown = [(label, comparisons.get((n, f))) for n in names for f, label in columns]
    return Table(
        f"ratio to {comparisons.baseline} {rule_caption(shown)}",
        ["configuration", *(h for _, h in columns)],
        rows,
    )


def compare_table(
    pair: tuple[str, str], suite: SuiteRuns, est: Estimates, margins: Mapping[str, float]
) -> Table:
    """B against A on every figure: two configurations of the loaded suites (paired by
    block where they ran interleaved), or two suite folders (configurations matched by
    name; never paired: the folders ran at different times); one family."""
    a, b = pair
    if Path(a).is_dir() and Path(b).is_dir():
        left, right = load_suites([Path(a)]), load_suites([Path(b)])
        shared = [
            c
            for c in dict.fromkeys(left.runs["configuration"])
            if c in set(right.runs["configuration"])
        ]
        if not shared:
            raise UserError(f"--compare {a} {b}: the two suites share no configuration name")
        pairs = [(c, c) for c in shared]
        figures = [f for f in left.figures() if f in right.figures()]
        label_a, label_b, labelled = Path(a).name, Path(b).name, True
        ea, eb = estimate_all(left), estimate_all(right)
    else:
        known = list(dict.fromkeys(suite.runs["configuration"]))
        unknown = [x for x in (a, b) if x not in known]
        if unknown:
            raise UserError(
                f"--compare: unknown {', '.join(unknown)} (configurations: {', '.join(known)}; "
                "or give two suite folders)"
            )
        left = right = suite
        pairs, figures, label_a, label_b, labelled = [(a, b)], suite.figures(), a, b, False
        ea = eb = est
    sa, sb = samples_all(left), samples_all(right)
    found = adjust(
        {
            (ca, f): compare_sides(Side(right, sb, cb), Side(left, sa, ca), f, margins)
            for ca, cb in pairs
            for f in figures
            if ea[(ca, f)].n or eb[(cb, f)].n
        }
    )
    headers = ["figure", label_a, label_b, f"{label_b} / {label_a}", "verdict"]
    headers = (["configuration"] if labelled else []) + headers
    rows = []
    for (ca, f), c in found.items():
        cb = dict(pairs)[ca]
        scale, unit = (2**20, " MiB") if f.endswith("_bytes") else (1.0, "")
        row = [f, cell(ea[(ca, f)], scale, unit), cell(eb[(cb, f)], scale, unit)]
        row += [ratio_cell(c, verdict=False), c.verdict]
        rows.append(([ca] if labelled else []) + row)
    caption = rule_caption([(f, c) for (_, f), c in found.items()])
    return Table(f"{label_b} against {label_a} {caption}", headers, rows)
