"""Terminal rendering for training: the plan, a progress bar per run, the summary tables,
the profiler's top operators and the overhead self-test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from ganbench.cli.console import fmt as _fmt
from ganbench.cli.console import show
from ganbench.cli.console import table as _table
from ganbench.config import Suite
from ganbench.errors import stopped_by_storage
from ganbench.results import RunStatus, RunSummary, read_events
from ganbench.results.summary import quality_direction
from ganbench.run.plan import RunPlan
from ganbench.run.summary import PHASES

STEPS = 1000  # progress bar resolution: the fraction of the run's budget


def print_plans(console: Console, suite: Suite, plans: list[RunPlan]) -> None:
    columns = ("run", "strategy", "batch", "budget", "device", "action")
    runs = f"{len(plans)} run{'s' if len(plans) != 1 else ''}"
    table = _table(f"suite {suite.name}: {runs} -> {suite.output_dir}", columns, 6)
    for p in plans:
        r, b = p.run, p.run.budget
        budget = "-"
        if r.load is None and b is not None:
            limits = (("it", b.iterations), ("ep", b.epochs), ("s", b.wall_seconds))
            budget = ", ".join(f"{v:g} {k}" for k, v in limits if v is not None)
        sizes = r.batch.label if r.load is None else "-"
        action = p.action + (f" ({p.note})" if p.note else "")
        device = str(p.device) + (f" x{p.processes} (ddp)" if p.processes > 1 else "")
        strategy = r.strategy.name if r.load is None else f"load {r.load.source}"
        table.add_row(r.id, strategy, sizes, budget, device, action)
    show(console, table)
    for p in plans:
        for repair in p.repairs:
            console.print(f"  {p.run.id}: {repair}", highlight=False, markup=False)


def print_problems(console: Console, problems: list[str]) -> None:
    """What a dry run found that would stop training, each with its fix."""
    if not problems:
        console.print("no problems found: ready to train")
        return
    console.print(f"[bold]before training, fix ({len(problems)}):[/]")
    for i, problem in enumerate(problems, 1):
        console.print(f"  {i}. {escape(problem)}", highlight=False)


class RichObserver:
    """One progress bar per run: share of the budget, it/s, losses, batch size, ETA."""

    def __init__(self, console: Console) -> None:
        # The times before the statistics and a bar that shrinks with the terminal, so at
        # 80 columns what is cut off is the end of the losses, never elapsed, left or it/s.
        self.progress = Progress(
            TextColumn("{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=max(8, min(40, console.width - 110))),
            TextColumn("{task.percentage:>5.1f}%", table_column=Column(min_width=6)),
            TimeElapsedColumn(table_column=Column(min_width=7)),
            TimeRemainingColumn(table_column=Column(min_width=7)),
            TextColumn("{task.fields[stats]}", table_column=Column(no_wrap=True, ratio=1)),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}  # run id -> its bar (several under ray)

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def run_started(self, plan: RunPlan, index: int, total: int) -> None:
        label = f"[{index + 1}/{total}] {plan.run.id}"
        self.tasks[plan.run.id] = self.progress.add_task(label, total=STEPS, stats=plan.action)

    def logged(self, record: dict[str, Any]) -> None:
        task = self.tasks.get(record.get("run_id", ""))
        if task is None:
            return
        if record.get("event") == "setup":  # one-off work before the first iteration
            left = record.get("setup_left_s")
            eta = f", about {left:.0f} s left" if left is not None else ""
            stats = f"{record['what']}: {record['setup_fraction']:.0%}{eta}"
            if record.get("where"):
                stats = f"{record['where']}  {stats}"
            self.progress.update(task, completed=0, stats=stats)
            return
        rate = record["iteration"] / record["train_s"] if record["train_s"] > 0 else 0.0
        stats = (
            f"{rate:.1f} it/s  bs {record['batch_size']}  d {record['d_loss']:.3f}  "
            f"g {record['g_loss']:.3f}"
        )
        if record.get("where"):  # a run trained elsewhere (ray, slurm): its node and GPUs
            stats = f"{record['where']}  {stats}"
        self.progress.update(task, completed=record["fraction"] * STEPS, stats=stats)

    def noted(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False)

    def run_ended(self, plan: RunPlan, summary: RunSummary) -> None:
        task = self.tasks.pop(plan.run.id, None)
        if task is None:
            return
        # The ended run's bar becomes a printed line: the live area holds only the runs
        # in flight, so a suite of a thousand runs redraws as fast at its end as at its start.
        done = STEPS if summary.status == RunStatus.FINISHED else None
        self.progress.update(task, completed=done, stats=_status(summary))
        ended = next(t for t in self.progress.tasks if t.id == task)
        line = self.progress.make_tasks_table([ended])
        self.progress.remove_task(task)
        self.progress.console.print(line)


def _status(summary: RunSummary) -> str:
    return summary.status.value + (" (skipped)" if summary.skipped else "")


def _scaled(value: float | None, scale: float, spec: str) -> str:
    return _fmt(value * scale if value is not None else None, spec)


def print_summaries(console: Console, suite: Suite, summaries: list[RunSummary]) -> None:
    columns = ("run", "status", "iters", "it/s", "img/s", "p50 ms", "train s", "grad evals")
    columns += ("full passes", "GFLOP/it", "MFU %", "RSS MiB", "CUDA MiB")
    table = _table(f"suite {suite.name}", columns, left=2)
    for s in summaries:
        table.add_row(
            s.run_id,
            _status(s),
            _fmt(s.iterations, "d"),
            _fmt(s.iterations_per_s, ".1f"),
            _fmt(s.images_per_s, ".0f"),
            _scaled(s.iter_time_p50_s, 1e3, ".1f"),
            _fmt(s.train_s, ".1f"),
            _fmt(s.grad_evals, "d"),
            _fmt(s.full_batch_passes, "d"),
            _scaled(s.flops_per_iteration, 1e-9, ".2f"),
            _scaled(s.mfu, 100, ".1f"),
            _scaled(s.peak_rss_bytes or None, 2**-20, ".0f"),
            _scaled(s.peak_cuda_alloc_bytes or None, 2**-20, ".0f"),
        )
    show(console, table)
    print_reasons(console, summaries)
    print_phases(console, summaries)
    print_quality(console, summaries)
    print_isolation(console, summaries)
    console.print(
        f"results: {suite.output_dir}/ (runs.csv, and per run: summary.json, "
        "events.jsonl, samples.png, checkpoint.pt)"
    )


def print_isolation(console: Console, summaries: list[RunSummary]) -> None:
    """What the rates mean, and whether the runs trained in processes of their own (with
    the start-up that cost, outside every figure) or after one another in one."""
    trained = [s for s in summaries if not s.skipped and s.environment]
    if not trained:
        return
    text = "it/s, img/s: steady state (warm-up, compilation left out; *_overall in summary.json)"
    startups = [s.environment.get("process_startup_s") for s in trained]
    shared = [s for s in trained if s.environment.get("runs_before_in_process")]
    if shared:
        text += f"; {len(shared)} run(s) trained after others in the same process"
    elif None not in startups:
        low, high = min(startups), max(startups)
        span = f"{low:.1f} s" if high - low < 0.05 else f"{low:.1f}-{high:.1f} s"
        text += f"; each run in a process of its own (start-up {span})"
    console.print(text, highlight=False, markup=False)


def print_reasons(console: Console, summaries: list[RunSummary]) -> None:
    """One line per run that did not finish: why (the full story is in its folder)."""
    for s in summaries:
        if s.status != RunStatus.FINISHED and not s.skipped:
            more = " (traceback: error.txt)" if s.status == RunStatus.FAILED else ""
            if stopped_by_storage(s.reason):
                more = " (the suite stopped: free space, then run it again; finished runs are kept)"
            console.print(
                f"  {s.run_id} {s.status.value}: {s.reason}{more}", highlight=False, markup=False
            )


def print_quality(console: Console, summaries: list[RunSummary]) -> None:
    """Final (best) value of each metric and the training time to each target."""
    rows = [s for s in summaries if s.quality]
    if not rows:
        return
    directions: dict[str, str | None] = {}
    for s in rows:
        for value, q in s.quality.items():
            directions[value] = directions.get(value) or quality_direction(
                value, q.get("direction")
            )
    values = [v for v, direction in directions.items() if direction]
    targets = list(dict.fromkeys(k for s in rows for k in s.time_to_target or {}))
    target_columns = []
    for name in targets:
        goal = next(s.time_to_target[name]["target"] for s in rows if name in s.time_to_target)
        target_columns.append(f"{name} {'<=' if directions.get(name) == 'min' else '>='} {goal:g}")
    table = _table(
        "quality: final (best); training time to target",
        ("run", *values, *target_columns),
    )
    for s in rows:
        cells = []
        for name in values:
            q = s.quality.get(name, {})
            final, best = q.get("final"), q.get("best")
            cells.append("-" if final is None else f"{final:.4g} ({best:.4g})")
        for name in targets:
            t = (s.time_to_target or {}).get(name)
            if t is None:
                cells.append("-")
            elif t["reached"]:
                cells.append(f"{t['train_s']:.1f} s (it {t['iteration']})")
            else:
                cells.append("not reached")
        table.add_row(s.run_id, *cells)
    show(console, table)


def print_phases(console: Console, summaries: list[RunSummary]) -> None:
    """Share of measured time per phase (%), one row per run; data-bound runs flagged."""
    rows = [s for s in summaries if s.phases]
    present = [p for p in PHASES if any(p in s.phases for s in rows)]
    if not present:
        return
    table = _table("where the time goes (% of measured time)", ("run", *present, "data-bound"))
    for s in rows:
        shares = [s.phases.get(p, {}).get("share") for p in present]
        bound = {True: "yes", False: "no", None: "-"}[s.data_bound]
        table.add_row(s.run_id, *(_scaled(v, 100, ".1f") for v in shares), bound)
    show(console, table)


def print_top_operators(console: Console, frame: Any, title: str) -> None:
    """The profiler's operator table (times in ms, memory in MiB); device columns only
    when the trace has device time."""
    device = bool(frame["self_device_s"].sum() > 0)
    columns = {
        "operator": lambda r: r.operator,
        "calls": lambda r: str(r.calls),
        "self CPU ms": lambda r: f"{r.self_cpu_s * 1e3:.2f}",
        "CPU total ms": lambda r: f"{r.cpu_total_s * 1e3:.2f}",
        "self device ms": lambda r: f"{r.self_device_s * 1e3:.2f}",
        "device total ms": lambda r: f"{r.device_total_s * 1e3:.2f}",
        "self %": lambda r: f"{r.self_share * 100:.1f}",
        "CPU MiB net": lambda r: f"{r.self_cpu_memory_bytes / 2**20:.1f}",
        "device MiB net": lambda r: f"{r.self_device_memory_bytes / 2**20:.1f}",
    }
    if not device:
        columns = {k: v for k, v in columns.items() if "device" not in k}
    table = _table(title, tuple(columns))
    for row in frame.itertuples(index=False):
        table.add_row(*(render(row) for render in columns.values()))
    show(console, table)
    console.print(
        "MiB net: what the operator itself allocated minus what it freed while profiled "
        "(negative: it freed memory allocated before, e.g. the previous step's tensors)",
        highlight=False,
    )


def print_overhead(console: Console, r: Any) -> None:
    """The instrumentation overhead: the ratio of total times over whole log intervals,
    the median of the pairs' ratios beside it, and the null-step cost."""
    table = _table(f"instrumentation overhead: {r.run_id} on {r.device}", ("measure", "value"))
    lo, hi = r.ratio_total_ci95
    mlo, mhi = r.ratio_median_pairs_ci95
    table.add_row("bare step, mean", f"{r.bare_iter_s * 1e3:.2f} ms/it")
    table.add_row("instrumented loop, mean", f"{r.instrumented_iter_s * 1e3:.2f} ms/it")
    table.add_row(
        f"total time instrumented/bare ({r.rounds} rounds x {r.block} it)",
        f"{r.ratio_total:.4f} [95% CI {lo:.4f}, {hi:.4f}]",
    )
    table.add_row("overhead (ratio of total times)", f"{r.overhead_pct:+.2f} %")
    table.add_row(
        "median of the pairs' ratios (for comparison)",
        f"{r.ratio_median_pairs:.4f} [95% CI {mlo:.4f}, {mhi:.4f}; min "
        f"{r.ratio_pairs_min:.4f}, max {r.ratio_pairs_max:.4f}] = "
        f"{r.overhead_median_pairs_pct:+.2f} %",
    )
    table.add_row(
        f"null-step cost ({r.phases_per_iteration} phases/it)",
        f"{r.null_step_cost_s * 1e6:.1f} us/it = {r.null_step_overhead_pct:.3f} % of the bare step",
    )
    show(console, table)


def lost_work(folders: list[Path]) -> list[str]:
    """What a stop at once (a second Ctrl-C) cost each run that had not ended: the
    iterations logged since its last checkpoint, at least (those since the last log point
    too), and that training the suite again resumes it from that checkpoint."""
    lines = []
    for folder in folders:
        events = read_events(folder / "events.jsonl")
        if not events or events[-1].get("event") == "end":
            continue
        logged = max((e["iteration"] for e in events if e["event"] == "iteration"), default=0)
        saved = [e["iteration"] for e in events if e["event"] in ("checkpoint", "resume")]
        since = f"its checkpoint at iteration {saved[-1]}" if saved else "its start"
        lines.append(
            f"{folder.name}: stopped at once; at least {max(0, logged - (saved or [0])[-1])} "
            f"iterations since {since} are lost (train-suite again resumes from there)"
        )
    return lines
