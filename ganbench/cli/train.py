"""`ganbench train-suite` and `ganbench profile`: parse, delegate, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import app
from ganbench.cli.console import console, err_console
from ganbench.cli.history import DbOption, RecordOption

SetOption = Annotated[
    list[str], typer.Option("--set", metavar="PATH=VALUE", help="Override a field (repeatable).")
]


LauncherOption = Annotated[
    str | None,
    typer.Option(
        help="Where runs execute: inline (default), torchrun (ddp runs), ray (runs at "
        "once on a local instance or a cluster) or slurm (a job array; see the suite's "
        "launcher: section for partition, time ...)."
    ),
]
NprocOption = Annotated[
    int | None,
    typer.Option(
        "--nproc-per-node",
        min=1,
        help="Short for --launcher torchrun: processes for each run with levers.parallel: "
        "ddp (one per GPU, gloo on CPU).",
    ),
]
AddressOption = Annotated[
    str | None, typer.Option(help="ray: the cluster (default $RAY_ADDRESS, else local).")
]
CpusOption = Annotated[
    float | None, typer.Option(min=0.01, help="ray, slurm: CPUs (and torch threads) per run.")
]
GpusOption = Annotated[
    float | None,
    typer.Option(min=0, help="ray, slurm: GPUs per run process (ray: 0.5 shares one)."),
]
InProcessOption = Annotated[
    bool,
    typer.Option(
        "--in-process",
        help="Train every run in this process (debugging; default: a process per run, so "
        "no run inherits another's memory, caches or compiled code).",
    ),
]
OrderOption = Annotated[
    str | None,
    typer.Option(
        help="interleaved (default: seed blocks, every configuration once per block, "
        "rotated), random (blocks shuffled) or grouped (configuration by configuration)."
    ),
]
RerunOption = Annotated[
    int,
    typer.Option(
        "--rerun-unsteady",
        min=0,
        metavar="N",
        help="Train again (up to N times each, until steady) the runs whose machine-speed "
        "probe was more than 10 % off the suite's median; the replaced runs are kept "
        "under replaced/ in the suite folder.",
    ),
]
LogOption = Annotated[
    str | None,
    typer.Option(
        metavar="TOOLS",
        help="Log live to tensorboard, mlflow, wandb (comma-separated; TOOL=WHERE names "
        "the folder or tracking URI; none: not even the suite's log: section).",
    ),
]
DetachOption = Annotated[
    bool,
    typer.Option("--detach", help="slurm: return once submitted; train-suite again to collect."),
]


@app.command("train-suite")
def train_suite(
    suite: Annotated[
        Path, typer.Argument(help="Suite YAML file, or a built-in suite's name (ganbench suites).")
    ],
    set_: SetOption = [],  # noqa: B006  (Typer reads the default)
    seeds: Annotated[str | None, typer.Option(help="Run these seeds, e.g. 0,1,2.")] = None,
    order: OrderOption = None,
    only: Annotated[
        list[str],
        typer.Option(metavar="NAME", help="Run only these names or ids (glob, repeatable)."),
    ] = [],  # noqa: B006
    fresh: Annotated[bool, typer.Option("--fresh", help="Start every selected run over.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resolved runs and exit.")
    ] = False,
    metrics: Annotated[
        str | None,
        typer.Option(help="Score only these metrics, e.g. fd_classifier (or none)."),
    ] = None,
    inception_weights: Annotated[
        Path | None, typer.Option(help="The FID/IS Inception weights file to use.")
    ] = None,
    keep_budget: Annotated[
        bool,
        typer.Option(
            "--keep-budget",
            help="--set budget.X adds to the suite's budget (first limit reached stops) "
            "instead of replacing it.",
        ),
    ] = False,
    launcher: LauncherOption = None,
    nproc_per_node: NprocOption = None,
    address: AddressOption = None,
    cpus_per_run: CpusOption = None,
    gpus_per_run: GpusOption = None,
    detach: DetachOption = False,
    in_process: InProcessOption = False,
    rerun_unsteady: RerunOption = 0,
    record: RecordOption = False,
    db: DbOption = None,
    log: LogOption = None,
) -> None:
    """Train every run of a suite; results go to reports/<suite>/<run>/."""
    from ganbench.config import load_suite, parse_seeds

    sets = [*set_, f"order={order}"] if order is not None else set_
    loaded = load_suite(suite, sets, parse_seeds(seeds) if seeds else None, only, keep_budget)
    from ganbench.config import choose_metrics  # after the suite file was read and checked
    from ganbench.launchers import choose_launcher

    keep = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    loaded = with_log(choose_metrics(loaded, keep, inception_weights), log)
    options = {"address": address, "cpus_per_run": cpus_per_run, "gpus_per_run": gpus_per_run,
               "detach": detach or None, "in_process": in_process or None}  # fmt: skip
    chosen = choose_launcher(loaded.launcher, loaded.source, launcher, nproc_per_node, **options)
    _train_and_record(loaded, chosen, fresh, dry_run, rerun_unsteady, db if record else False)


def with_log(loaded, log: str | None):
    """The suite logging live to ``--log``'s tools (else its file's), each one's extra
    checked: a missing one is said before any training."""
    from ganbench.config import choose_log
    from ganbench.export import require

    loaded = choose_log(loaded, log)
    for tool in loaded.log.to:
        require(tool)
    return loaded


def _train_and_record(loaded, chosen, fresh, dry_run, rerun_unsteady, db) -> None:
    """``_train``, then (``db`` not False) the suite folder recorded in the history, also
    when some runs failed (the others are recorded; failed runs carry no figures)."""
    record = db is not False and not dry_run
    if record:
        from ganbench.history.db import database_url, require_extra

        require_extra()
        database_url(db)  # a bad --db is said before any training
    try:
        train_loaded(loaded, chosen, fresh, dry_run, rerun_unsteady)
    except typer.Exit as ended:
        if record and ended.exit_code == 1:
            _record(loaded.output_dir, db)
        raise
    if record:
        _record(loaded.output_dir, db)


def _record(folder: Path, db: str | None) -> None:
    from ganbench.cli.history import recorded_line
    from ganbench.history.db import open_database
    from ganbench.history.record import record_folder

    console.print(recorded_line(record_folder(open_database(db), folder), folder))


def train_loaded(
    loaded, chosen, fresh: bool, dry_run: bool, rerun_unsteady: int = 0, out=console
) -> None:
    """Plan (under the suite's lock), train with ``chosen``, render to ``out``, exit with
    the code."""
    from ganbench.cli.render_train import print_plans, print_problems, print_summaries
    from ganbench.launchers.signals import GracefulStop
    from ganbench.results import RunStatus
    from ganbench.results.lock import FolderLock
    from ganbench.run.plan import plan_suite

    if dry_run:  # the plan, and every problem to fix before training (data not needed)
        problems: list[str] = []
        print_plans(out, loaded, plan_suite(loaded, fresh, chosen, problems))
        print_problems(out, problems)
        return
    # Planned under the lock it runs under: no other process changes the folder between.
    with FolderLock(loaded.output_dir, "suite folder"), GracefulStop() as stop:
        plans = plan_suite(loaded, fresh=fresh, placement=chosen)
        print_plans(out, loaded, plans)
        summaries = _train_in_view(loaded, chosen, plans, stop, rerun_unsteady, out)
    print_summaries(out, loaded, summaries)
    if stop.requested() or RunStatus.INTERRUPTED in {s.status for s in summaries}:
        raise typer.Exit(code=_stop_code(stop, summaries))
    if RunStatus.FAILED in {s.status for s in summaries}:
        raise typer.Exit(code=1)


def _train_in_view(loaded, chosen, plans, stop, rerun_unsteady: int, out) -> list:
    """The runs trained under a progress bar each, logged live where the suite asks; a
    second Ctrl-C (a stop at once) says what each unfinished run lost, exit 130."""
    from ganbench.cli.render_train import RichObserver, lost_work
    from ganbench.export import open_sinks
    from ganbench.export.live import LiveLog

    sinks = open_sinks(loaded.log.to, loaded.log.dest, replace=False)
    for sink in sinks:
        out.print(f"logging live to {sink.name}: {sink.where()}", highlight=False)
    folders = [plan.store.folder for plan in plans]
    try:
        with RichObserver(out) as observer:
            with LiveLog(sinks, folders, loaded.log.every_seconds, observer.noted):
                summaries = chosen.run_suite(loaded, plans, observer, stop, rerun_unsteady)
        for sink in sinks:
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001  (training is over and its files whole)
                out.print(f"{sink.name}: closing failed ({type(err).__name__}: {err})")
        return summaries
    except KeyboardInterrupt:
        for line in lost_work(folders) or ["stopped at once; no run was training"]:
            err_console.print(line, highlight=False, soft_wrap=True)
        raise typer.Exit(code=130) from None


def _stop_code(stop, summaries) -> int:
    """128 + the stop signal (130 Ctrl-C, 143 SIGTERM): the one this process received,
    else the one a stopped run names (its workers may have been signalled, not us)."""
    import signal

    if stop.requested():
        return stop.exit_code
    for summary in summaries:
        words = (summary.reason or "").split()
        named = words[2] if words[:2] == ["stopped", "by"] and len(words) > 2 else ""
        if named in signal.Signals.__members__:
            return 128 + signal.Signals[named]
    return stop.exit_code


@app.command("profile")
def profile(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file or name, e.g. quick.")],
    run: Annotated[str, typer.Option("--run", help="Run name or id (glob) to profile.")],
    steps: Annotated[
        str | None,
        typer.Option(help="Profiler window wait,warmup,active in iterations (default 5,2,5)."),
    ] = None,
    set_: SetOption = [],  # noqa: B006
) -> None:
    """Train one run under torch.profiler: trace.json (Perfetto) and the top operators."""
    from ganbench.config import load_suite, parse_steps

    window = parse_steps(steps) if steps else None
    loaded = load_suite(suite, set_)  # the file's mistakes said before torch is imported
    import pandas as pd

    from ganbench.cli.render_train import RichObserver, print_plans, print_top_operators
    from ganbench.config import profile_suite
    from ganbench.launchers.inline import InlineConfig, InlineLauncher
    from ganbench.results import RunStatus
    from ganbench.run.plan import plan_suite
    from ganbench.trackers.profiler import TABLE_FILE, TRACE_FILE

    profiled = profile_suite(loaded, run, window)
    plans = plan_suite(profiled, fresh=True)
    print_plans(console, profiled, plans)
    with RichObserver(console) as observer:
        (summary,) = InlineLauncher(InlineConfig()).run_suite(profiled, plans, observer)
    folder = plans[0].store.profile_dir
    if summary.status != RunStatus.FINISHED or not (folder / TABLE_FILE).is_file():
        err_console.print(f"[bold red]profile not written:[/] {summary.reason}")
        raise typer.Exit(code=1)
    window = summary.profile
    title = (
        f"top operators of {plans[0].run.id} over {window['active']} iterations "
        f"(after {window['wait']} skipped, {window['warmup']} warm-up)"
    )
    print_top_operators(console, pd.read_csv(folder / TABLE_FILE), title)
    console.print(
        f"trace: {folder / TRACE_FILE} (open in https://ui.perfetto.dev or chrome://tracing)"
    )
    console.print(f"table: {folder / TABLE_FILE}")
