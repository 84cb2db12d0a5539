"""``--launcher ray``: every run a Ray task, as many at once as the cluster has room for.

The driver (the ``train-suite`` process) connects to a Ray cluster (``address``, else
``$RAY_ADDRESS``) or starts a local instance with this machine's CPUs and GPUs, then
submits one task per run that needs training, holding ``cpus_per_run`` CPUs (also the
run's torch threads) and ``gpus_per_run`` GPUs (Ray sets ``CUDA_VISIBLE_DEVICES``: the run
sees exactly its GPUs, recorded in its environment). A task trains its run folder with
the same ``train_run`` as every launcher, so a task Ray retries after losing its worker or
node (``max_retries``) resumes from the run's checkpoint. A ddp run is one task holding
``nproc_per_node`` times the CPUs and GPUs on one node, which launches torchrun there.

The run folders must be on storage every node shares (the driver writes a probe file each
task checks first). The driver follows the runs from their ``events.jsonl``, holds each
run folder's lock while its task is in flight, and on a stop signal writes a stop file in
every run in flight: a started run stops at its next iteration with a checkpoint, a queued
one returns untouched as soon as it starts (it stays planned).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from ganbench.errors import UserError
from ganbench.launchers.base import LAUNCHERS, LauncherConfig, Observer, StopSignal
from ganbench.launchers.remote import (
    POLL_S,
    Flight,
    Flights,
    RemoteLauncher,
    TaskArgs,
    TaskLost,
    run_task,
)
from ganbench.results import RunSummary
from ganbench.run.plan import RunPlan


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
    nproc_per_node: PositiveInt = Field(
        2, description="processes of a ddp run: one task holding as many GPUs on one node"
    )
    num_cpus: PositiveInt | None = Field(
        None, description="CPUs of a local instance (null: all of this machine's)"
    )


@LAUNCHERS.register("ray")
class RayLauncher(RemoteLauncher):
    Config = RayConfig
    cfg: RayConfig

    def __init__(self, cfg: RayConfig) -> None:
        super().__init__(cfg)
        require_ray()  # missing: exit 2 before anything is planned

    def _run_plans(
        self, plans: list[RunPlan], observer: Observer | None, stop: StopSignal
    ) -> list[RunSummary]:
        ray = require_ray()
        started_here = _connect(ray, self.cfg)
        try:
            return _RayFlights(ray, self, observer, stop).run(plans)
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
    else:  # "local": a new instance, never one another process left running here
        ray.init(address="local", num_cpus=cfg.num_cpus, include_dashboard=False, **quiet)
    return True


class _RayFlights(Flights):
    """Ray's side of the driver: a task per run, polled with ``ray.wait``."""

    def __init__(self, ray: Any, launcher: RayLauncher, observer, stop) -> None:
        super().__init__(launcher, observer, stop)
        self.ray = ray

    def submit(self, plans: list[RunPlan], probe: Path) -> list[Any]:
        cfg = self.launcher.cfg
        refs = []
        for plan in plans:
            gpus = _gpus(cfg, plan)
            # A fresh worker process per run (max_calls=1): nothing carries over.
            task = self.ray.remote(max_calls=1)(train_task).options(
                num_cpus=cfg.cpus_per_run * plan.processes,
                num_gpus=gpus,
                max_retries=cfg.max_retries,
            )
            device = "cuda" if gpus > 0 else "cpu"
            threads = max(1, int(cfg.cpus_per_run))
            refs.append(task.remote(TaskArgs.of("ray", plan, device, threads, probe)))
        return refs

    def ready(self, flights: list[Flight]) -> list[Flight]:
        by_ref = {flight.handle: flight for flight in flights}
        done, _ = self.ray.wait(list(by_ref), num_returns=1, timeout=POLL_S)
        return [by_ref[ref] for ref in done]

    def result(self, flight: Flight) -> dict[str, Any]:
        try:
            return self.ray.get(flight.handle)
        except self.ray.exceptions.RayError as err:
            retries = self.launcher.cfg.max_retries
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise TaskLost(
                f"the Ray task failed after {retries} retries ({type(err).__name__}): {first}"
            ) from None

    def cancel(self, flight: Flight) -> None:
        self.ray.cancel(flight.handle, force=True)


def _gpus(cfg: RayConfig, plan: RunPlan) -> float:
    """The run's GPUs: as configured per process, else one per process of a CUDA run."""
    if cfg.gpus_per_run is not None:
        return cfg.gpus_per_run * plan.processes
    return float(plan.processes) if plan.device.type == "cuda" else 0.0


def train_task(args: TaskArgs) -> dict[str, Any]:
    """What a Ray worker runs (the driver holds the run folder's lock meanwhile)."""
    return run_task(args)
