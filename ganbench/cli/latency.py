"""`ganbench latency`: parse, delegate, render (and draw latency.png)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ganbench.cli.app import app
from ganbench.cli.console import console, err_console


@app.command("latency")
def latency(
    checkpoint: Annotated[
        Path | None, typer.Option(help="A run's checkpoint.pt (its trained generator).")
    ] = None,
    suite: Annotated[
        Path | None, typer.Option(help="Suite file or name: time --run's latest checkpoint.")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run name or id (glob).")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Time a fresh model of this family (or check a checkpoint holds it)."),
    ] = None,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="With --model: model.* or dataset.* field=value (repeatable)."),
    ] = [],  # noqa: B006
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes, e.g. 1,32,256.")] = "1,32,256",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[
        str,
        typer.Option(help="Any of fp32,amp-bf16,amp-fp16 (each measured; bf16, fp16 also do)."),
    ] = "fp32",
    channels_last: Annotated[bool, typer.Option(help="Use channels_last memory format.")] = False,
    compile_: Annotated[
        str,
        typer.Option(
            "--compile",
            help="torch.compile modes, each measured: off, default, reduce-overhead, "
            "max-autotune, max-autotune-no-cudagraphs; or cuda-graphs (eager G replayed "
            "from a CUDA graph) (e.g. off,default).",
        ),
    ] = "off",
    warmup: Annotated[int, typer.Option(min=1, help="Untimed calls per batch size.")] = 5,
    repeats: Annotated[int | None, typer.Option(min=1, help="Timed calls per batch size.")] = None,
    min_time: Annotated[
        float | None,
        typer.Option(min=0.001, help="Or: time calls for at least this many seconds (default 2)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads.")] = None,
    include_sampling: Annotated[
        bool, typer.Option(help="Draw the noise inside the timed call.")
    ] = False,
    keep_spectral_norm: Annotated[
        bool, typer.Option(help="Time spectral norm as trained instead of folded into weights.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="Folder (default reports/latency/<timestamp>).")
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print latency.json to stdout (tables to stderr).")
    ] = False,
) -> None:
    """Per-image generation latency and throughput across batch sizes, precisions and
    compile modes: a table, latency.json, latency.csv and latency.png."""
    import json

    from ganbench.latency.measure import run_latency
    from ganbench.latency.settings import LatencySettings, parse_choices
    from ganbench.latency.sources import choose_generator
    from ganbench.results.latency import PLOT_FILE, default_output_dir
    from ganbench.run.session import resolve_device

    settings = LatencySettings.from_options(
        batch_sizes=batch_sizes,
        precision=precision,
        compile_modes=compile_,
        repeats=repeats,
        min_time_s=min_time,
        channels_last=channels_last,
        warmup=warmup,
        threads=threads,
        include_sampling=include_sampling,
        fold_spectral_norm=not keep_spectral_norm,
    )
    (choice,) = parse_choices("--device", device, ("auto", "cpu", "cuda"))
    where = resolve_device(choice)
    source = choose_generator(checkpoint, suite, run, model, set_)
    from ganbench.cli.render_results import latency_line, print_latency
    from ganbench.report.plots import latency_title, plot_latency

    out = err_console if json_ else console
    folder = output or default_output_dir()
    out.print(f"timing a {source.model.name} generator ({source.weights}) on {where}")
    shown: list[dict[str, Any]] = []

    def show(row: dict[str, Any]) -> None:
        out.print(latency_line(row, shown[-1] if shown else None), highlight=False)
        shown.append(row)

    result = run_latency(source, settings, where, folder, show)
    document = result.as_dict()
    plot_latency(result.rows, latency_title(document), folder / PLOT_FILE)
    print_latency(out, result, folder)
    if json_:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    if result.interrupted:
        raise typer.Exit(code=130)
    if any(r["status"] == "failed" for r in result.rows):
        raise typer.Exit(code=1)
