"""A report: the aggregated tables and the plots of one or several suite folders (and of
latency results), ready to print, or to write as report.md, report.html and summary.csv.

The tables live in their own modules (speed, quality, ratios, latency_table), the notes
in report.notes, the plots in report.charts; the statistics in report.estimate,
report.compare and report.survival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ganbench.errors import UserError
from ganbench.report.aggregate import aggregate, compare_to_baseline
from ganbench.report.collect import SuiteRuns, load_suites, loaded_configurations
from ganbench.report.compare import parse_margins
from ganbench.report.estimate import estimate_all
from ganbench.report.latency_table import latency_table
from ganbench.report.notes import report_notes
from ganbench.report.quality import quality_table
from ganbench.report.ratios import compare_table, ratio_table
from ganbench.report.speed import loaded_table, speed_table
from ganbench.report.table import Table
from ganbench.results.latency import read_latency

PLOTS_DIR = "report"  # beside the runs: reports/<suite>/report/*.png


@dataclass
class Report:
    title: str
    suite: SuiteRuns
    summary: pd.DataFrame
    tables: list[Table] = field(default_factory=list)
    plots: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png)
    notes: list[str] = field(default_factory=list)


def build_report(
    folders: list[Path],
    out_dir: Path,
    baseline: str | None = None,
    latency: list[Path] = (),  # type: ignore[assignment]
    compare: tuple[str, str] | None = None,
    margins: str | None = None,
) -> Report:
    """Load, aggregate and plot; raise UserError on unusable input before writing.

    A baseline given here must name a configuration of the folders; the suite's own
    baseline (suite.json) that has no runs in them (a folder trained with ``--only``) is
    left out with a note instead. ``margins``: ``--margin``, e.g. ``images_per_s=5%``."""
    suite = load_suites(folders)
    margin_of = parse_margins(margins, suite.figures())
    baseline, baseline_note = _choose_baseline(suite, baseline)
    latency_docs = [read_latency(p) for p in latency]
    comparisons = compare_to_baseline(suite, baseline, margin_of) if baseline else None
    est = estimate_all(suite)
    summary = aggregate(suite, baseline, comparisons, est)
    title = " + ".join(f.name for f in folders)
    report = Report(title=f"ganbench report: {title}", suite=suite, summary=summary)
    loaded = loaded_configurations(suite)
    trained = [n for n in summary.index if n not in loaded]
    report.tables.append(speed_table(suite, trained, est, comparisons))
    if loaded:
        report.tables.append(loaded_table(suite, loaded))
    quality = quality_table(suite, est)
    if quality is not None:
        report.tables.append(quality)
    ratios = ratio_table(suite, comparisons) if comparisons and len(summary) > 1 else None
    if ratios is not None:
        report.tables.append(ratios)
    if compare is not None:
        report.tables.append(compare_table(compare, suite, est, margin_of))
    report.tables += [latency_table(doc) for doc in latency_docs]
    report.notes += report_notes(suite, baseline, baseline_note)
    from ganbench.report.charts import draw_plots

    report.plots += draw_plots(suite, summary, out_dir / PLOTS_DIR, latency_docs)
    return report


def _choose_baseline(suite: SuiteRuns, given: str | None) -> tuple[str | None, str | None]:
    """The baseline the ratios compare to, and a note when the suite's own is left out."""
    known = list(dict.fromkeys(suite.runs["configuration"]))
    if given is not None and given not in known:
        raise UserError(f"baseline: no configuration {given!r} (choose: {', '.join(known)})")
    if given is not None or suite.baseline is None:
        return given, None
    if suite.baseline in known:
        return suite.baseline, None
    return None, (
        f"baseline {suite.baseline!r} of the suite has no runs in this folder (trained with "
        f"--only?); ratios left out; pass --baseline NAME to compare against another "
        f"configuration ({', '.join(known)})"
    )
