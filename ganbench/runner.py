"""Runs a suite: checks everything first, then trains each run in isolation.

Re-running a suite skips finished runs and resumes unfinished ones from their
checkpoint (``fresh=True`` starts them over). A failure inside one run is recorded in
that run and the suite goes on; Ctrl-C stops after the current iteration with a
checkpoint written (a second Ctrl-C stops at once).
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from pydantic import ValidationError

from ganbench import ddp
from ganbench.config import RunConfig, Suite
from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.metrics import METRICS
from ganbench.results import RunStatus, RunStore, write_runs_csv, write_suite_meta
from ganbench.session import resolve_device
from ganbench.train import train_run

Action = Literal["start", "resume", "skip"]


@dataclass(frozen=True)
class RunPlan:
    run: RunConfig
    store: RunStore
    device: torch.device
    action: Action
    note: str = ""
    processes: int = 1  # > 1: a ddp run launched in that many processes


class Observer(Protocol):
    """What the runner reports as it goes (the CLI renders it)."""

    def run_started(self, plan: RunPlan, index: int, total: int) -> None: ...

    def logged(self, record: dict[str, Any]) -> None: ...

    def run_ended(self, plan: RunPlan, summary: dict[str, Any]) -> None: ...


def plan_suite(suite: Suite, fresh: bool = False, nproc_per_node: int = 1) -> list[RunPlan]:
    """Decide what to do with every run; raise UserError before any work on a problem.
    ``nproc_per_node``: processes for each ``levers.parallel: ddp`` run."""
    _check_datasets(suite.runs)
    _check_metrics(suite.runs)
    plans = []
    for run in suite.runs:
        store = RunStore(suite.output_dir / run.id)
        device = resolve_device(run.device)
        action, note = ("start", "") if fresh else _decide(run, store)
        processes = 1
        if run.levers.parallel == "ddp" and nproc_per_node > 1:
            _check_ddp(run, device, nproc_per_node)
            processes = nproc_per_node
        plans.append(RunPlan(run, store, device, action, note, processes))
    return plans


def _check_ddp(run: RunConfig, device: torch.device, processes: int) -> None:
    """Every batch splits evenly into the processes' micro-batches; a GPU per process."""
    k = run.levers.grad_accumulation
    for size in run.batch.sizes:
        if size % (processes * k):
            raise UserError(
                f"run {run.name!r}: batch size {size} does not split into {processes} "
                f"processes x {k} micro-batches (levers.parallel: ddp with --nproc-per-node "
                f"{processes}); choose sizes divisible by {processes * k}"
            )
    if device.type == "cuda" and processes > torch.cuda.device_count():
        raise UserError(
            f"--nproc-per-node {processes}: only {torch.cuda.device_count()} CUDA devices are "
            "visible (ddp runs one process per GPU)"
        )


def _check_datasets(runs: list[RunConfig]) -> None:
    seen: set[str] = set()
    for run in runs:
        key = run.dataset.model_dump_json()
        if key not in seen:
            seen.add(key)
            DATASETS.get(run.dataset.name).check(run.dataset)


def _check_metrics(runs: list[RunConfig]) -> None:
    """Every metric can run on its run's data (weights present, labels there ...)."""
    seen: set[str] = set()
    for run in runs:
        for metric in run.evaluation.metrics:
            key = metric.model_dump_json() + run.dataset.model_dump_json()
            if key not in seen:
                seen.add(key)
                try:
                    METRICS.get(metric.name).check(metric, run.dataset)
                except UserError as err:
                    raise UserError(f"run {run.name!r}: {err}") from None


def _decide(run: RunConfig, store: RunStore) -> tuple[Action, str]:
    stored = store.read_config()
    if stored is None:
        return "start", ""
    try:
        stored_run = RunConfig.model_validate(stored)
    except ValidationError:
        raise UserError(
            f"{store.config}: cannot be read as a run of this ganbench version. Use --fresh "
            "to start the run over, or another output_dir"
        ) from None
    changed = _differences(stored_run.training_identity(), run.training_identity())
    if changed:
        raise UserError(
            f"{store.folder}: holds a run with a different configuration "
            f"(differs in: {', '.join(changed)}). Use --fresh to start it over, or another "
            "output_dir"
        )
    summary = store.read_summary() or {}
    status = summary.get("status")
    if status in {s.value for s in RunStatus if s.final} and (
        status != "finished" or stored_run.budget == run.budget
    ):
        return "skip", f"already {status}"
    if store.checkpoint.is_file():
        return "resume", "from its last checkpoint"
    return "start", "no checkpoint to resume from"


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def run_suite(
    suite: Suite, plans: list[RunPlan], observer: Observer | None = None
) -> list[dict[str, Any]]:
    """Execute the plans in order; return one summary per run (skipped ones included)."""
    suite.output_dir.mkdir(parents=True, exist_ok=True)
    write_suite_meta(
        suite.output_dir, suite.name, suite.source, suite.baseline, [p.run.id for p in plans]
    )
    summaries = []
    with GracefulStop() as stop:
        for index, plan in enumerate(plans):
            if observer:
                observer.run_started(plan, index, len(plans))
            summary = _execute(plan, observer, stop)
            summaries.append(summary)
            write_runs_csv(suite.output_dir)
            if observer:
                observer.run_ended(plan, summary)
            if summary.get("status") == "interrupted":
                break
    return summaries


def _execute(plan: RunPlan, observer: Observer | None, stop: GracefulStop) -> dict[str, Any]:
    if plan.action == "skip":
        return {**(plan.store.read_summary() or {}), "skipped": True}
    if plan.action == "start":
        plan.store.clear()
    on_log = observer.logged if observer else None
    if plan.processes > 1:
        return ddp.launch(
            plan.run, plan.store, plan.device.type, plan.processes, on_log, stop.requested
        )
    summary = train_run(
        plan.run, plan.store, plan.device, on_log=on_log, should_stop=stop.requested
    )
    # A run's session holds reference cycles (strategy <-> session), so its models, data
    # and optimiser state would outlive it until a full collection: free them now, or the
    # next run starts with this one's host and GPU memory still taken.
    gc.collect()
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    return summary


class GracefulStop:
    """First SIGINT asks the loop to stop after the current iteration; a second raises."""

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._flag = False
        self._previous: Any = None
        self._notify = notify

    def requested(self) -> bool:
        return self._flag

    def _handle(self, signum: int, frame: Any) -> None:
        if self._flag:
            raise KeyboardInterrupt
        self._flag = True
        if self._notify:
            self._notify()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
