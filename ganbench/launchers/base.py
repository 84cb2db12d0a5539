"""Where runs execute. A launcher is a registry entry with a config section (``launcher:``
in a suite, ``--launcher`` on the command line); every launcher runs the same run
function (``run.train.train_run``) on the same run folder, so resume, skip and the
results format never depend on where a run ran.

``Launcher.launch(plan, observer, stop)`` trains one planned run and returns its summary;
``run_suite`` executes a suite's plans (one after another unless a launcher knows
better), records the suite and rewrites runs.csv after every run.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch
from pydantic import Field

from ganbench.config.schema import Suite
from ganbench.launchers.signals import GracefulStop
from ganbench.registry import Registry, Section
from ganbench.results import RunStatus, RunSummary, write_runs_csv, write_suite_meta
from ganbench.run.plan import RunPlan


class Observer(Protocol):
    """What a launcher reports as it goes (the CLI renders it)."""

    def run_started(self, plan: RunPlan, index: int, total: int) -> None: ...

    def logged(self, record: dict[str, Any]) -> None: ...

    def run_ended(self, plan: RunPlan, summary: RunSummary) -> None: ...


class StopSignal(Protocol):
    """Whether the user asked the suite to stop (checked once per iteration)."""

    def requested(self) -> bool: ...


class LauncherConfig(Section):
    name: str = Field(..., description="where runs execute")


class Launcher:
    """A registry entry: how planned runs get trained."""

    Config: ClassVar[type[LauncherConfig]]

    def __init__(self, cfg: LauncherConfig) -> None:
        self.cfg = cfg

    def ddp_processes(self, device: torch.device) -> int:
        """Processes that train each ``levers.parallel: ddp`` run on ``device``."""
        return 1

    def launch(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        raise NotImplementedError

    def run_suite(
        self, suite: Suite, plans: list[RunPlan], observer: Observer | None = None
    ) -> list[RunSummary]:
        """Execute the plans in order; one summary per run (skipped ones included). A run
        stopped on request ends the suite (the rest stays planned for the next call)."""
        suite.output_dir.mkdir(parents=True, exist_ok=True)
        ids = [p.run.id for p in plans]
        write_suite_meta(suite.output_dir, suite.name, suite.source, suite.baseline, ids)
        summaries = []
        with GracefulStop() as stop:
            for index, plan in enumerate(plans):
                if observer:
                    observer.run_started(plan, index, len(plans))
                summary = self._execute(plan, observer, stop)
                summaries.append(summary)
                write_runs_csv(suite.output_dir)
                if observer:
                    observer.run_ended(plan, summary)
                if summary.status == RunStatus.INTERRUPTED:
                    break
        return summaries

    def _execute(self, plan: RunPlan, observer: Observer | None, stop: StopSignal) -> RunSummary:
        if plan.action == "skip":
            stored = RunSummary.model_validate(plan.store.read_summary())
            return stored.model_copy(update={"skipped": True})
        if plan.action == "start":
            plan.store.clear()
        return self.launch(plan, observer, stop)


LAUNCHERS: Registry[type[Launcher]] = Registry("launcher")
