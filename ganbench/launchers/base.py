"""Where runs execute. A launcher is a registry entry with a config section (``launcher:``
in a suite, ``--launcher`` on the command line); every launcher runs the same run
function (``run.train.train_run``) on the same run folder, so resume, skip and the
results format never depend on where a run ran.

``Launcher.launch(plan, observer, stop)`` trains one planned run and returns its summary;
``run_suite`` executes a suite's plans (one after another unless a launcher knows
better) holding the suite folder's lock (and each run folder's), re-runs those measured
on an unsteady machine when asked (``launchers.rerun``), records the suite and writes
runs.csv when it ends.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from pydantic import Field

from ganbench.config.schema import Suite
from ganbench.errors import StorageFull, stopped_by_storage
from ganbench.launchers.rerun import rerun_unsteady
from ganbench.launchers.signals import GracefulStop
from ganbench.registry import Registry, Section
from ganbench.results import RunStatus, RunSummary, write_runs_csv, write_suite_meta
from ganbench.results.folders import remember_suite_folder
from ganbench.results.lock import FolderLock
from ganbench.results.repository import repository
from ganbench.run.plan import RunPlan
from ganbench.run.session import resolve_device
from ganbench.run.summary import identity, storage_guard


class Observer(Protocol):
    """What a launcher reports as it goes (the CLI renders it)."""

    def run_started(self, plan: RunPlan, index: int, total: int) -> None: ...

    def logged(self, record: dict[str, Any]) -> None: ...

    def run_ended(self, plan: RunPlan, summary: RunSummary) -> None: ...

    def noted(self, text: str) -> None: ...


class StopSignal(Protocol):
    """Whether the user asked the suite to stop (checked once per iteration): None, or
    what asked (e.g. ``"SIGTERM"``)."""

    def requested(self) -> str | None: ...


class LauncherConfig(Section):
    name: str = Field(..., description="where runs execute")


class Launcher:
    """A registry entry: how planned runs get trained."""

    Config: ClassVar[type[LauncherConfig]]
    remote: ClassVar[bool] = False  # runs train on other machines (ray, slurm)

    def __init__(self, cfg: LauncherConfig) -> None:
        self.cfg = cfg

    def ddp_processes(self, device: torch.device) -> int:
        """Processes that train each ``levers.parallel: ddp`` run on ``device``."""
        return 1

    def resolve_device(self, choice: str) -> torch.device:
        """The device a run's ``device:`` means where this launcher trains it."""
        return resolve_device(choice)

    def launch(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        raise NotImplementedError

    def run_suite(
        self,
        suite: Suite,
        plans: list[RunPlan],
        observer: Observer | None = None,
        stop: StopSignal | None = None,
        rerun_unsteady_times: int = 0,
    ) -> list[RunSummary]:
        """Execute the plans in order, holding the suite folder's lock; one summary per run
        (skipped ones included), a re-run one's latest attempt. A stop request (``stop``,
        else this process's own signal handling) ends the suite after the running run, a
        full disk after the failed run; the rest stays planned for the next call. Then,
        with ``rerun_unsteady_times`` N, runs measured on an unsteady machine are trained
        again, up to N times each (``launchers.rerun``)."""
        with FolderLock(suite.output_dir, "suite folder") as lock, contextlib.ExitStack() as scope:
            if lock.took_over and observer:
                observer.noted(f"{suite.output_dir}: {lock.describe_previous()}")
            stop = stop or scope.enter_context(GracefulStop())
            ids = [p.run.id for p in plans]
            write_suite_meta(
                suite.output_dir, suite.name, suite.source, suite.baseline, ids, repository()
            )
            remember_suite_folder(suite.output_dir)
            try:
                summaries = self._run_plans(plans, observer, stop)
                return rerun_unsteady(
                    suite.output_dir,
                    plans,
                    summaries,
                    lambda again: self._run_plans(again, observer, stop),
                    lambda text: observer.noted(text) if observer else None,
                    stop.requested,
                    rerun_unsteady_times,
                )
            finally:
                _write_runs_csv(suite.output_dir)

    def _run_plans(
        self, plans: list[RunPlan], observer: Observer | None, stop: StopSignal
    ) -> list[RunSummary]:
        summaries: list[RunSummary] = []
        for index, plan in enumerate(plans):
            if stop.requested():
                break
            if observer:
                observer.run_started(plan, index, len(plans))
            try:
                with FolderLock(plan.store.folder, "run folder"):
                    summary = self._execute(plan, observer, stop)
            except StorageFull as full:
                summary = full.summary
            summaries.append(summary)
            if observer:
                observer.run_ended(plan, summary)
            if summary.status == RunStatus.INTERRUPTED or stopped_by_storage(summary.reason):
                break
        return summaries

    def _execute(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        if plan.restore_config is not None:
            plan.store.write_config(plan.restore_config)
        if plan.action == "skip":
            stored = RunSummary.model_validate(plan.store.read_summary())
            return stored.model_copy(update={"skipped": True})
        if plan.action == "start":
            plan.store.clear()
        return self.launch(plan, observer, stop)


def record_failure(plan: RunPlan, reason: str, **extra: Any) -> RunSummary:
    """A run whose launch failed before it wrote a summary (its workers or task lost),
    recorded by the launcher: an ``end`` event and a failed summary."""
    summary = identity(plan.run, RunStatus.FAILED, reason, **extra)
    with storage_guard(summary), plan.store.open_events() as events:
        events.write("end", status=summary.status.value, reason=reason)
        plan.store.write_summary(summary)
    return summary


def _write_runs_csv(output_dir: Path) -> None:
    try:
        write_runs_csv(output_dir)
    except OSError:
        pass  # a full disk: every summary.json is still there and the report reads those


LAUNCHERS: Registry[type[Launcher]] = Registry("launcher")
