"""`ganbench export`: a suite folder's runs into TensorBoard, MLflow or Weights & Biases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import app
from ganbench.cli.console import console


@app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Suite folder, e.g. reports/quick.")],
    to: Annotated[str, typer.Option("--to", metavar="TOOL", help="tensorboard, mlflow or wandb.")],
    dest: Annotated[
        str | None,
        typer.Option(
            metavar="WHERE",
            help="tensorboard: the log folder (default runs); mlflow: a tracking URI or a "
            "folder (default $MLFLOW_TRACKING_URI, else ./mlflow.db); wandb: the folder for "
            "wandb/ (default .).",
        ),
    ] = None,
) -> None:
    """Write every run's figures, samples, config and profile trace into a tool (again:
    the same runs, nothing added)."""
    from ganbench.export import open_sinks, require
    from ganbench.export.replay import export_run, run_folders

    require(to)
    runs = run_folders(folder)
    (sink,) = open_sinks([to], {to: dest} if dest else {}, replace=True)
    for run in runs:
        done = export_run(sink, run)
        console.print(
            f"{done.run_id}: {done.series} series, {done.points} points, "
            f"{done.samples} sample grid(s)",
            highlight=False,
        )
    sink.close()
    console.print(f"exported {len(runs)} run(s) to {sink.where()}", highlight=False)
