"""``--launcher ray``: every run a Ray task, as many at once as the cluster has room for.

The driver (the ``train-suite`` process) connects to a Ray cluster (``address``, else
``$RAY_ADDRESS``) or starts a local instance with this machine's CPUs and GPUs, then
submits one task per run that needs training, holding ``cpus_per_run`` CPUs (also the
run's torch threads) and ``gpus_per_run`` GPUs (Ray sets ``CUDA_VISIBLE_DEVICES``: the run
sees exactly its GPUs, recorded in its environment). A task trains its run folder with
the same ``train_run`` as every launcher, so a task Ray retries after losing its worker or
node (``max_retries``) resumes from the run's checkpoint.

The run folders must be on storage every node shares (the driver writes a probe file each
task checks first). The driver follows the runs from their ``events.jsonl``, holds each
run folder's lock while its task is in flight, and on a stop signal writes a stop file in
every run in flight: a started run stops at its next iteration with a checkpoint, a queued
one returns untouched as soon as it starts (it stays planned).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from ganbench.config.schema import RunConfig
from ganbench.errors import StorageFull, UserError
from ganbench.launchers.base import (
    LAUNCHERS,
    Launcher,
    LauncherConfig,
    Observer,
    StopSignal,
    record_failure,
)
from ganbench.launchers.follow import STOP_FILE, EventFollower, request_stop, stop_requested
from ganbench.results import RunStore, RunSummary, write_atomic
from ganbench.results.lock import FolderLock
from ganbench.run.plan import RunPlan
from ganbench.trackers.environment import LAUNCHER_ENV

PROBE_PREFIX = ".ganbench-probe-"
POLL_S = 0.2


class RayConfig(LauncherConfig):
    name: Literal["ray"] = "ray"
    address: str | None = Field(
        None, description="Ray cluster (null: $RAY_ADDRESS, else a local instance)"
    )
    cpus_per_run: PositiveFloat = Field(1, description="CPUs per run (also its torch threads)")
    gpus_per_run: NonNegativeFloat | None = Field(
        None, description="GPUs per run (null: 1 for CUDA runs, 0 for CPU runs; 0.5 shares one)"
    )
    max_retries: NonNegativeInt = Field(
        3, description="retries of a run whose worker or node was lost (it resumes)"
    )
    num_cpus: PositiveInt | None = Field(
        None, description="CPUs of a local instance (null: all of this machine's)"
    )


@LAUNCHERS.register("ray")
class RayLauncher(Launcher):
    Config = RayConfig
    cfg: RayConfig

    def __init__(self, cfg: RayConfig) -> None:
        super().__init__(cfg)
        require_ray()  # missing: exit 2 before anything is planned

    def ddp_processes(self, device: torch.device) -> int:
        raise UserError(
            "levers.parallel: ddp under --launcher ray is not supported yet; use "
            "--launcher torchrun for ddp runs"
        )

    def _run_plans(
        self, plans: list[RunPlan], observer: Observer | None, stop: StopSignal
    ) -> list[RunSummary]:
        ray = require_ray()
        started_here = _connect(ray, self.cfg)
        try:
            flights = _Flights(ray, self, observer, stop)
            return flights.run(plans)
        finally:
            if started_here:
                ray.shutdown()


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--launcher ray needs Ray: pip install 'ganbench[cluster]' (or pip install ray)"
        ) from None
    return ray


def _connect(ray: Any, cfg: RayConfig) -> bool:
    """Join the cluster, or start a local instance; whether this call started it."""
    if ray.is_initialized():
        return False
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": "warning", "configure_logging": True}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, **quiet)
    return True


@dataclass
class _Flight:
    """A run whose task is in flight."""

    plan: RunPlan
    lock: FolderLock
    follower: EventFollower


@dataclass
class _Flights:
    """Submits the runs, follows them and collects their summaries."""

    ray: Any
    launcher: RayLauncher
    observer: Observer | None
    stop: StopSignal
    pending: dict[Any, _Flight] = field(default_factory=dict)
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    stopping: bool = False
    storage_full: bool = False

    def run(self, plans: list[RunPlan]) -> list[RunSummary]:
        if not plans:
            return []
        probe = _write_probe(plans[0].store.folder.parent)
        try:
            for index, plan in enumerate(plans):
                if self.observer:
                    self.observer.run_started(plan, index, len(plans))
                if plan.action == "skip":
                    self._ended(plan, self.launcher._execute(plan, None, self.stop))
                else:
                    self._submit(plan, probe)
            while self.pending:
                self._wait()
        finally:
            self._abandon()
            probe.unlink(missing_ok=True)
        return [self.summaries[p.run.id] for p in plans if p.run.id in self.summaries]

    def _submit(self, plan: RunPlan, probe: Path) -> None:
        lock = FolderLock(plan.store.folder, "run folder").__enter__()
        (plan.store.folder / STOP_FILE).unlink(missing_ok=True)  # one a lost driver left
        if plan.restore_config is not None:
            plan.store.write_config(plan.restore_config)
        if plan.action == "start":
            plan.store.clear()
        cfg = self.launcher.cfg
        gpus = (
            cfg.gpus_per_run if cfg.gpus_per_run is not None else float(plan.device.type == "cuda")
        )
        task = self.ray.remote(train_task).options(
            num_cpus=cfg.cpus_per_run, num_gpus=gpus, max_retries=cfg.max_retries
        )
        ref = task.remote(
            plan.run.model_dump(mode="json"),
            str(plan.store.folder.resolve()),
            "cuda" if gpus > 0 else "cpu",
            max(1, int(cfg.cpus_per_run)),
            str(probe.resolve()),
            os.getcwd(),
        )
        self.pending[ref] = _Flight(plan, lock, EventFollower(plan.store.events))

    def _wait(self) -> None:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=POLL_S)
        self._follow()
        if self.stop.requested() and not self.stopping:
            self._stop_all(str(self.stop.requested()))
        for ref in ready:
            flight = self.pending.pop(ref)
            flight.lock.__exit__(None, None, None)
            summary = self._outcome(ref, flight)
            if summary is not None:
                self._ended(flight.plan, summary)

    def _follow(self) -> None:
        for flight in self.pending.values():
            budget = flight.plan.run.budget
            for record in flight.follower.new_iterations():
                if self.observer is not None:
                    fraction = budget.fraction(
                        record["iteration"], record["epoch"], record["wall_s"]
                    )
                    run_id = flight.plan.run.id
                    self.observer.logged({"run_id": run_id, "fraction": fraction, **record})

    def _stop_all(self, why: str) -> None:
        """A stop file in every run in flight: a started run stops at its next iteration
        (with a checkpoint), a queued one returns as soon as it starts, untouched."""
        self.stopping = True
        for flight in self.pending.values():
            request_stop(flight.plan.store.folder, why)

    def _outcome(self, ref: Any, flight: _Flight) -> RunSummary | None:
        """The run's summary, or None for a run cancelled before it started."""
        plan = flight.plan
        (plan.store.folder / STOP_FILE).unlink(missing_ok=True)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as err:
            return _lost(plan, err, self.launcher.cfg.max_retries)
        if "not_started" in result:
            return None  # stopped before it began: it stays planned
        if "unshared" in result:
            self._stop_all("an unshared output folder")
            raise UserError(
                f"{plan.store.folder.parent}: not reachable from the Ray worker on host "
                f"{result['unshared']}; the output folder must be on storage every node "
                "shares (NFS, Lustre, GPFS), or run on one machine"
            )
        self.storage_full = self.storage_full or result["storage_full"]
        if self.storage_full and not self.stopping:
            self._stop_all("a full disk")
        return RunSummary.model_validate(result["summary"])

    def _ended(self, plan: RunPlan, summary: RunSummary) -> None:
        self.summaries[plan.run.id] = summary
        if self.observer:
            self.observer.run_ended(plan, summary)

    def _abandon(self) -> None:
        """Leaving early (an error in the driver): cancel what is in flight, free locks."""
        for ref, flight in self.pending.items():
            self.ray.cancel(ref, force=True)
            flight.lock.__exit__(None, None, None)
        self.pending.clear()


def _write_probe(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    write_atomic(probe, socket.gethostname())
    return probe


def _lost(plan: RunPlan, err: Exception, retries: int) -> RunSummary:
    """A run whose task failed in Ray itself (worker or node lost more than ``retries``
    times): recorded as failed by the driver."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    reason = f"the Ray task failed after {retries} retries ({type(err).__name__}): {first}"
    return record_failure(plan, reason)


def train_task(
    run: dict[str, Any], folder: str, device_type: str, threads: int, probe: str, cwd: str
) -> dict[str, Any]:
    """What a Ray worker runs: check the shared folder, then train (or resume) the run."""
    from ganbench.run.train import train_run

    if not Path(probe).is_file():
        return {"unshared": socket.gethostname()}
    if stop_requested(Path(folder)):
        return {"not_started": True}
    if Path(cwd).is_dir():
        os.chdir(cwd)  # relative data roots resolve as on the driver
    torch.set_num_threads(threads)
    os.environ[LAUNCHER_ENV] = "ray"
    store = RunStore(Path(folder))

    device, stop = torch.device(device_type), lambda: stop_requested(Path(folder))
    try:
        summary = train_run(RunConfig.model_validate(run), store, device, should_stop=stop)
    except StorageFull as full:
        return {"summary": full.summary.to_json_dict(), "storage_full": True}
    return {"summary": summary.to_json_dict(), "storage_full": False}
