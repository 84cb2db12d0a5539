"""`ganbench selftest overhead`, `selftest metric-time` and `selftest gpu`: ganbench
checking its own measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import selftest_app
from ganbench.cli.console import console

Sets = Annotated[
    list[str],
    typer.Option("--set", metavar="PATH=VALUE", help="Override a field (repeatable)."),
]


@selftest_app.command("overhead")
def selftest_overhead(
    suite: Annotated[Path, typer.Option(help="Suite whose run is timed.")] = Path("quick"),
    run: Annotated[str, typer.Option("--run", help="Run name or id (glob).")] = "alternating",
    rounds: Annotated[
        int, typer.Option(min=2, help="Rounds of two blocks (bare, instrumented; ABBA).")
    ] = 200,
    block: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Iterations per block, rounded up to a multiple of the run's log_every "
            "(default: log_every), so every block holds the same log flushes and probes.",
        ),
    ] = None,
    set_: Sets = [],  # noqa: B006  (Typer reads the default)
    output: Annotated[Path | None, typer.Option(help="Also write the result as JSON.")] = None,
    log: Annotated[
        str | None,
        typer.Option(
            metavar="TOOLS",
            help="Log live meanwhile from a process of its own, as train-suite --log does "
            "(e.g. tensorboard,mlflow,wandb; into a temporary folder, W&B offline).",
        ),
    ] = None,
) -> None:
    """Time the bare training step against the fully instrumented loop, in one process."""
    import tempfile

    from ganbench.config import load_suite

    loaded = load_suite(suite, set_)  # the file's mistakes said before torch is imported
    from ganbench.cli.train import with_log
    from ganbench.config import choose_run
    from ganbench.run.plan import plan_suite
    from ganbench.selftest.overhead import block_iterations, measure_overhead

    loaded = with_log(loaded, log or "none")
    chosen = choose_run(loaded, run)
    (plan,) = plan_suite(loaded.model_copy(update={"runs": [chosen]}), fresh=True)
    size = block_iterations(chosen, block)
    console.print(
        f"timing {chosen.id} on {plan.device}: {rounds} rounds x 2 blocks x {size} "
        f"iteration{'s' if size > 1 else ''} ({size // chosen.log_every} x log_every "
        f"{chosen.log_every})"
    )
    with tempfile.TemporaryDirectory(prefix="ganbench-overhead-") as workdir:
        follow, opened = _live_log(loaded.log.to, loaded.log.every_seconds, Path(workdir))
        result = measure_overhead(chosen, plan.device, rounds, size, Path(workdir), 0, follow)
    from ganbench.cli.render_train import print_overhead

    print_overhead(console, result)
    live = _log_cost(loaded.log.to, opened, sum(result.instrumented_block_s))
    _write_json({**result.as_dict(), **live}, output)


def _log_cost(tools: list[str], opened: list, instrumented_s: float) -> dict:
    """The logging processes' CPU time while the blocks were timed (writing, the tools'
    threads and services; opening and finishing the run in each tool is once a run),
    against the instrumented blocks' time, printed: on cores the training keeps busy, the
    most the logging can take from it. A logging that failed is said, with no figures."""
    if not tools:
        return {}
    (live,) = opened
    if live.failed or live.cpu_s is None:
        console.print(
            f"live logging to {', '.join(tools)} stopped early ({live.failed or 'no poll'}); "
            "the timing above stands, without its figures",
            highlight=False,
        )
        return {"live_log": tools, "live_log_failed": live.failed or "no poll"}
    share = live.cpu_s / instrumented_s * 100 if instrumented_s > 0 else 0.0
    console.print(
        f"live logging to {', '.join(tools)} from a process of its own, as train-suite "
        f"does, stopped during the bare blocks (the ratio above includes it); "
        f"{live.points} points written; its processes' CPU while timed {live.cpu_s:.3f} s "
        f"= {share:.2f} % of the instrumented blocks' {instrumented_s:.1f} s, the most it "
        f"can take from training (the warm-up's logging counted too); opening and finishing "
        f"the run in the tools "
        f"{live.once_cpu_s:.3f} s (once a run)",
        highlight=False,
    )
    return {"live_log": tools, "live_log_cpu_s": live.cpu_s, "live_log_cpu_pct": share,
            "live_log_once_cpu_s": live.once_cpu_s, "live_log_points": live.points}  # fmt: skip


def _live_log(tools: list[str], every_s: float, workdir: Path):
    """What follows the timed run's folder (a LogProcess to ``tools`` in ``workdir``, W&B
    offline so that a self-test never uploads), and the list of those it started."""
    import contextlib
    import os

    from ganbench.export import require
    from ganbench.export.process import LogProcess

    if not tools:
        return (lambda folder: contextlib.nullcontext()), []
    for tool in tools:
        require(tool)  # a missing extra said before any timing
    os.environ["WANDB_MODE"] = "offline"
    dest = {tool: str(workdir / f"log-{tool}") for tool in tools}
    opened: list[LogProcess] = []

    def follow(folder: Path) -> LogProcess:
        opened.append(LogProcess(tools, dest, folder, every_s))
        return opened[-1]

    return follow, opened


@selftest_app.command("metric-time")
def selftest_metric_time(
    metric: Annotated[str, typer.Option(help="fid, is, fd_classifier ...")] = "fd_classifier",
    suite: Annotated[Path, typer.Option(help="Suite whose run's generator is scored.")] = Path(
        "quick"
    ),
    run: Annotated[str, typer.Option("--run", help="Run name or id (glob).")] = "alternating",
    set_: Sets = [],  # noqa: B006  (Typer reads the default)
    num_samples: Annotated[int, typer.Option(min=2, help="Generated images scored.")] = 10_000,
    reference_samples: Annotated[
        int | None, typer.Option(min=2, help="Reference images (default: the metric's).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="FID/IS: this Inception weights file.")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Evaluations timed.")] = 3,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    output: Annotated[Path | None, typer.Option(help="Also write the result as JSON.")] = None,
) -> None:
    """Time one metric's evaluation of a fresh generator: set-up once, then the median of
    the repeats, split into generation and scoring."""
    from ganbench.config import load_suite
    from ganbench.latency.settings import one_choice

    choice = one_choice("--device", device, ("auto", "cpu", "cuda"))
    loaded = load_suite(suite, set_)  # the file's mistakes said before torch is imported
    from ganbench.config import choose_run
    from ganbench.run.session import resolve_device
    from ganbench.selftest.metric_time import metric_settings, time_metric

    chosen = choose_run(loaded, run)
    config = metric_settings(metric, num_samples, reference_samples, weights)
    where = resolve_device(choice, "--device")
    console.print(f"timing {metric} on {num_samples} samples of {chosen.id}'s generator, {where}")
    result = time_metric(chosen, config, where, repeats)
    console.print(f"set-up {result.setup_s:.2f} s (cached parts load, not rebuild)")
    for name, parts in result.setup.items():
        described = ", ".join(plain(k, v) for k, v in parts.items() if not isinstance(v, dict))
        console.print(f"  {name}: {described}", highlight=False)
    for part, seconds in result.median_s.items():
        console.print(f"  {part:<14} median {seconds:8.2f} s  (of {repeats})")
    values = ", ".join(plain(k, v) for k, v in result.values.items())
    console.print(f"  values: {values or 'none'}", highlight=False)
    _write_json(result.as_dict(), output)


def plain(name: str, value: object) -> str:
    """``name value`` as a person reads it: seconds with two decimals and their unit,
    other numbers to four significant digits, a missing value as ``-``."""
    if isinstance(value, float) and (name == "seconds" or name.endswith("_s")):
        return f"{name} {value:.2f} s"
    if isinstance(value, float):
        return f"{name} {value:.4g}"
    return f"{name} {'-' if value is None else value}"


@selftest_app.command("gpu")
def selftest_gpu(
    output: Annotated[Path, typer.Option(help="Folder for every figure and gpu_check.md.")] = Path(
        "reports/gpu-check"
    ),
    device: Annotated[str, typer.Option(help="auto, cuda or cpu.")] = "auto",
    budget: Annotated[
        float, typer.Option(min=30, help="Seconds for the whole check; steps past it are skipped.")
    ] = 480.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Every step at its smallest: checks the kit.")
    ] = False,
) -> None:
    """Run every CUDA path once, time-boxed: the gpu tests, overhead, the levers, SRFB's
    pace, latency, FID/IS time, NVML and MFU; figures against targets in gpu_check.md.
    Exit 1 when a step failed or ran out of time. Without CUDA (and without --device
    cpu) it says what it would run and exits 0."""
    from ganbench.selftest.gpu_check import CheckOptions, run_check
    from ganbench.selftest.gpu_report import write_check
    from ganbench.selftest.gpu_steps import STEPS, no_gpu_plan

    chosen = _gpu_check_device(device)
    if chosen is None:
        console.print(no_gpu_plan(STEPS), highlight=False)
        return
    options = CheckOptions(output, chosen, dry_run, budget, Path.cwd())
    result = run_check(options, STEPS, lambda line: console.print(line, highlight=False))
    console.print(f"written: {write_check(result, output)}")
    if result.exit_code:
        bad = [s.name for s in result.steps if s.status in ("failed", "timed out")]
        console.print(f"steps that failed or ran out of time: {', '.join(bad)}")
        raise typer.Exit(code=result.exit_code)


def _gpu_check_device(choice: str) -> str | None:
    """cuda where there is one (auto), cpu when asked; None: no GPU, nothing to run."""
    import torch

    from ganbench.errors import UserError

    if choice not in ("auto", "cuda", "cpu"):
        raise UserError(f"--device {choice}: choose auto, cuda or cpu")
    if choice == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise UserError("--device cuda: no CUDA device is visible here")
    return None


def _write_json(figures: dict, output: Path | None) -> None:
    """The figures as JSON at ``output`` (nothing when None)."""
    import json

    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {output}")
