"""`ganbench latency`: parse, delegate, render (and draw latency.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ganbench.cli.app import app
from ganbench.cli.formats import Format, FormatOption, emit, latency_text, people

# The command's options, one alias each (the command's signature stays readable).
Checkpoint = Annotated[
    Path | None, typer.Option(help="A run's checkpoint.pt (its trained generator).")
]
SuiteFile = Annotated[
    Path | None, typer.Option(help="Suite file or name: time --run's latest checkpoint.")
]
RunName = Annotated[str | None, typer.Option("--run", help="Run name or id (glob).")]
GeneratorFile = Annotated[
    list[str],
    typer.Option(
        "--generator",
        metavar="SOURCE",
        help="A generator from outside ganbench: a TorchScript archive, a torch.export .pt2, "
        "an ONNX file (ganbench[onnx]), a state dict (with --model), or pkg.module:function "
        "returning the module. Repeat to compare several, timed in turns row by row.",
    ),
]
LatentShape = Annotated[
    str | None,
    typer.Option(
        help="With --generator: one example's noise shape, e.g. 512 or 100,1,1 "
        "(default: the file's, else 128)."
    ),
]
TrustCode = Annotated[
    bool,
    typer.Option(
        "--trust-code", help="With --generator: unpickle a whole pickled module (runs its code)."
    ),
]
ModelName = Annotated[
    str | None,
    typer.Option(help="Time a fresh model of this family (or check a checkpoint holds it)."),
]
Sets = Annotated[
    list[str],
    typer.Option("--set", metavar="PATH=VALUE", help="With --model: a model.* or dataset.* field."),
]
BatchSizes = Annotated[str, typer.Option(help="Batch sizes, e.g. 1,32,256.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Precision = Annotated[
    str, typer.Option(help="Any of fp32,amp-bf16,amp-fp16 (each measured; bf16, fp16 also do).")
]
ChannelsLast = Annotated[
    bool, typer.Option("--channels-last", help="Use channels_last memory format.")
]
Compile = Annotated[
    str,
    typer.Option(
        "--compile",
        help="torch.compile modes, each measured: off, default, reduce-overhead, "
        "max-autotune, max-autotune-no-cudagraphs; or cuda-graphs (eager G replayed "
        "from a CUDA graph) (e.g. off,default).",
    ),
]
Warmup = Annotated[
    int, typer.Option(min=1, help="Fewest untimed warm-up calls per row (the first included).")
]
WarmupTime = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Warm-up: the calls after the first last at least this many seconds, then go "
        "on until steady (median of the last 5 within 10% of the 5 before; at most 5 s).",
    ),
]
Repeats = Annotated[int | None, typer.Option(min=1, help="Timed calls per batch size.")]
MinTime = Annotated[
    float | None,
    typer.Option(
        min=0.001,
        help="Or: time calls for at least this many seconds and 100 calls (default 2).",
    ),
]
MaxTime = Annotated[
    float | None,
    typer.Option(
        min=0.001,
        help="With --min-time: stop timing a row after this many seconds of calls, however "
        "few (default 20; p90 needs 10 calls, p99 100).",
    ),
]
Threads = Annotated[int | None, typer.Option(min=1, help="torch CPU threads.")]
IncludeSampling = Annotated[
    bool, typer.Option("--include-sampling", help="Draw the noise inside the timed call.")
]
KeepSpectralNorm = Annotated[
    bool,
    typer.Option(
        "--keep-spectral-norm",
        help="Time spectral norm as trained instead of folded into weights.",
    ),
]
Output = Annotated[Path | None, typer.Option(help="Folder (default reports/latency/<timestamp>).")]
Json = Annotated[bool, typer.Option("--json", hidden=True, help="Same as --format json.")]


@app.command("latency")
def latency(
    checkpoint: Checkpoint = None,
    suite: SuiteFile = None,
    run: RunName = None,
    model: ModelName = None,
    set_: Sets = [],  # noqa: B006  (Typer reads the default)
    generator: GeneratorFile = [],  # noqa: B006
    latent_shape: LatentShape = None,
    trust_code: TrustCode = False,
    batch_sizes: BatchSizes = "1,32,256",
    device: Device = "auto",
    precision: Precision = "fp32",
    channels_last: ChannelsLast = False,
    compile_: Compile = "off",
    warmup: Warmup = 5,
    warmup_time: WarmupTime = 0.2,
    repeats: Repeats = None,
    min_time: MinTime = None,
    max_time: MaxTime = None,
    threads: Threads = None,
    include_sampling: IncludeSampling = False,
    keep_spectral_norm: KeepSpectralNorm = False,
    output: Output = None,
    fmt: FormatOption = Format.table,
    json_: Json = False,
) -> None:
    """Per-image generation latency and throughput across batch sizes, precisions and
    compile modes: a table, latency.json, latency.csv and latency.png.

    Per row: warm-up until the call times are steady, then calls timed one at a time
    (p50, p90, p99 each only with enough calls, with a 95% order-statistic interval;
    images/s per call), then one block back to back, synchronised once (blocked img/s)."""
    from ganbench.latency.settings import LatencySettings

    settings = LatencySettings.from_options(
        batch_sizes=batch_sizes,
        precision=precision,
        compile_modes=compile_,
        repeats=repeats,
        min_time_s=min_time,
        max_time_s=max_time,
        channels_last=channels_last,
        warmup=warmup,
        warmup_min_s=warmup_time,
        threads=threads,
        include_sampling=include_sampling,
        fold_spectral_norm=not keep_spectral_norm,
    )
    fmt = Format.json if json_ else fmt
    where = _device(device)
    if generator:
        from ganbench.latency.files import generator_options

        given = (checkpoint, suite, run)
        source = generator_options(generator, latent_shape, model, set_, trust_code, given)
    else:
        source = _named_generator(checkpoint, suite, run, model, set_, fmt)
    _measure(source, settings, where, output, fmt)


def _device(device: str) -> Any:
    """``--device`` checked, then resolved (torch imported only now)."""
    from ganbench.latency.settings import one_choice

    choice = one_choice("--device", device, ("auto", "cpu", "cuda"))
    from ganbench.run.session import resolve_device

    return resolve_device(choice, "--device")


def _named_generator(checkpoint, suite, run, model, set_, fmt: Format) -> Any:
    """The generator --checkpoint, --suite/--run or --model name, else the default (and
    why it was chosen)."""
    from rich.markup import escape

    from ganbench.latency.sources import choose_generator, default_generator

    if (checkpoint, suite, run, model, set_) == (None, None, None, None, []):
        source, why = default_generator()
        people(fmt).print(f"timing {escape(why)}", highlight=False)
        return source
    return choose_generator(checkpoint, suite, run, model, set_)


def _measure(source: Any, settings: Any, where: Any, output: Path | None, fmt: Format) -> None:
    """Time every row (a line each as it is measured), draw, print, exit with the code."""
    from ganbench.cli.render_results import latency_line, print_latency
    from ganbench.latency.measure import run_latency
    from ganbench.launchers.signals import InterruptOnStop
    from ganbench.report.plots import latency_title, plot_latency
    from ganbench.results.latency import PLOT_FILE, default_output_dir

    out = people(fmt)
    folder = output or default_output_dir()
    sources = source if isinstance(source, list) else [source]
    for one in sources:
        out.print(f"timing a {one.model.name} generator ({one.weights}) on {where}")
    several = len(sources) > 1
    shown: list[dict[str, Any]] = []

    def show(row: dict[str, Any]) -> None:
        line = latency_line(row, shown[-1] if shown else None, several)
        out.print(line, highlight=False)
        shown.append(row)

    with InterruptOnStop() as stop:
        result = run_latency(sources, settings, where, folder, show)
    document = result.as_dict()
    plot_latency(result.rows, latency_title(document), folder / PLOT_FILE)
    print_latency(out, result, folder)
    if fmt is not Format.table:
        emit(latency_text(fmt, document))
    if result.interrupted:
        raise typer.Exit(code=stop.exit_code)  # 130 for Ctrl-C, 143 for SIGTERM
    if any(r["status"] == "failed" for r in result.rows):
        raise typer.Exit(code=1)
