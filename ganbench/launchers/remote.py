"""Launchers whose runs train in other processes or on other machines (Ray tasks, Slurm
array tasks). Both sides are here, shared by those launchers:

- the driver's (``Flights``): submit the runs, follow them from their ``events.jsonl``,
  pass a stop on as a stop file in each run folder, collect each run's summary; a
  launcher says only how to submit, poll, fetch and cancel;
- the task's (``run_task``): check the shared folder, then train the run folder with the
  same code as every launcher (``train_run``; a ddp run through torchrun on the task's
  node), so a task retried or requeued resumes from the run's checkpoint.

The run folders must be on storage every node shares: the driver writes a probe file
beside them that every task checks before it touches anything.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ganbench.config.schema import RunConfig
from ganbench.errors import StorageFull, UserError
from ganbench.home import DATA_ENV, HOME_ENV, data_root, home
from ganbench.launchers.base import Launcher, Observer, StopSignal, record_failure
from ganbench.launchers.follow import STOP_FILE, EventFollower, request_stop, stop_requested
from ganbench.results import RunStore, RunSummary, write_atomic
from ganbench.results.lock import FolderLock
from ganbench.run.plan import RunPlan
from ganbench.run.session import resolve_device
from ganbench.run.stored import read_stored
from ganbench.trackers.environment import LAUNCHER_ENV

PROBE_PREFIX = ".ganbench-probe-"
POLL_S = 0.2


def worker_device(choice: str, gpus_per_run: float | None) -> torch.device:
    """A run's device on the workers, decided on a driver that may have no GPU (a login
    node): ``cuda`` is taken as asked (the task fails with the reason if its node has none),
    ``auto`` is CUDA when runs are given GPUs, else what this machine has."""
    if choice == "cuda" or (choice == "auto" and gpus_per_run):
        return torch.device("cuda")
    return resolve_device(choice)


class RemoteLauncher(Launcher):
    """A launcher whose runs train on workers (its config has ``nproc_per_node`` and
    ``gpus_per_run``): a ddp run is one task of that many processes, and a run's device
    is what it will be on the workers."""

    remote = True

    def ddp_processes(self, device: torch.device) -> int:
        return self.cfg.nproc_per_node

    def resolve_device(self, choice: str) -> torch.device:
        return worker_device(choice, self.cfg.gpus_per_run)


class TaskLost(Exception):
    """A task that ended without returning (its worker, node or job lost for good)."""


@dataclass
class Flight:
    """A run whose task is submitted: its handle in the engine (a Ray ref, a job)."""

    plan: RunPlan
    handle: Any
    follower: EventFollower
    submitted: float
    lock: FolderLock | None = None
    where: str = ""  # the host (and GPUs) its task trains on, once it has started


@dataclass
class Flights(ABC):
    """The driver's side: submits the runs, follows them and collects their summaries."""

    launcher: Launcher
    observer: Observer | None
    stop: StopSignal
    pending: list[Flight] = field(default_factory=list)
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    stopping: bool = False
    storage_full: bool = False
    driver_locks = True  # the driver holds each run folder's lock while its task is out
    waits = True  # the driver waits for the tasks (not: returns once they are submitted)
    at_once: ClassVar[int | None] = None  # tasks out at a time (None: all; the engine queues them)
    queued: list[RunPlan] = field(default_factory=list)  # waiting for room (at_once)

    @abstractmethod
    def submit(self, plans: list[RunPlan], probe: Path) -> list[Any]:
        """Submit one task per plan; their handles, in order."""

    @abstractmethod
    def ready(self, flights: list[Flight]) -> list[Flight]:
        """The flights whose task has ended (waiting at most about ``POLL_S``)."""

    @abstractmethod
    def result(self, flight: Flight) -> dict[str, Any]:
        """What the task returned; ``TaskLost`` when it never will."""

    @abstractmethod
    def cancel(self, flight: Flight) -> None:
        """Cancel the task (a second stop, or the driver failing)."""

    def prepare(self, plan: RunPlan) -> None:
        """Ready the run folder for its task (as ``Launcher._execute`` does)."""
        prepare_folder(plan)

    def stop_queued(self) -> None:
        """On a stop: tasks that have not started may be cancelled (they stay planned);
        by default they are left to start and return at once (they find the stop file)."""
        return None

    def run(self, plans: list[RunPlan]) -> list[RunSummary]:
        if not plans:
            return []
        probe = write_probe(plans[0].store.folder.parent)
        try:
            todo = [p for p in plans if p.action != "skip"]
            for index, plan in enumerate(plans):
                if self.observer and (self.waits or plan.action == "skip"):
                    self.observer.run_started(plan, index, len(plans))
                if plan.action == "skip":
                    self._ended(plan, self.launcher._execute(plan, None, self.stop))
            self.probe = probe
            self._submit(todo, probe)
            while (self.pending or self.queued) and self.waits:
                self._wait()
        finally:
            self._abandon()
            if self.waits:
                probe.unlink(missing_ok=True)  # else the tasks still to start check it
        return [self.summaries[p.run.id] for p in plans if p.run.id in self.summaries]

    def _submit(self, plans: list[RunPlan], probe: Path) -> None:
        """Submit ``plans``, or as many as ``at_once`` leaves room for (the rest queued
        here, submitted as tasks end)."""
        room = len(plans)
        if self.at_once is not None and self.waits:
            room = max(0, self.at_once - len(self.pending))
        plans, self.queued = plans[:room], plans[room:]
        flights = []
        for plan in plans:
            lock = FolderLock(plan.store.folder, "run folder") if self.driver_locks else None
            if lock is not None:
                lock.__enter__()
            flights.append(Flight(plan, None, EventFollower(plan.store.events), 0.0, lock))
            self.pending.append(flights[-1])
            self.prepare(plan)
        if not plans:
            return
        now = time.time()
        for flight, handle in zip(flights, self.submit(plans, probe), strict=True):
            flight.handle, flight.submitted = handle, now

    def _wait(self) -> None:
        ready = self.ready(self.pending)
        self._follow()
        if self.stop.requested() and not self.stopping:
            self._stop_all(str(self.stop.requested()))
            self.stop_queued()
        for flight in ready:
            self.pending.remove(flight)
            if flight.lock is not None:
                flight.lock.__exit__(None, None, None)
            summary = self._outcome(flight)
            if summary is not None:
                self._ended(flight.plan, summary)
        if self.stopping:
            self.queued = []  # never submitted: they stay planned
        elif self.queued and len(self.pending) < (self.at_once or 0):
            self._submit(self.queued, self.probe)

    def _follow(self) -> None:
        for flight in self.pending:
            budget = flight.plan.run.budget
            for record in flight.follower.new_events():
                if record.get("event") in ("start", "resume"):
                    flight.where = placement(record.get("environment", {}))
                if self.observer is None or record.get("event") not in ("iteration", "setup"):
                    continue
                if record["event"] == "setup":  # a classifier being trained ...
                    self.observer.logged(setup_record(flight.plan.run.id, flight.where, record))
                    continue
                fraction = budget.fraction(record["iteration"], record["epoch"], record["wall_s"])
                run = {"run_id": flight.plan.run.id, "fraction": fraction, "where": flight.where}
                self.observer.logged({**run, **record})

    def _stop_all(self, why: str) -> None:
        """A stop file in every run in flight: a started run stops at its next iteration
        (with a checkpoint), a queued one returns as soon as it starts, untouched."""
        self.stopping = True
        for flight in self.pending:
            request_stop(flight.plan.store.folder, why)

    def _outcome(self, flight: Flight) -> RunSummary | None:
        """The run's summary, or None for a run that did not start (it stays planned)."""
        plan = flight.plan
        (plan.store.folder / STOP_FILE).unlink(missing_ok=True)
        try:
            result = self.result(flight)
        except TaskLost as lost:
            return written_since(plan, flight.submitted) or record_failure(plan, str(lost))
        if "not_started" in result:
            return None
        if "busy" in result:  # another process trains it (a later session): left to it
            if self.observer:
                self.observer.noted(result["busy"])
            return None
        if "unshared" in result:
            self._stop_all("an unshared output folder")
            raise UserError(
                f"{plan.store.folder.parent}: not reachable from the worker on host "
                f"{result['unshared']}; the output folder must be on storage every node "
                "shares (NFS, Lustre, GPFS), or run on one machine"
            )
        self.storage_full = self.storage_full or result.get("storage_full", False)
        if self.storage_full and not self.stopping:
            self._stop_all("a full disk")
        return RunSummary.model_validate(result["summary"])

    def _ended(self, plan: RunPlan, summary: RunSummary) -> None:
        self.summaries[plan.run.id] = summary
        if self.observer:
            self.observer.run_ended(plan, summary)

    def _abandon(self) -> None:
        """Leaving early (a second stop, an error in the driver): cancel what is out."""
        if not self.waits:
            self.pending.clear()  # detached: the tasks go on without us
        for flight in self.pending:
            if flight.handle is not None:
                self.cancel(flight)
            if flight.lock is not None:
                flight.lock.__exit__(None, None, None)
        self.pending.clear()


def placement(environment: dict[str, Any]) -> str:
    """``node7 gpu 2,3``: where a run trains, from its recorded environment."""
    gpus = environment.get("cuda_visible_devices")
    return str(environment.get("host", "?")) + (f" gpu {gpus}" if gpus else "")


def prepare_folder(plan: RunPlan) -> None:
    """What the driver does to a run folder before its task goes out (as ``_execute``)."""
    (plan.store.folder / STOP_FILE).unlink(missing_ok=True)  # one a lost driver left
    if plan.restore_config is not None:
        plan.store.write_config(plan.restore_config)
    if plan.action == "start":
        plan.store.clear()
    plan.store.create()


def write_probe(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    write_atomic(probe, socket.gethostname())
    return probe


def setup_record(run_id: str, where: str, event: dict[str, Any]) -> dict[str, Any]:
    """A ``setup`` event of a run's events.jsonl as the console's set-up record."""
    return {
        "run_id": run_id,
        "where": where,
        "event": "setup",
        "what": event.get("what", "set-up"),
        "fraction": 0.0,
        "setup_fraction": event.get("done", 0.0),
        "setup_left_s": event.get("left_s"),
    }


def written_since(plan: RunPlan, since: float) -> RunSummary | None:
    """The summary the run's task wrote before it was lost (an interrupted run whose job
    was then cancelled), not one an earlier session left."""
    path = plan.store.summary
    try:
        if path.stat().st_mtime < since:
            return None
        return RunSummary.model_validate(plan.store.read_summary())
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class TaskArgs:
    """Everything a task needs, as plain values (pickled to the worker)."""

    launcher: str
    run: dict[str, Any]
    folder: str
    device: str
    threads: int
    processes: int
    probe: str
    cwd: str
    home_dir: str  # the driver's ganbench home and data folder: one metric cache, one
    data_dir: str  # data place for every task (on a cluster: put them on shared storage)

    @classmethod
    def of(cls, launcher: str, plan: RunPlan, device: str, threads: int, probe: Path) -> TaskArgs:
        return cls(
            launcher,
            plan.run.model_dump(mode="json"),
            str(plan.store.folder.resolve()),
            device,
            threads,
            plan.processes,
            str(probe.resolve()),
            os.getcwd(),
            str(home().resolve()),
            str(data_root().resolve()),
        )


class _TaskStop:
    """A task's stop: the driver's stop file, or a signal this process caught."""

    def __init__(self, folder: Path, signals: StopSignal | None) -> None:
        self.folder = folder
        self.signals = signals

    def requested(self) -> str | None:
        caught = self.signals.requested() if self.signals is not None else None
        return caught or stop_requested(self.folder)


def run_task(
    args: TaskArgs, lock: bool = False, signals: StopSignal | None = None
) -> dict[str, Any]:
    """What a worker runs: check the shared folder, then train (or resume) the run folder
    (``lock``: hold its lock meanwhile, when the driver does not; ``signals``: this
    process's own stop signals, besides the driver's stop file)."""
    folder = Path(args.folder)
    if not Path(args.probe).is_file():
        return {"unshared": socket.gethostname()}
    if stop_requested(folder):
        return {"not_started": True}
    if Path(args.cwd).is_dir():
        os.chdir(args.cwd)  # relative data roots resolve as on the driver
    os.environ[HOME_ENV], os.environ[DATA_ENV] = args.home_dir, args.data_dir
    torch.set_num_threads(args.threads)
    os.environ[LAUNCHER_ENV] = args.launcher
    with contextlib.ExitStack() as scope:
        if lock:
            try:
                scope.enter_context(FolderLock(folder, "run folder"))
            except UserError as busy:
                return {"busy": str(busy)}
        store = RunStore(folder)
        if read_stored(store).final:  # trained meanwhile (by another launch): kept
            summary = RunSummary.model_validate(store.read_summary())
            return {"summary": summary.model_copy(update={"skipped": True}).to_json_dict()}
        return _train(args, store, _TaskStop(folder, signals))


def _train(args: TaskArgs, store: RunStore, stop: _TaskStop) -> dict[str, Any]:
    from ganbench.launchers.torchrun import TorchrunConfig, TorchrunLauncher

    run, device = RunConfig.model_validate(args.run), torch.device(args.device)
    plan = RunPlan(run, store, device, "resume", processes=args.processes)
    # The task's process is the run's own (a Slurm job; a Ray worker used once).
    cfg = TorchrunConfig(nproc_per_node=args.processes, in_process=True)
    launcher = TorchrunLauncher(cfg)
    launcher.owns_stop_file = False  # the driver's, written whenever it asks for a stop
    try:
        summary = launcher.launch(plan, None, stop)  # one process: train_run right here
    except StorageFull as full:
        return {"summary": full.summary.to_json_dict(), "storage_full": True}
    return {"summary": summary.to_json_dict(), "storage_full": False}
