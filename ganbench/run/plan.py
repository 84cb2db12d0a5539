"""Planning a suite: every check that can fail before any work (data, metrics, ddp
splits), and what to do with each run: start it, resume it from its checkpoint, or skip
it (already final). Re-running a suite therefore skips finished runs and resumes
unfinished ones (``fresh=True`` starts them over); a run folder holding a different
training configuration is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch

from ganbench.config.schema import RunConfig, Suite
from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.metrics import METRICS
from ganbench.results import RunStatus, RunStore
from ganbench.results.store import sha256_of
from ganbench.run.loaded import load_generator
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


def plan_suite(
    suite: Suite,
    fresh: bool = False,
    placement: Placement = HERE,
    problems: list[str] | None = None,
) -> list[RunPlan]:
    """Decide what to do with every run. Every problem is found before any work: raised
    together as one UserError, or, given ``problems`` (a dry run), added to it and the
    plan made anyway. ``placement`` (the launcher): each run's device and the processes
    of a ddp run."""
    found = Problems()
    _check_datasets(suite.runs, found)
    _check_metrics(suite.runs, found)
    _check_loads(suite.runs, found)
    plans = []
    for run in suite.runs:
        store = RunStore(suite.output_dir / run.id)
        device = torch.device("cuda" if run.device == "cuda" else "cpu")
        with found.gather():
            device = placement.resolve_device(run.device)
        action, note, stored = "start", "", None
        if not fresh:
            with found.gather():
                action, note, stored = _decide(run, store)
        processes = placement.ddp_processes(device) if run.levers.parallel == "ddp" else 1
        if processes > 1:
            with found.gather():
                _check_ddp(run, device, processes, placement.remote)
        repairs = tuple(stored.notes) if stored else ()
        restore = stored.restored_config if stored else None
        plans.append(RunPlan(run, store, device, action, note, processes, restore, repairs))
    if problems is None:
        found.raise_all()
    else:
        problems.extend(found.items)
    return plans


class Problems:
    """Every problem a check found (each once, in order), so a suite reports them all
    in one message instead of one per attempt."""

    def __init__(self) -> None:
        self.items: list[str] = []

    @contextlib.contextmanager
    def gather(self) -> Iterator[None]:
        try:
            yield
        except UserError as err:
            self.add(str(err))

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)

    def raise_all(self) -> None:
        if len(self.items) == 1:
            raise UserError(self.items[0])
        if self.items:
            raise UserError(describe_problems(self.items))


def describe_problems(items: list[str]) -> str:
    listed = "\n".join(f"  {i}. {item}" for i, item in enumerate(items, 1))
    return f"{len(items)} problems, each with its fix:\n{listed}"


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


def _check_datasets(runs: list[RunConfig], found: Problems) -> None:
    seen: set[str] = set()
    for run in runs:
        key = run.dataset.model_dump_json()
        if key not in seen:
            seen.add(key)
            with found.gather():
                DATASETS.get(run.dataset.name).check(run.dataset)


def _check_metrics(runs: list[RunConfig], found: Problems) -> None:
    """Every metric can run on its run's data (weights present, labels there ...); a
    problem already said (the data missing) is not said again for a metric."""
    seen: set[str] = set()
    for run in runs:
        for metric in run.evaluation.metrics:
            key = metric.model_dump_json() + run.dataset.model_dump_json()
            if key not in seen:
                seen.add(key)
                try:
                    METRICS.get(metric.name).check_values(metric, run.dataset)
                    METRICS.get(metric.name).check(metric, run.dataset)
                except UserError as err:
                    if not any(said in str(err) for said in found.items):
                        found.add(f"run {run.name!r}: {err}")


def _check_loads(runs: list[RunConfig], found: Problems) -> None:
    """Every pre-trained generator (``load``) loads and makes the dataset's examples:
    built once per source and data shape, on the CPU."""
    seen: set[str] = set()
    for run in (r for r in runs if r.load is not None):
        key = f"{run.load.model_dump_json()}{run.dataset.model_dump_json()}{run.model}"
        if key not in seen:
            seen.add(key)
            with found.gather():
                load_generator(run)


def _decide(run: RunConfig, store: RunStore) -> tuple[Action, str, StoredRun | None]:
    """(action, note, what was found damaged in the folder and how it is recovered)."""
    stored = read_stored(store)
    if stored.config is None:
        return "start", "", stored
    changed = _differences(stored.config.training_identity(), run.training_identity())
    if run.load is not None:  # nothing trained to lose: measured again when anything moved
        changed += _source_changed(run, store)
        if changed:
            return "start", f"measured again: {', '.join(changed)} changed", stored
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


def _source_changed(run: RunConfig, store: RunStore) -> list[str]:
    """``["load.source file"]`` when the file loaded last time (its SHA-256 in the
    summary) is not the file there now."""
    summary = store.read_summary() or {}
    recorded = ((summary.get("loaded") or {}).get("file") or {}).get("sha256")
    path = Path(run.load.source) if run.load is not None else None
    if recorded is None or path is None or not path.is_file():
        return []
    return [] if sha256_of(path) == recorded else ["load.source file"]


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]
