"""ganbench's command line. Commands parse, call one function and render; heavy imports
(torch, pandas) happen inside the commands so ``ganbench --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ganbench import __version__
from ganbench.errors import UserError

app = typer.Typer(
    name="ganbench",
    help="Benchmark and profile the efficiency of GAN training and generation in PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Get datasets ready for offline runs.", no_args_is_help=True)
app.add_typer(data_app, name="data")
selftest_app = typer.Typer(help="Check ganbench's own measurements.", no_args_is_help=True)
app.add_typer(selftest_app, name="selftest")
baseline_app = typer.Typer(help="Baselines for `ganbench check`.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")
weights_app = typer.Typer(help="The FID/IS Inception weights (never downloaded unasked).")
app.add_typer(weights_app, name="weights")

# Piped output (CI logs) gets room for the tables; a terminal keeps its own width.
console = Console(width=None if Console().is_terminal else 140)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 140)


def fail(err: UserError) -> typer.Exit:
    """Print a user error without a traceback; exit code 2."""
    err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
    return typer.Exit(code=UserError.exit_code)


def _version(value: bool) -> None:
    if value:
        console.print(f"ganbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """ganbench: which way of training or running this GAN is cheapest for the quality I need?"""


@app.command("train-suite")
def train_suite(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file, e.g. suites/quick.yaml.")],
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a field: path=value (repeatable).")
    ] = [],  # noqa: B006  (Typer reads the default)
    seeds: Annotated[str | None, typer.Option(help="Run these seeds, e.g. 0,1,2.")] = None,
    only: Annotated[
        list[str], typer.Option(help="Run only these names or ids (glob patterns, repeatable).")
    ] = [],  # noqa: B006
    fresh: Annotated[bool, typer.Option(help="Start every selected run over.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print the resolved runs and exit.")] = False,
    metrics: Annotated[
        str | None,
        typer.Option(help="Score only these metrics, e.g. fd_classifier (or none)."),
    ] = None,
    inception_weights: Annotated[
        Path | None, typer.Option(help="The FID/IS Inception weights file to use.")
    ] = None,
    nproc_per_node: Annotated[
        int,
        typer.Option(
            "--nproc-per-node",
            min=1,
            help="Processes for each run with levers.parallel: ddp (torch.distributed.run; "
            "one per GPU, gloo on CPU).",
        ),
    ] = 1,
) -> None:
    """Train every run of a suite; results go to reports/<suite>/<run>/."""
    from ganbench.config import choose_metrics, load_suite, parse_seeds
    from ganbench.runner import plan_suite, run_suite

    try:
        loaded = load_suite(suite, set_, parse_seeds(seeds) if seeds else None, only)
        keep = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        loaded = choose_metrics(loaded, keep, inception_weights)
        plans = plan_suite(loaded, fresh=fresh, nproc_per_node=nproc_per_node)
    except UserError as err:
        raise fail(err) from None
    from ganbench.console_ui import RichObserver, print_plans, print_summaries

    print_plans(console, loaded, plans)
    if dry_run:
        return
    with RichObserver(console) as observer:
        summaries = run_suite(loaded, plans, observer)
    print_summaries(console, loaded, summaries)
    statuses = {s.get("status") for s in summaries}
    if "interrupted" in statuses:
        raise typer.Exit(code=130)
    if "failed" in statuses:
        raise typer.Exit(code=1)


@app.command("profile")
def profile(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file or name, e.g. quick.")],
    run: Annotated[str, typer.Option("--run", help="Run name or id (glob) to profile.")],
    steps: Annotated[
        str | None,
        typer.Option(help="Profiler window wait,warmup,active in iterations (default 5,2,5)."),
    ] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a field: path=value (repeatable).")
    ] = [],  # noqa: B006
) -> None:
    """Train one run under torch.profiler: trace.json (Perfetto) and the top operators."""
    import pandas as pd

    from ganbench.config import load_suite, parse_steps, profile_suite
    from ganbench.console_ui import RichObserver, print_plans, print_top_operators
    from ganbench.runner import plan_suite, run_suite
    from ganbench.trackers.profiler import TABLE_FILE, TRACE_FILE

    try:
        loaded = load_suite(suite, set_)
        profiled = profile_suite(loaded, run, parse_steps(steps) if steps else None)
        plans = plan_suite(profiled, fresh=True)
    except UserError as err:
        raise fail(err) from None
    print_plans(console, profiled, plans)
    with RichObserver(console) as observer:
        (summary,) = run_suite(profiled, plans, observer)
    folder = plans[0].store.profile_dir
    if summary.get("status") != "finished" or not (folder / TABLE_FILE).is_file():
        err_console.print(f"[bold red]profile not written:[/] {summary.get('reason')}")
        raise typer.Exit(code=1)
    window = summary["profile"]
    title = (
        f"top operators of {plans[0].run.id} over {window['active']} iterations "
        f"(after {window['wait']} skipped, {window['warmup']} warm-up)"
    )
    print_top_operators(console, pd.read_csv(folder / TABLE_FILE), title)
    console.print(
        f"trace: {folder / TRACE_FILE} (open in https://ui.perfetto.dev or chrome://tracing)"
    )
    console.print(f"table: {folder / TABLE_FILE}")


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
    precision: Annotated[str, typer.Option(help="Any of fp32,fp16,bf16 (each measured).")] = "fp32",
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

    from ganbench.generators import choose_generator
    from ganbench.latency import LatencySettings, default_output_dir, parse_choices, run_latency
    from ganbench.session import resolve_device

    try:
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
    except UserError as err:
        raise fail(err) from None
    from ganbench.console_ui import latency_line, print_latency

    out = err_console if json_ else console
    folder = output or default_output_dir()
    out.print(f"timing a {source.model.name} generator ({source.weights}) on {where}")
    shown: list[dict[str, Any]] = []

    def show(row: dict[str, Any]) -> None:
        out.print(latency_line(row, shown[-1] if shown else None), highlight=False)
        shown.append(row)

    result = run_latency(source, settings, where, folder, show)
    print_latency(out, result, folder)
    if json_:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    if result.interrupted:
        raise typer.Exit(code=130)
    if any(r["status"] == "failed" for r in result.rows):
        raise typer.Exit(code=1)


@app.command("report")
def report(
    folders: Annotated[list[Path], typer.Argument(help="Suite folder(s), e.g. reports/quick.")],
    baseline: Annotated[
        str | None, typer.Option(help="Configuration the ratios compare to (default: suite's).")
    ] = None,
    latency: Annotated[
        list[Path], typer.Option(help="A ganbench latency folder to include (repeatable).")
    ] = [],  # noqa: B006
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
    from ganbench.report.build import build_report
    from ganbench.report.render import write_report

    folder = output or folders[0]
    try:
        built = build_report(list(folders), folder, baseline, list(latency), compare)
    except UserError as err:
        raise fail(err) from None
    from ganbench.console_ui import print_report

    print_report(console, built, write_report(built, folder))


@baseline_app.command("save")
def baseline_save(
    folder: Annotated[Path, typer.Argument(help="Suite folder, e.g. reports/quick.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Baseline JSON to write.")],
) -> None:
    """Store every configuration's figures (each seed's value) and the environment."""
    from ganbench.report.check import save_baseline

    try:
        document = save_baseline(folder, output)
    except UserError as err:
        raise fail(err) from None
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
    from ganbench.report.check import check as run_check

    try:
        result = run_check(baseline, folder, tolerance)
    except UserError as err:
        raise fail(err) from None
    from ganbench.console_ui import print_check

    print_check(console, err_console, result)
    if result.failed:
        raise typer.Exit(code=1)


@app.command("list")
def list_registered(
    kind: Annotated[
        str | None,
        typer.Argument(help="datasets, models, losses, strategies or metrics (default: all)"),
    ] = None,
) -> None:
    """List the registered datasets, models, losses, strategies and metrics."""
    from ganbench.config import REGISTRIES

    try:
        chosen = _choose_registries(REGISTRIES, kind)
    except UserError as err:
        raise fail(err) from None
    for name, registry in chosen.items():
        console.print(f"[bold]{name}[/]: {', '.join(registry.names())}")


def _choose_registries(registries: dict[str, Any], kind: str | None) -> dict[str, Any]:
    if kind is None:
        return registries
    if kind not in registries:
        raise UserError(f"list: unknown kind {kind!r} (choose: {', '.join(registries)})")
    return {kind: registries[kind]}


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. fashion-mnist.")],
    root: Annotated[
        Path | None, typer.Option(help="Data folder (default: $GANBENCH_DATA or ./data).")
    ] = None,
) -> None:
    """Copy (from a local Debian package) or download a dataset into the data folder."""
    from ganbench.data.base import default_data_root
    from ganbench.data.fetch import fetch_dataset

    try:
        console.print(fetch_dataset(name, root or default_data_root()))
    except UserError as err:
        raise fail(err) from None


@selftest_app.command("overhead")
def selftest_overhead(
    suite: Annotated[Path, typer.Option(help="Suite whose run is timed.")] = Path("quick"),
    run: Annotated[str, typer.Option("--run", help="Run name or id (glob).")] = "alternating",
    rounds: Annotated[int, typer.Option(min=2, help="Paired blocks (bare, instrumented).")] = 200,
    block: Annotated[int, typer.Option(min=1, help="Iterations per block.")] = 1,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a field: path=value (repeatable).")
    ] = [],  # noqa: B006
    output: Annotated[Path | None, typer.Option(help="Also write the result as JSON.")] = None,
) -> None:
    """Time the bare training step against the fully instrumented loop, in one process."""
    import json
    import tempfile

    from ganbench.config import choose_run, load_suite
    from ganbench.console_ui import print_overhead
    from ganbench.runner import plan_suite
    from ganbench.selftest.overhead import measure_overhead

    try:
        loaded = load_suite(suite, set_)
        chosen = choose_run(loaded, run)
        (plan,) = plan_suite(loaded.model_copy(update={"runs": [chosen]}), fresh=True)
    except UserError as err:
        raise fail(err) from None
    console.print(
        f"timing {chosen.id} on {plan.device}: {rounds} rounds x 2 blocks x {block} iterations"
    )
    with tempfile.TemporaryDirectory(prefix="ganbench-overhead-") as workdir:
        result = measure_overhead(chosen, plan.device, rounds, block, Path(workdir))
    print_overhead(console, result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {output}")


@weights_app.command("install")
def weights_install(
    path: Annotated[Path, typer.Argument(help="A copy of pt_inception-2015-12-05-6726825d.pth.")],
    force: Annotated[
        bool, typer.Option(help="Install even when the SHA-256 is not the official one.")
    ] = False,
) -> None:
    """Check a weights file (hash, tensor names and shapes) and copy it to torch's hub cache."""
    from ganbench.metrics.inception import install_weights

    try:
        info = install_weights(path, force)
    except UserError as err:
        raise fail(err) from None
    console.print(f"installed {info.path} ({info.size_bytes} bytes, sha256 {info.sha256[:16]}...)")


@weights_app.command("download")
def weights_download() -> None:
    """Download the official weights into torch's hub cache (needs the network)."""
    from ganbench.metrics.inception import download_weights

    try:
        info = download_weights()
    except UserError as err:
        raise fail(err) from None
    console.print(f"downloaded {info.path} ({info.size_bytes} bytes)")


@weights_app.command("status")
def weights_status(
    path: Annotated[Path | None, typer.Argument(help="Check this file instead.")] = None,
) -> None:
    """Where ganbench looks for the weights and what it finds there."""
    from ganbench.metrics.inception import find_weights, inspect_weights

    try:
        info = inspect_weights(find_weights(path, "weights"))
    except UserError as err:
        raise fail(err) from None
    verdict = "official" if info.official else "NOT the official file (values marked so)"
    console.print(f"{info.path}: {info.size_bytes} bytes, sha256 {info.sha256}, {verdict}")


def run() -> None:  # pragma: no cover - console entry for `python -m ganbench`
    sys.exit(app())
