"""`ganbench report`, `ganbench baseline save` and `ganbench check`: parse, delegate, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import app, baseline_app
from ganbench.cli.console import console, err_console


@app.command("report")
def report(
    folders: Annotated[list[Path], typer.Argument(help="Suite folder(s), e.g. reports/quick.")],
    baseline: Annotated[
        str | None, typer.Option(help="Configuration the ratios compare to (default: suite's).")
    ] = None,
    latency: Annotated[
        list[Path], typer.Option(help="A ganbench latency folder to include (repeatable).")
    ] = [],  # noqa: B006  (Typer reads the default)
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Side by side: two configurations, or two suite folders."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Folder for the report (default: the first suite's).")
    ] = None,
) -> None:
    """Aggregate runs across seeds (mean, 95% interval, ratios to the baseline): tables,
    report.md, a self-contained report.html and summary.csv beside the runs."""
    from ganbench.cli.render_results import print_report
    from ganbench.report.build import build_report
    from ganbench.report.render import write_report

    folder = output or folders[0]
    built = build_report(list(folders), folder, baseline, list(latency), compare)
    print_report(console, built, write_report(built, folder))


@baseline_app.command("save")
def baseline_save(
    folder: Annotated[Path, typer.Argument(help="Suite folder, e.g. reports/quick.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Baseline JSON to write.")],
) -> None:
    """Store every configuration's figures (each seed's value) and the environment."""
    from ganbench.report.check import save_baseline

    document = save_baseline(folder, output)
    configurations = document["configurations"]
    console.print(f"baseline of {len(configurations)} configurations written: {output}")


@app.command("check")
def check(
    folder: Annotated[Path, typer.Argument(help="Suite folder to check, e.g. reports/quick.")],
    baseline: Annotated[Path, typer.Option(help="From `ganbench baseline save`.")],
    tolerance: Annotated[
        str | None,
        typer.Option(help="figure=5%,... on top of the defaults (images_per_s=5% ...)."),
    ] = None,
) -> None:
    """Exit 1 when a figure is worse than the baseline beyond tolerance and noise (CI)."""
    from ganbench.cli.render_results import print_check
    from ganbench.report.check import check as run_check

    result = run_check(baseline, folder, tolerance)
    print_check(console, err_console, result)
    if result.failed:
        raise typer.Exit(code=1)
