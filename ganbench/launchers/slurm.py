"""``--launcher slurm``: a suite's runs as a Slurm job array, through submitit.

The driver (``train-suite`` on a login node) plans the suite, then submits one array task
per run that needs training (``map_array``; one array per resource shape: CPU runs, runs
with 1 GPU, ddp runs with N), with the ``launcher:`` section's partition, time, GPUs,
CPUs, memory, account, QOS, constraint, array parallelism, setup commands and extra
sbatch options. Each task (``slurm_task.SlurmTask``) takes its run folder's lock and trains
it with the same code as every launcher.

Preemption and time limits: Slurm sends SIGUSR2 ``signal_delay_s`` before the end; the
run stops at its next iteration with a checkpoint and the task asks submitit to requeue
the job (its checkpoint hook resubmits the same call, which resumes), at most
``max_requeues`` times. A SIGTERM (``scancel``) stops the run the same way, without a
requeue. The driver follows the runs from their events and waits (Ctrl-C: every run
stops with a checkpoint, queued tasks are cancelled; a second Ctrl-C cancels all), or
with ``detach`` returns once submitted: a later ``train-suite`` skips runs whose job is
still queued or running, and ``report`` reads what they wrote.

``cluster: local`` runs the tasks as processes of this machine instead (submitit's local
executor: same pickles, signals and requeues; for trying a suite, and for the tests).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from ganbench.errors import UserError
from ganbench.launchers.base import LAUNCHERS, LauncherConfig, Observer, StopSignal
from ganbench.launchers.remote import (
    POLL_S,
    Flight,
    Flights,
    RemoteLauncher,
    TaskArgs,
    TaskLost,
)
from ganbench.results import RunStore, RunSummary, write_atomic
from ganbench.run.plan import RunPlan
from ganbench.run.stored import read_stored

JOB_FILE = "slurm-job.json"  # in a run folder: the job that trains it
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED"}
_TIME = re.compile(r"^(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?$")


class SlurmConfig(LauncherConfig):
    name: Literal["slurm"] = "slurm"
    cluster: Literal["slurm", "local"] = Field(
        "slurm", description="slurm (sbatch), or local: this machine's processes (a trial)"
    )
    partition: str | None = Field(None, description="sbatch --partition")
    time: str = Field("24:00:00", description="time limit per job: [D-]HH:MM[:SS] or minutes")
    gpus_per_run: NonNegativeInt | None = Field(
        None, description="GPUs per run process (null: 1 for CUDA runs, 0 for CPU runs)"
    )
    cpus_per_run: PositiveInt = Field(4, description="CPUs per run process (its torch threads)")
    mem_gb: PositiveFloat | None = Field(None, description="memory per job in GB (sbatch --mem)")
    account: str | None = Field(None, description="sbatch --account")
    qos: str | None = Field(None, description="sbatch --qos")
    constraint: str | None = Field(None, description="sbatch --constraint (e.g. a GPU model)")
    array_parallelism: PositiveInt = Field(64, description="array tasks running at once")
    max_requeues: NonNegativeInt = Field(
        10, description="requeues after a time limit or preemption (each resumes)"
    )
    signal_delay_s: PositiveInt = Field(
        120, description="SIGUSR2 this long before the time limit: time to checkpoint"
    )
    setup: list[str] = Field([], description="shell lines run before each task (module load)")
    sbatch: dict[str, str | int | bool] = Field({}, description="more sbatch options")
    log_folder: str | None = Field(
        None, description="submitit's pickles and logs, shared (null: <output_dir>/.slurm)"
    )
    nproc_per_node: PositiveInt = Field(2, description="processes (GPUs) of a ddp run's task")
    detach: bool = Field(False, description="return once submitted; train-suite again to collect")

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> str:
        text = str(value).strip()
        if not (text.isdigit() and int(text) > 0) and not _TIME.match(text):
            raise ValueError("a time limit as [D-]HH:MM[:SS] (e.g. 2-00:00:00) or minutes")
        return text

    @property
    def minutes(self) -> int:
        if self.time.isdigit():
            return int(self.time)
        days, hours, minutes, seconds = _TIME.match(self.time).groups()
        total = int(days or 0) * 1440 + int(hours) * 60 + int(minutes)
        return max(1, total + (1 if seconds and int(seconds) else 0))


@LAUNCHERS.register("slurm")
class SlurmLauncher(RemoteLauncher):
    Config = SlurmConfig
    cfg: SlurmConfig

    def __init__(self, cfg: SlurmConfig) -> None:
        super().__init__(cfg)
        require_submitit(cfg.cluster)  # missing: exit 2 before anything is planned

    def _run_plans(
        self, plans: list[RunPlan], observer: Observer | None, stop: StopSignal
    ) -> list[RunSummary]:
        return _SlurmFlights(self, observer, stop).run(plans)


def require_submitit(cluster: str) -> Any:
    try:
        import submitit
    except ImportError:
        raise UserError(
            "--launcher slurm needs submitit: pip install 'ganbench[cluster]' "
            "(or pip install submitit)"
        ) from None
    if cluster == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
        raise UserError(
            "--launcher slurm: no Slurm here (srun not found); run train-suite on a login "
            "node of the cluster, or set launcher.cluster: local to try the suite on this "
            "machine's processes"
        )
    return submitit


def executor_parameters(cfg: SlurmConfig, job_name: str, gpus: int, cpus: int) -> dict:
    """The executor's ``update_parameters`` for one array: sbatch's names for Slurm (as
    submitit's ``_make_sbatch_string`` takes them), the local executor's own otherwise."""
    if cfg.cluster == "local":
        return {
            "timeout_min": cfg.minutes,
            "gpus_per_node": gpus,
            "tasks_per_node": 1,
            "signal_delay_s": cfg.signal_delay_s,
            "setup": list(cfg.setup),
        }
    params: dict[str, Any] = {
        "job_name": job_name,
        "time": cfg.minutes,
        "nodes": 1,
        "ntasks_per_node": 1,
        "cpus_per_task": cpus,
        "signal_delay_s": cfg.signal_delay_s,
        "array_parallelism": cfg.array_parallelism,
        "setup": list(cfg.setup),
        # A flag set to false is left out (sbatch has no --no-flag form).
        "additional_parameters": {k: v for k, v in cfg.sbatch.items() if v is not False},
    }
    if gpus:  # --gpus-per-node=0 fails on clusters without GPU gres
        params["gpus_per_node"] = gpus
    if cfg.mem_gb is not None:
        params["mem"] = f"{math.ceil(cfg.mem_gb * 1024)}M"
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(cfg, key):
            params[key] = getattr(cfg, key)
    return params


def make_executor(submitit: Any, cfg: SlurmConfig, folder: Path) -> Any:
    """submitit's executor for ``cfg.cluster`` (requeues capped at ``max_requeues``)."""
    if cfg.cluster == "local":
        return submitit.LocalExecutor(folder=folder, max_num_timeout=cfg.max_requeues)
    return submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=cfg.max_requeues)


class _SlurmFlights(Flights):
    """submitit's side of the driver: arrays of jobs, polled with ``done()``."""

    driver_locks = False  # each task holds its run's lock (it may outlive the driver)
    launcher: SlurmLauncher

    def run(self, plans: list[RunPlan]) -> list[RunSummary]:
        self.attached: dict[str, _Attached] = {}
        for plan in plans:
            job = _Attached.of(plan) if plan.action != "skip" else None
            if job is not None:
                self.attached[plan.run.id] = job
                if self.observer:
                    self.observer.noted(
                        f"{plan.run.id}: already queued or running as Slurm job {job.job_id} "
                        "(an earlier train-suite submitted it); followed, not submitted again"
                    )
        return super().run(plans)

    def prepare(self, plan: RunPlan) -> None:
        if plan.run.id not in self.attached:  # a job of its own trains it: left alone
            super().prepare(plan)

    def submit(self, plans: list[RunPlan], probe: Path) -> list[Any]:
        cfg, jobs = self.launcher.cfg, dict(self.attached)
        new = [p for p in plans if p.run.id not in jobs]
        if new:
            submitit = require_submitit(cfg.cluster)
            from ganbench.launchers.slurm_task import SlurmTask

            log_folder = Path(cfg.log_folder) if cfg.log_folder else probe.parent / ".slurm"
            try:
                for (gpus, processes), group in _shapes(cfg, new).items():
                    executor = make_executor(submitit, cfg, log_folder)
                    name = f"ganbench-{probe.parent.name}"
                    cpus = cfg.cpus_per_run * processes
                    executor.update_parameters(**executor_parameters(cfg, name, gpus, cpus))
                    device = "cuda" if gpus else "cpu"
                    args = [TaskArgs.of("slurm", p, device, cfg.cpus_per_run, probe) for p in group]
                    for plan, job in zip(group, executor.map_array(SlurmTask(), args), strict=True):
                        jobs[plan.run.id] = job
                        _record_job(plan, job, cfg.cluster)
            except BaseException:  # a later sbatch failed: no array left running unfollowed
                for run_id, job in jobs.items():
                    if run_id not in self.attached:
                        job.cancel(check=False)
                raise
            self._announce([jobs[p.run.id] for p in new], log_folder)
        return [jobs[p.run.id] for p in plans]

    def _announce(self, jobs: list[Any], log_folder: Path) -> None:
        if not self.observer:
            return
        ids = sorted({str(job.job_id).split("_")[0] for job in jobs})
        self.observer.noted(
            f"submitted {len(jobs)} run{'s' if len(jobs) != 1 else ''} as job "
            f"{', '.join(ids)} (logs: {log_folder})"
        )
        if not self.waits:
            self.observer.noted(
                "detached: the jobs train on; `ganbench train-suite` again with the same "
                "options waits for them (runs still queued or running are not submitted "
                "twice), `ganbench report` reads what they wrote"
            )

    @property
    def waits(self) -> bool:  # type: ignore[override]
        return not self.launcher.cfg.detach

    @property
    def at_once(self) -> int | None:  # type: ignore[override]
        """Slurm queues the array itself (``%array_parallelism``); the local executor
        would start every task at once, so this machine's CPUs bound it."""
        cfg = self.launcher.cfg
        if cfg.cluster == "slurm":
            return None
        return min(cfg.array_parallelism, max(1, (os.cpu_count() or 1) // cfg.cpus_per_run))

    def ready(self, flights: list[Flight]) -> list[Flight]:
        done = [f for f in flights if _over(f.handle)]
        if not done:
            time.sleep(POLL_S)
        return done

    def result(self, flight: Flight) -> dict[str, Any]:
        job = flight.handle
        try:
            return job.result()
        except Exception as err:  # submitit's UncompletedJobError, FailedJobError ...
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            where = f"; see {job.paths.stderr}" if hasattr(job, "paths") else ""
            raise TaskLost(
                f"Slurm job {job.job_id} ended without a result ({type(err).__name__}: "
                f"{first[:300]}){where}"
            ) from None

    def cancel(self, flight: Flight) -> None:
        flight.handle.cancel(check=False)

    def stop_queued(self) -> None:
        """Jobs still waiting in the queue are cancelled and no longer followed: their
        runs stay planned (Slurm may take minutes to report a cancelled job)."""
        for flight in list(self.pending):
            handle = flight.handle
            if (handle.state if isinstance(handle, _Attached) else job_state(handle)) == "PENDING":
                flight.handle.cancel(check=False)
                self.pending.remove(flight)


def _over(job: Any) -> bool:
    """Whether a job has ended: submitit's ``done()`` (its result written, or Slurm says
    so), but not while Slurm still holds it (submitit counts SUSPENDED as done)."""
    if isinstance(job, _Attached):
        return job.done()
    return job.done() and job_state(job) not in ACTIVE_STATES


def _shapes(cfg: SlurmConfig, plans: list[RunPlan]) -> dict[tuple[int, int], list[RunPlan]]:
    """Plans grouped by (GPUs, processes): one job array each."""
    groups: dict[tuple[int, int], list[RunPlan]] = {}
    for plan in plans:
        per_process = cfg.gpus_per_run
        if per_process is None:
            per_process = int(plan.device.type == "cuda")
        groups.setdefault((per_process * plan.processes, plan.processes), []).append(plan)
    return groups


def _record_job(plan: RunPlan, job: Any, cluster: str) -> None:
    record = {
        "job_id": str(job.job_id),
        "cluster": cluster,
        "log_folder": str(job.paths.folder),
        "submitted": time.time(),
    }
    write_atomic(plan.store.folder / JOB_FILE, json.dumps(record) + "\n")


@dataclass
class _Attached:
    """A job an earlier (detached) ``train-suite`` submitted for a run, still queued or
    running: followed from the run folder (its summary is its result)."""

    job_id: str
    record: dict[str, Any]
    store: RunStore
    job: Any = None  # submitit's SlurmJob (one, so its status cache is shared); None: local

    @classmethod
    def of(cls, plan: RunPlan) -> _Attached | None:
        """The run's job if it may still be out (an unknown state counts: submitting it
        again could train the run twice)."""
        try:
            record = json.loads((plan.store.folder / JOB_FILE).read_text(encoding="utf-8"))
            job_id = str(record["job_id"])
            job = None
            if record.get("cluster") != "local":
                import submitit

                job = submitit.SlurmJob(folder=record["log_folder"], job_id=job_id)
        except Exception:  # noqa: BLE001  (no record, a damaged one, no submitit)
            return None
        attached = cls(job_id, record, plan.store, job)
        return attached if not attached.done() else None

    @property
    def state(self) -> str:
        if self.job is None:
            return "RUNNING" if _local_job_alive(self.job_id) else "ENDED"
        return job_state(self.job)

    def done(self) -> bool:
        state = self.state
        if state == "UNKNOWN":  # sacct failing: over once the run says so
            return read_stored(self.store).final
        return state not in ACTIVE_STATES

    def result(self) -> dict[str, Any]:
        summary = self.store.read_summary()
        if summary is None:
            raise RuntimeError("its run folder has no summary")
        return {"summary": summary}

    def cancel(self, check: bool = False) -> None:
        if self.job is not None:
            self.job.cancel(check=check)
            return
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(self.job_id), signal.SIGINT)


def job_state(job: Any) -> str:
    """A submitit job's Slurm state (``RUNNING``, ``SUSPENDED`` ...), ``COMPLETED`` once
    its result is written, ``UNKNOWN`` when Slurm cannot say."""
    if job.paths.result_pickle.exists():
        return "COMPLETED"
    try:
        return str(job.state).split()[0] or "UNKNOWN"
    except Exception:  # noqa: BLE001  (no Slurm here any more, sacct failing ...)
        return "UNKNOWN"


def _local_job_alive(job_id: str) -> bool:
    """A local job's id is its controller's pid."""
    import psutil

    try:
        process = psutil.Process(int(job_id))
        return "submitit" in " ".join(process.cmdline())
    except (ValueError, psutil.Error):
        return False
