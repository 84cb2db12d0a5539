"""Train one run: what every launcher executes (in this process or in torchrun's worker
processes) on the same run folder.

Training time excludes evaluation and checkpointing (each waits for the device before
its clock starts, so queued GPU work is charged to training). A NaN/inf loss stops the
run as ``diverged``, an out-of-memory error as ``oom``, any other error as ``failed``;
each is recorded in the run's folder and nothing already written is lost.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import torch

from ganbench.config.schema import RunConfig
from ganbench.data import DATASETS
from ganbench.errors import StorageFull, classify_failure, storage_error
from ganbench.levers import applied_levers
from ganbench.levers.distributed import LOCAL, Replicas
from ganbench.metrics.setup import SetupStopped, SetupWatch, watching
from ganbench.results import EventLog, RunStatus, RunStore, RunSummary, write_atomic
from ganbench.run.checkpoint import restore_session
from ganbench.run.evaluation import prepare_metrics
from ganbench.run.log import OnLog
from ganbench.run.loop import StopCheck, TrainingLoop
from ganbench.run.session import Session, build_session
from ganbench.run.state import TrainState
from ganbench.run.summary import identity, storage_guard, summarize
from ganbench.trackers.clock import RunClock
from ganbench.trackers.environment import capture_environment
from ganbench.trackers.load import LoadWatch


def train_run(
    run: RunConfig,
    store: RunStore,
    device: torch.device,
    on_log: OnLog | None = None,
    should_stop: StopCheck = lambda: None,
    replicas: Replicas = LOCAL,
) -> RunSummary:
    """Train (or resume) one run; return its summary, also written to ``summary.json``
    (``replicas``: this process's place in a ddp group; only rank 0 evaluates and writes,
    through its ``store``)."""
    if run.load is not None:
        return _measure_loaded(run, store, device)
    global _RUNS_BEFORE
    process = {"runs_before_in_process": _RUNS_BEFORE, "process_startup_s": _startup_s()}
    _RUNS_BEFORE += 1
    clock = RunClock(lambda: _sync(device))
    store.create()
    store.remove_leftovers()
    opened = _Opened(run, started_at=_now())
    with store.open_events() as events, contextlib.ExitStack() as scope:
        try:
            image_data = len(DATASETS.get(run.dataset.name).sample_shape(run.dataset)) == 3
            # The levers' backend flags hold for this run only (restored when the block ends).
            levers = scope.enter_context(applied_levers(run.levers, device, image_data, replicas))
            session = build_session(run, device, levers, replicas)
            checkpoint = store.load_checkpoint()
            state = restore_session(session, checkpoint) if checkpoint else TrainState()
            clock.resume(state.train_s, state.wall_s)
            store.write_config(run.model_dump(mode="json"))
            # Set-up work (a classifier to train ...) shows progress and stops when asked.
            with watching(SetupWatch(_setup_reporter(run, on_log, events), should_stop)):
                loop = _open_loop(opened, session, state, store, events, clock, on_log, should_stop)
            opened.environment.update(process)
            resumed = checkpoint is not None
            _announce(session, state, events, resumed, opened.environment)
            status, reason = loop.run(resumed)
        except SetupStopped as stopped:
            status, reason = (
                RunStatus.INTERRUPTED,
                (
                    f"stopped by {stopped.reason} during set-up ({stopped.what}); the set-up "
                    "starts over next time"
                ),
            )
        except KeyboardInterrupt:
            # A second stop signal: record what we have (the last checkpoint stays) and stop.
            reason = "a second stop signal during an iteration"
            _record_end(opened, store, events, RunStatus.INTERRUPTED, reason)
            raise
        except Exception as err:  # noqa: BLE001  (recorded in the run, the suite goes on)
            status, reason = _failed(err, store, device)
            if storage_error(err) is not None:
                summary = _record_end(opened, store, events, status, reason)
                raise StorageFull(summary, reason) from err
        return _record_end(opened, store, events, status, reason)


def _measure_loaded(run: RunConfig, store: RunStore, device: torch.device) -> RunSummary:
    """A run that loads a pre-trained generator (``run.load``); a failure is recorded in
    the run as a training run's is."""
    from ganbench.run.loaded import LOAD_STRATEGY, load_run

    store.create()
    store.remove_leftovers()
    started_at = _now()
    with store.open_events() as events:
        stopped: KeyboardInterrupt | None = None
        try:
            summary = load_run(run, store, device, events)
        except KeyboardInterrupt as stop:  # recorded, then the suite stops as it would
            stopped, reason = stop, f"{stop or 'Ctrl-C'}; measured again from the start next time"
            summary = identity(run, RunStatus.INTERRUPTED, reason)
        except Exception as err:  # noqa: BLE001  (recorded in the run, the suite goes on)
            status, reason = _failed(err, store, device)
            summary = identity(run, status, reason)
        summary = summary.model_copy(update={"strategy": LOAD_STRATEGY, "started_at": started_at})
        with storage_guard(summary):
            events.write("end", status=summary.status.value, reason=summary.reason, iteration=0)
            store.write_summary(summary)
    if stopped is not None:
        raise stopped
    return summary


# Runs this process trained before the current one (0: nothing of another run carries
# over), and the environment variable a run's own process (``run_worker``) gets its
# start-up seconds in.
_RUNS_BEFORE = 0
STARTUP_ENV = "GANBENCH_PROCESS_STARTUP_S"


def _startup_s() -> float | None:
    """Seconds from the launcher starting this process to the worker's first line (the
    interpreter and imports), or None in a process that was not started for the run."""
    value = os.environ.pop(STARTUP_ENV, None)
    return float(value) if value else None


SETUP_EVENT_EVERY_S = 5.0  # set-up progress in events.jsonl (what remote drivers show)


def _setup_reporter(run: RunConfig, on_log: OnLog | None, events: EventLog):
    """Set-up progress as a record for the console (``event: setup``), and now and then
    as a ``setup`` event, so a driver following the run's events (ray, slurm) shows it."""
    written = [-SETUP_EVENT_EVERY_S]

    def report(what: str, fraction: float, seconds: float) -> None:
        left = seconds / fraction - seconds if fraction > 0 else None
        if seconds - written[0] >= SETUP_EVENT_EVERY_S or fraction >= 1:
            written[0] = seconds
            events.write("setup", what=what, done=fraction, setup_s=seconds, left_s=left)
        if on_log is not None:
            record = {"event": "setup", "what": what, "fraction": 0.0, "setup_left_s": left}
            on_log({"run_id": run.id, "setup_fraction": fraction, **record})

    return report


def _failed(err: Exception, store: RunStore, device: torch.device) -> tuple[RunStatus, str]:
    """The status and reason of a run stopped by ``err``; a failure's traceback goes to
    error.txt as far as the disk allows."""
    failure, reason = classify_failure(err)
    status = RunStatus(failure)
    if status == RunStatus.FAILED:
        try:
            write_atomic(store.error, traceback.format_exc())
        except OSError:
            pass  # the disk is full: the reason still reaches the console
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return status, reason


@dataclass
class _Opened:
    """How far a run got: its config, then its loop and environment once built."""

    run: RunConfig
    started_at: str | None = None  # this attempt's start (a resume's, when resumed)
    loop: TrainingLoop | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    load: LoadWatch | None = None


def _open_loop(
    opened: _Opened,
    session: Session,
    state: TrainState,
    store: RunStore,
    events: EventLog,
    clock: RunClock,
    on_log: OnLog | None,
    should_stop: StopCheck,
) -> TrainingLoop:
    """The loop (its trackers start counting memory now), the environment, then the metrics
    prepared (rank 0 evaluates): a failure from here on still gets a full summary."""
    opened.loop = TrainingLoop.build(session, state, store, events, clock, on_log, should_stop)
    opened.environment = capture_environment(session.device, session.run.seed)
    opened.load = LoadWatch()
    if session.replicas.writes:
        opened.loop.parts.evaluation.attach(prepare_metrics(session.run, session, events, clock))
    return opened.loop


def _announce(
    session: Session, state: TrainState, events: EventLog, resumed: bool, env: dict[str, Any]
) -> None:
    """The ``start`` (or ``resume``) event: where the run begins and on what."""
    events.write(
        "resume" if resumed else "start",
        run_id=session.run.id,
        iteration=state.iteration,
        num_examples=len(session.data),
        num_params_g=sum(p.numel() for p in session.G.parameters()),
        num_params_d=sum(p.numel() for p in session.D.parameters()),
        environment=env,
    )


def _record_end(
    opened: _Opened, store: RunStore, events: EventLog, status: RunStatus, reason: str
) -> RunSummary:
    """Write the end event and summary.json, whatever stopped the run."""
    loop = opened.loop
    if loop is None:  # failed before the loop (e.g. while loading data)
        summary = identity(opened.run, status, reason, started_at=opened.started_at)
    else:
        parts = loop.parts
        d_loss, g_loss = parts.log.last_losses
        if opened.load is not None:  # how busy the machine was while the run ran
            opened.environment["host_load"] = opened.load.during()
        figures = {
            "started_at": opened.started_at,
            "final_d_loss": d_loss,
            "final_g_loss": g_loss,
            **parts.evaluation.summary(),
            **parts.noise_scale.summary(),
            **parts.speed_probe.summary(),
            "environment": opened.environment,
        }
        summary = summarize(
            loop.session, loop.state, parts.clock, parts.trackers, figures, status, reason
        )
    with storage_guard(summary):
        events.write("end", status=status.value, reason=reason, iteration=summary.iterations or 0)
        store.write_summary(summary)
    return summary


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
