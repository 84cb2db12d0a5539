"""Planning a suite: every check that can fail before any work (data, metrics, ddp
splits), and what to do with each run: start it, resume it from its checkpoint, or skip
it (already final). Re-running a suite therefore skips finished runs and resumes
unfinished ones (``fresh=True`` starts them over); a run folder holding a different
training configuration is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from ganbench.config.schema import RunConfig, Suite
from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.metrics import METRICS
from ganbench.results import RunStatus, RunStore
from ganbench.run.session import resolve_device
from ganbench.run.stored import StoredRun, checkpoint_note, read_stored

Action = Literal["start", "resume", "skip"]


@dataclass(frozen=True)
class RunPlan:
    run: RunConfig
    store: RunStore
    device: torch.device
    action: Action
    note: str = ""
    processes: int = 1  # > 1: a ddp run launched in that many processes
    restore_config: dict[str, Any] | None = None  # config.yaml to write back before the run
    repairs: tuple[str, ...] = ()  # damaged files found and what is done about them


class Placement(Protocol):
    """Where the runs will train, as the planner needs it (a launcher)."""

    remote: bool  # on other machines: their GPUs are not this process's to count

    def ddp_processes(self, device: torch.device) -> int:
        """Processes that train each ``levers.parallel: ddp`` run on ``device``."""
        ...

    def resolve_device(self, choice: str) -> torch.device:
        """The device a run's ``device:`` (auto, cpu, cuda) means where it will train."""
        ...


class _HereOneProcess:
    remote = False

    def ddp_processes(self, device: torch.device) -> int:
        return 1

    def resolve_device(self, choice: str) -> torch.device:
        return resolve_device(choice)


HERE = _HereOneProcess()


def plan_suite(suite: Suite, fresh: bool = False, placement: Placement = HERE) -> list[RunPlan]:
    """Decide what to do with every run; raise UserError before any work on a problem.
    ``placement`` (the launcher): each run's device and the processes of a ddp run."""
    _check_datasets(suite.runs)
    _check_metrics(suite.runs)
    plans = []
    for run in suite.runs:
        store = RunStore(suite.output_dir / run.id)
        device = placement.resolve_device(run.device)
        action, note, stored = ("start", "", None) if fresh else _decide(run, store)
        processes = placement.ddp_processes(device) if run.levers.parallel == "ddp" else 1
        if processes > 1:
            _check_ddp(run, device, processes, placement.remote)
        repairs = tuple(stored.notes) if stored else ()
        restore = stored.restored_config if stored else None
        plans.append(RunPlan(run, store, device, action, note, processes, restore, repairs))
    return plans


def _check_ddp(run: RunConfig, device: torch.device, processes: int, remote: bool) -> None:
    """Every batch splits evenly into the processes' micro-batches; a GPU per process."""
    k = run.levers.grad_accumulation
    for size in run.batch.sizes:
        if size % (processes * k):
            raise UserError(
                f"run {run.name!r}: batch size {size} does not split into {processes} "
                f"processes x {k} micro-batches (levers.parallel: ddp); choose sizes "
                f"divisible by {processes * k}"
            )
    if device.type == "cuda" and not remote and processes > torch.cuda.device_count():
        raise UserError(
            f"ddp in {processes} processes (--nproc-per-node): only "
            f"{torch.cuda.device_count()} CUDA devices are visible (one process per GPU)"
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


def _decide(run: RunConfig, store: RunStore) -> tuple[Action, str, StoredRun | None]:
    """(action, note, what was found damaged in the folder and how it is recovered)."""
    stored = read_stored(store)
    if stored.config is None:
        return "start", "", stored
    changed = _differences(stored.config.training_identity(), run.training_identity())
    if changed:
        raise UserError(
            f"{store.folder}: holds a run with a different configuration "
            f"(differs in: {', '.join(changed)}). Use --fresh to start it over, or another "
            "output_dir"
        )
    finished_same = stored.status != RunStatus.FINISHED or stored.config.budget == run.budget
    if stored.final and finished_same:
        return "skip", f"already {stored.status}", stored
    resumable, note = checkpoint_note(store)
    return ("resume" if resumable else "start"), note, stored


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]
