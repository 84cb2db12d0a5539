"""Terminal rendering for training: the plan, a progress bar per run, the summary tables,
the profiler's top operators and the overhead self-test."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ganbench.cli.console import fmt as _fmt
from ganbench.cli.console import table as _table
from ganbench.config import Suite
from ganbench.runner import RunPlan

STEPS = 1000  # progress bar resolution: the fraction of the run's budget


def print_plans(console: Console, suite: Suite, plans: list[RunPlan]) -> None:
    columns = ("run", "strategy", "batch", "budget", "device", "action")
    table = _table(f"suite {suite.name}: {len(plans)} runs -> {suite.output_dir}", columns, 6)
    for p in plans:
        r, b = p.run, p.run.budget
        budget = ", ".join(
            f"{v:g} {k}"
            for k, v in (("it", b.iterations), ("ep", b.epochs), ("s", b.wall_seconds))
            if v is not None
        )
        sizes = "->".join(str(s) for s in r.batch.sizes)
        action = p.action + (f" ({p.note})" if p.note else "")
        device = str(p.device) + (f" x{p.processes} (ddp)" if p.processes > 1 else "")
        table.add_row(r.id, r.strategy.name, sizes, budget, device, action)
    console.print(table)


class RichObserver:
    """One progress bar per run: share of the budget, it/s, losses, batch size, ETA."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def run_started(self, plan: RunPlan, index: int, total: int) -> None:
        label = f"[{index + 1}/{total}] {plan.run.id}"
        self.task = self.progress.add_task(label, total=STEPS, stats=plan.action)

    def logged(self, record: dict[str, Any]) -> None:
        if self.task is None:
            return
        rate = record["iteration"] / record["train_s"] if record["train_s"] > 0 else 0.0
        stats = (
            f"{rate:6.1f} it/s  d {record['d_loss']:.3f}  g {record['g_loss']:.3f}  "
            f"bs {record['batch_size']}"
        )
        self.progress.update(self.task, completed=record["fraction"] * STEPS, stats=stats)

    def run_ended(self, plan: RunPlan, summary: dict[str, Any]) -> None:
        if self.task is None:
            return
        status = summary.get("status", "?") + (" (skipped)" if summary.get("skipped") else "")
        done = STEPS if status.startswith("finished") else None
        self.progress.update(self.task, completed=done, stats=status)
        self.task = None


def print_summaries(console: Console, suite: Suite, summaries: list[dict[str, Any]]) -> None:
    columns = (
        "run",
        "status",
        "iters",
        "it/s",
        "img/s",
        "p50 ms",
        "train s",
        "grad evals",
        "full passes",
        "GFLOP/it",
        "MFU %",
        "RSS MiB",
        "CUDA MiB",
    )
    table = _table(f"suite {suite.name}", columns, left=2)
    for s in summaries:
        status = s.get("status", "?") + (" (skipped)" if s.get("skipped") else "")
        p50, rss, cuda = (
            s.get(k) for k in ("iter_time_p50_s", "peak_rss_bytes", "peak_cuda_alloc_bytes")
        )
        flops, mfu = s.get("flops_per_iteration"), s.get("mfu")
        table.add_row(
            s.get("run_id", "?"),
            status,
            _fmt(s.get("iterations"), "d"),
            _fmt(s.get("iterations_per_s"), ".1f"),
            _fmt(s.get("images_per_s"), ".0f"),
            _fmt(p50 * 1e3 if p50 is not None else None, ".1f"),
            _fmt(s.get("train_s"), ".1f"),
            _fmt(s.get("grad_evals"), "d"),
            _fmt(s.get("full_batch_passes"), "d"),
            _fmt(flops / 1e9 if flops is not None else None, ".2f"),
            _fmt(mfu * 100 if mfu is not None else None, ".1f"),
            _fmt(rss / 2**20 if rss else None, ".0f"),
            _fmt(cuda / 2**20 if cuda else None, ".0f"),
        )
    console.print(table)
    print_phases(console, summaries)
    print_quality(console, summaries)
    console.print(
        f"results: {suite.output_dir}/ (runs.csv, and per run: summary.json, "
        "events.jsonl, samples.png, checkpoint.pt)"
    )


def print_quality(console: Console, summaries: list[dict[str, Any]]) -> None:
    """Final (best) value of each metric and the training time to each target."""
    from ganbench.metrics.base import directions

    rows = [s for s in summaries if s.get("quality")]
    if not rows:
        return
    known = directions()
    values = [v for v in dict.fromkeys(k for s in rows for k in s["quality"]) if known.get(v)]
    targets = list(dict.fromkeys(k for s in rows for k in s.get("time_to_target", {})))
    target_columns = []
    for name in targets:
        goal = next(
            s["time_to_target"][name]["target"] for s in rows if name in s["time_to_target"]
        )
        target_columns.append(f"{name} {'<=' if known.get(name) == 'min' else '>='} {goal:g}")
    table = _table(
        "quality: final (best); training time to target",
        ("run", *values, *target_columns),
    )
    for s in rows:
        cells = []
        for name in values:
            q = s["quality"].get(name, {})
            final, best = q.get("final"), q.get("best")
            cells.append("-" if final is None else f"{final:.4g} ({best:.4g})")
        for name in targets:
            t = s.get("time_to_target", {}).get(name)
            if t is None:
                cells.append("-")
            elif t["reached"]:
                cells.append(f"{t['train_s']:.1f} s (it {t['iteration']})")
            else:
                cells.append("not reached")
        table.add_row(s["run_id"], *cells)
    console.print(table)


def print_phases(console: Console, summaries: list[dict[str, Any]]) -> None:
    """Share of measured time per phase (%), one row per run; data-bound runs flagged."""
    from ganbench.trackers.phases import PHASES

    rows = [s for s in summaries if s.get("phases")]
    present = [p for p in PHASES if any(p in s["phases"] for s in rows)]
    if not present:
        return
    table = _table("where the time goes (% of measured time)", ("run", *present, "data-bound"))
    for s in rows:
        shares = [s["phases"].get(p, {}).get("share") for p in present]
        bound = {True: "yes", False: "no", None: "-"}[s.get("data_bound")]
        table.add_row(
            s["run_id"], *(_fmt(v * 100 if v is not None else None, ".1f") for v in shares), bound
        )
    console.print(table)


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
        "CPU MiB": lambda r: f"{r.self_cpu_memory_bytes / 2**20:.1f}",
        "device MiB": lambda r: f"{r.self_device_memory_bytes / 2**20:.1f}",
    }
    if not device:
        columns = {k: v for k, v in columns.items() if "device" not in k}
    table = _table(title, tuple(columns))
    for row in frame.itertuples(index=False):
        table.add_row(*(render(row) for render in columns.values()))
    console.print(table)


def print_overhead(console: Console, r: Any) -> None:
    """The instrumentation overhead: paired-block ratio and null-step cost."""
    table = _table(f"instrumentation overhead: {r.run_id} on {r.device}", ("measure", "value"))
    lo, hi = r.ratio_ci95
    table.add_row("bare step, median", f"{r.bare_iter_s * 1e3:.2f} ms/it")
    table.add_row("instrumented loop, median", f"{r.instrumented_iter_s * 1e3:.2f} ms/it")
    table.add_row(
        f"ratio instrumented/bare ({r.rounds} pairs x {r.block} it)",
        f"{r.ratio_median:.4f} [95% CI {lo:.4f}, {hi:.4f}; min {r.ratio_min:.4f}, "
        f"max {r.ratio_max:.4f}]",
    )
    table.add_row("overhead from paired blocks", f"{r.overhead_pct:+.2f} %")
    table.add_row(
        f"null-step cost ({r.phases_per_iteration} phases/it)",
        f"{r.null_step_cost_s * 1e6:.1f} us/it = {r.null_step_overhead_pct:.3f} % of the bare step",
    )
    console.print(table)
