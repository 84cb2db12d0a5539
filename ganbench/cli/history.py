"""`ganbench history record | show | regressions | publish`: parse, delegate, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import history_app
from ganbench.cli.console import console
from ganbench.cli.formats import Format, FormatOption, emit, people, to_csv

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The history database: a SQLite file or a URL (postgresql://user@host/db); "
        "default $GANBENCH_HISTORY_DB, else history.sqlite in ganbench's home.",
    ),
]
FigureOption = Annotated[
    str | None, typer.Option(help="Figures to show (glob), e.g. images_per_s or 'quality.*'.")
]
ConfigurationOption = Annotated[
    str | None, typer.Option(help="Configurations to show (glob), e.g. srfb.")
]
SinceOption = Annotated[
    str | None, typer.Option(help="From this commit (a prefix) or date (2026-12-01) on.")
]
SuiteOption = Annotated[str | None, typer.Option(help="Only this suite's recordings.")]
RecordOption = Annotated[
    bool, typer.Option("--record", help="Record the runs in the history (see --db).")
]
AllowMismatchOption = Annotated[
    list[str],
    typer.Option(
        "--allow-mismatch",
        metavar="FIELD",
        help="Compare although this environment field (driver, torch, ...) or the metric "
        "pipeline (pipeline) differs from the baseline's (repeatable).",
    ),
]
HistoryOption = Annotated[
    int | None,
    typer.Option(
        "--history",
        min=1,
        metavar="N",
        help="The baseline: the last N recorded points of each configuration on this "
        "machine in the history database, instead of a baseline file.",
    ),
]
ConfirmOption = Annotated[
    bool,
    typer.Option(
        "--confirm",
        help="Train the configurations that look worse once more and fail only when the "
        "re-run agrees (with --record, both are recorded).",
    ),
]


@history_app.command("record")
def record(
    folders: Annotated[list[Path], typer.Argument(help="Suite folders to record.")],
    db: DbOption = None,
) -> None:
    """Store suite folders' runs in the history (recording a run again adds nothing)."""
    from ganbench.history.db import open_database
    from ganbench.history.record import record_folder

    _check_folders(folders)
    engine = open_database(db)
    for folder in folders:
        console.print(recorded_line(record_folder(engine, folder), folder), highlight=False)


def _check_folders(folders: list[Path]) -> None:
    from ganbench.errors import UserError

    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder}: no such suite folder (train it: ganbench train-suite)")


def recorded_line(done, folder: Path) -> str:
    commit = done.commit or "no git commit"
    known = f" ({done.known_runs} recorded before)" if done.known_runs else ""
    line = f"history: {done.new_runs} new run(s) of {done.suite} at {commit}{known}: {folder}"
    if done.commit_guessed and done.new_runs:
        line += " (the folder records no commit, so its repository's current one)"
    return line


@history_app.command("show")
def show(
    figure: FigureOption = "images_per_s",
    configuration: ConfigurationOption = None,
    since: SinceOption = None,
    suite: SuiteOption = None,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the series over commits into this PNG.")
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Each figure's history: a row per recorded commit, a series per machine."""
    from ganbench.cli.render_history import print_series
    from ganbench.history.views import series_rows

    series = _series(db, figure, configuration, since, suite)
    if fmt is Format.table:
        print_series(console, series)
    else:
        _emit_frame(fmt, series_rows(series))
    if plot is not None:
        from ganbench.history.plot import plot_series

        people(fmt).print(f"plot: {plot_series(series, plot)}", highlight=False)


def _series(db, figure, configuration, since, suite):
    from ganbench.history.db import open_database
    from ganbench.history.query import Selection, load_series

    selection = Selection(figure=figure, configuration=configuration, since=since, suite=suite)
    return load_series(open_database(db), selection)


def _emit_frame(fmt: Format, frame) -> None:
    if fmt is Format.json:  # pandas' writer: a missing value (NaN, None) is null
        emit(frame.to_json(orient="records", indent=2))
    elif fmt is Format.csv:
        emit(to_csv(frame))
    else:
        from ganbench.report.render import markdown_table
        from ganbench.report.table import Table

        rows = frame.astype(str).values.tolist()
        emit(markdown_table(Table("ganbench history", list(frame.columns), rows)))


@history_app.command("regressions")
def regressions(
    since: SinceOption = None,
    figure: FigureOption = None,
    configuration: ConfigurationOption = None,
    suite: SuiteOption = None,
    db: DbOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Change points in each figure's history (per configuration and machine): size,
    95 % interval and the commits either side."""
    from ganbench.cli.render_history import print_changes
    from ganbench.history.db import open_database
    from ganbench.history.query import Selection
    from ganbench.history.views import changes_since

    selection = Selection(figure=figure, configuration=configuration, suite=suite)
    found = changes_since(open_database(db), selection, since)
    if fmt is Format.table:
        print_changes(console, found)
    else:
        import pandas as pd

        _emit_frame(fmt, pd.DataFrame([f.as_row() for f in found]))


@history_app.command("publish")
def publish(
    folder: Annotated[Path, typer.Argument(help="Where to write the dashboard (index.html).")],
    figure: FigureOption = None,
    configuration: ConfigurationOption = None,
    suite: SuiteOption = None,
    db: DbOption = None,
) -> None:
    """A static HTML dashboard of the history (opens from a file:// URL): a plot per
    configuration and figure, a line per machine, change points marked."""
    from ganbench.history.publish import publish as write_dashboard
    from ganbench.history.views import changes_of

    series = _series(db, figure, configuration, None, suite)
    index = write_dashboard(series, changes_of(series), folder)
    console.print(f"dashboard: {index} ({len(series)} series)", highlight=False)
