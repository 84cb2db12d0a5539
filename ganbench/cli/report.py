"""`ganbench report`, `ganbench baseline save` and `ganbench check`: parse, delegate, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import app, baseline_app
from ganbench.cli.console import console, err_console
from ganbench.cli.formats import Format, FormatOption, emit, people, reports_text
from ganbench.cli.history import (
    AllowMismatchOption,
    ConfirmOption,
    DbOption,
    HistoryOption,
    RecordOption,
)


@app.command("report")
def report(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FOLDER", help="Suite folder(s), e.g. reports/quick (default: the newest)."
        ),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Configuration the ratios compare to (default: suite's).")
    ] = None,
    latency: Annotated[
        list[Path],
        typer.Option(metavar="DIR", help="A ganbench latency folder to include (repeatable)."),
    ] = [],  # noqa: B006  (Typer reads the default)
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Side by side: two configurations, or two suite folders."),
    ] = None,
    margin: Annotated[
        str | None,
        typer.Option(
            help="Equivalence margins over the defaults (3% for speed, memory and cost, "
            "none for quality), e.g. images_per_s=5%,peak_rss_bytes=1%."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Folder for the report (default: the first suite's).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="A report for every suite folder ganbench wrote.")
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Aggregate runs across seeds (mean, 95% interval, ratios to the baseline): tables,
    report.md, a self-contained report.html and summary.csv beside the runs."""
    from ganbench.report.inputs import check_suite_folders

    if folders and not all_:
        check_suite_folders(folders)  # before the imports below (torch, pandas, matplotlib)
    from ganbench.cli.render_results import print_report
    from ganbench.report.build import build_report
    from ganbench.report.choose import report_folders
    from ganbench.report.render import write_report

    chosen, why = report_folders(folders or [], all_)
    if why:
        people(fmt).print(why, highlight=False)
    built = []
    for group in chosen:
        folder = output or group[0]
        report = build_report(group, folder, baseline, list(latency), compare, margin)
        paths = write_report(report, folder)
        built.append((report, folder, paths))
        if fmt is Format.table:
            print_report(console, report, paths)
        else:
            err_console.print(f"report: {paths['md']}, {paths['html']}", highlight=False)
    if fmt is not Format.table:
        emit(reports_text(fmt, built))


@baseline_app.command("save")
def baseline_save(
    folder: Annotated[
        Path | None, typer.Argument(help="Suite folder, e.g. reports/quick (default: newest).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Baseline JSON (default: baselines/<suite>.json)."),
    ] = None,
) -> None:
    """Store every configuration's figures (each seed's value) and the environment."""
    from ganbench.report.check import save_baseline
    from ganbench.report.choose import default_baseline, newest_folder

    if folder is None:
        folder, why = newest_folder(command="baseline save")
        console.print(why, highlight=False)
    output = output or default_baseline(folder)
    document = save_baseline(folder, output)
    configurations = document["configurations"]
    console.print(f"baseline of {len(configurations)} configurations written: {output}")


@app.command("check")
def check(
    folder: Annotated[
        Path | None, typer.Argument(help="Suite folder to check (default: the newest).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="From `ganbench baseline save` (default: baselines/<suite>.json)."),
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(help="figure=5%,... on top of the defaults (images_per_s=5% ...)."),
    ] = None,
    allow_blind: Annotated[
        bool,
        typer.Option(
            "--allow-blind", help="Pass figures whose noise is wider than their tolerance."
        ),
    ] = False,
    allow_mismatch: AllowMismatchOption = [],  # noqa: B006  (Typer reads the default)
    history: HistoryOption = None,
    record: RecordOption = False,
    confirm: ConfirmOption = False,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Exit 1 when a figure is worse than the baseline beyond tolerance and noise (CI).
    In a GitHub Actions job the verdicts are added to the job summary too."""
    from ganbench.cli.formats import append_step_summary, check_text
    from ganbench.cli.gate import Gate
    from ganbench.cli.render_results import print_check

    gate = Gate(folder, baseline, tolerance, allow_blind, frozenset(_fields(allow_mismatch)))
    gate.prepare(history, db, people(fmt))
    result = gate.check()
    if confirm:
        result = gate.confirm(result, people(fmt))
    if record:
        gate.record(people(fmt))
    folder = gate.folder
    if fmt is Format.table:
        print_check(console, err_console, result)
    else:
        emit(check_text(fmt, result))
        for warning in result.warnings:
            err_console.print(f"warning: {warning}", highlight=False)
        err_console.print(result.headline(), highlight=False)
    written = append_step_summary(result.markdown(f"ganbench check {folder}"))
    if written:
        people(fmt).print(f"job summary: {written}", highlight=False)
    if result.failed:
        raise typer.Exit(code=1)


def _fields(values: list[str]) -> list[str]:
    return [f.strip() for v in values for f in v.split(",") if f.strip()]


@app.command("runs")
def runs(
    root: Annotated[
        Path | None,
        typer.Argument(help="Where suite folders are (default: every one ganbench wrote)."),
    ] = None,
) -> None:
    """List the suite result folders: suite, runs, their statuses, last change."""
    from ganbench.cli.render_results import print_runs
    from ganbench.results.folders import suite_folders

    print_runs(console, suite_folders(root))
