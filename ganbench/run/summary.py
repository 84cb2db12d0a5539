"""The ``RunSummary`` a run ends with, built from its session, counters, clock, trackers
and evaluation: figures with units in their names, null where they do not apply."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from ganbench.config.schema import RunConfig
from ganbench.errors import StorageFull, classify_failure, storage_error
from ganbench.results import RunStatus, RunSummary
from ganbench.run.measurement import RunTrackers, local_gpus
from ganbench.run.session import Session
from ganbench.run.state import TrainState
from ganbench.strategies.base import STEP_PHASES
from ganbench.trackers.clock import RunClock
from ganbench.trackers.nvml import GpuUse
from ganbench.trackers.phases import OTHER
from ganbench.trackers.stats import IterationTimes
from ganbench.trackers.steady import SteadyWindow

# Every phase a summary can show, in report order: a step's, then the loop's own.
PHASES = (*STEP_PHASES, OTHER, "evaluation", "checkpoint", "noise_scale")
IN_ITERATION = (*STEP_PHASES, OTHER)
DATA_BOUND_SHARE = 0.2  # a run whose data phase takes this share of iteration time or more


def identity(run: RunConfig, status: RunStatus, reason: str, **extra: Any) -> RunSummary:
    """The summary of a run that ended before its loop could say more (and the fields
    every summary starts with: which run, where the suite's order put it, how it ended)."""
    at = run.schedule
    order = {} if at is None else {"order": at.order, "order_block": at.block}
    order |= {} if at is None else {"order_position": at.position}
    return RunSummary(
        run_id=run.id,
        name=run.name,
        seed=run.seed,
        strategy=run.strategy.name,
        status=status,
        reason=reason,
        **order,
        **extra,
    )


@contextlib.contextmanager
def storage_guard(summary: RunSummary) -> Iterator[None]:
    """Around the writes that record a run's end: when storage fails (disk full, quota,
    read-only), raise ``StorageFull`` carrying ``summary`` marked failed with the reason,
    so the launcher still has the result and stops the suite."""
    try:
        yield
    except OSError as err:
        if storage_error(err) is None:
            raise
        reason = classify_failure(err)[1]
        failed = summary.model_copy(update={"status": RunStatus.FAILED, "reason": reason})
        raise StorageFull(failed, reason) from err


def summarize(
    session: Session,
    state: TrainState,
    clock: RunClock,
    trackers: RunTrackers,
    figures: dict[str, Any],
    status: RunStatus,
    reason: str,
) -> RunSummary:
    """The whole summary (``figures``: the losses, quality and environment the loop's other
    parts hold). Iteration times still on the device are read unless the run failed (a
    failed device may not answer)."""
    in_step = status != RunStatus.FAILED
    if in_step:
        state.iter_times_s += trackers.iterations.collect()
        trackers.steady.close()
    train_s = clock.train_s()
    return identity(
        session.run,
        status,
        reason,
        **_progress(session, state, train_s, clock.wall_s()),
        **_steady(trackers.steady, state.iteration),
        **_levers(session),
        world_size=session.replicas.world,
        **trackers.comm.summary(train_s),
        **_ranks(session, state, trackers, status, train_s),
        **asdict(session.strategy.counts),
        **_iteration_times(state, trackers),
        **_phases(state, trackers),
        **asdict(trackers.memory.summary()),
        **asdict(_gpu_use(session, trackers, status)),
        **asdict(_compute(session, state, trackers)),
        profile=trackers.profiler.profile,
        **figures,
    )


def _progress(session: Session, state: TrainState, train_s: float, wall_s: float) -> dict:
    """Counts and times of the whole run; the ``_overall`` rates over all of its training
    time (warm-up and compilation included), ``_with_eval`` with evaluation added."""
    images, iterations = session.sampler.images_seen, state.iteration
    with_eval = train_s + state.eval_s
    epochs = state.epoch_times_s
    return {
        "iterations": iterations,
        "epochs": session.sampler.epoch,
        "images_seen": images,
        "batch_size_final": state.batch_size,
        "train_s": train_s,
        "wall_s": wall_s,
        "eval_s": state.eval_s,
        "checkpoint_s": state.checkpoint_s,
        "iterations_per_s_overall": iterations / train_s if train_s > 0 else None,
        "images_per_s_overall": images / train_s if train_s > 0 else None,
        "iterations_per_s_with_eval": iterations / with_eval if train_s > 0 else None,
        "images_per_s_with_eval": images / with_eval if train_s > 0 else None,
        "epoch_times_s": epochs,
        "epoch_time_mean_s": sum(epochs) / len(epochs) if epochs else None,
    }


def _steady(steady: SteadyWindow, iterations: int) -> dict[str, Any]:
    """The steady-state rates: images and iterations of the steady iterations over their
    training seconds (warm-up, the profiler's window and settling after a batch-size
    change or a compilation left out)."""
    seconds, counted = steady.steady_s, steady.steady_iterations
    ok = counted > 0 and seconds > 0
    return {
        "iterations_per_s": counted / seconds if ok else None,
        "images_per_s": steady.steady_images / seconds if ok else None,
        "steady_s": seconds,
        "steady_iterations": counted,
        "steady_images": steady.steady_images,
        "steady_reason": None
        if ok
        else f"no steady iterations: all {iterations} left out (warm-up, profiler, settling)",
    }


def _levers(session: Session) -> dict[str, Any]:
    """The levers asked for, those skipped, and under fp16 each network's loss scale."""
    out: dict[str, Any] = {
        "levers": session.run.levers.model_dump(mode="json"),
        "levers_skipped": dict(session.levers.skipped),
    }
    scalers = session.strategy.oracle.scalers
    if scalers:
        out["loss_scale"] = {k: v.scale for k, v in scalers.items()}
        out["overflow_skipped_steps"] = {k: v.skipped for k, v in scalers.items()}
    return out


def _ranks(
    session: Session, state: TrainState, trackers: RunTrackers, status: RunStatus, train_s: float
) -> dict[str, Any]:
    """ddp: every rank's own figures (where it stopped and grew: the same on every rank),
    and whether their models ended identical. Only after a run that ended in step on every
    rank (a failed rank cannot answer)."""
    replicas = session.replicas
    if not replicas.distributed or not status.in_step:
        return {}
    peaks = trackers.memory.summary()
    own = {
        "rank": replicas.rank,
        "iterations": state.iteration,
        "grown_at": state.grown_at,
        "train_s": train_s,
        "iterations_per_s_overall": state.iteration / train_s if train_s > 0 else None,
        "peak_rss_bytes": peaks.peak_rss_bytes,
        "peak_cuda_alloc_bytes": peaks.peak_cuda_alloc_bytes,
        "comm_share": trackers.comm.summary(train_s)["ddp_comm_share"],
    }
    in_sync = replicas.in_sync(session.strategy.replicated_state())
    ranks = replicas.gather(own)
    return {
        "ranks": ranks,
        "ranks_in_sync": in_sync,
        # The group's host memory (ranks on one machine); GPU memory is per device.
        "ranks_peak_rss_bytes_sum": sum(r["peak_rss_bytes"] for r in ranks),
    }


def _iteration_times(state: TrainState, trackers: RunTrackers) -> dict[str, Any]:
    steady, left_out = trackers.iterations.split(state.iter_times_s)
    return {
        **IterationTimes.from_values(steady).fields(),
        "iter_time_excluded_count": left_out,
        "first_iter_time_s": state.iter_times_s[0] if state.iter_times_s else None,
    }


def _phases(state: TrainState, trackers: RunTrackers) -> dict[str, Any]:
    """Per phase, over the steady iterations: total seconds, mean per steady iteration,
    share of the measured time (those iterations' phases plus evaluation, checkpointing
    and the noise scale's extra passes); the same over every iteration as ``*_overall``;
    CUDA memory peaks. The data phase's share of steady iteration time, and overall."""
    timed = trackers.iterations
    outside = {
        phase: seconds
        for phase, seconds in (
            ("evaluation", state.eval_s),
            ("checkpoint", state.checkpoint_s),
            ("noise_scale", state.noise_scale_s),
        )
        if seconds > 0
    }
    steady, overall = {**timed.steady_phase_s, **outside}, {**timed.phase_s, **outside}
    counts = {"steady": trackers.steady.steady_iterations, "overall": state.iteration}
    memory = trackers.memory if trackers.memory.cuda else None
    phases: dict[str, Any] = {}
    for phase in PHASES:
        if phase not in overall:
            continue
        phases[phase] = {
            **_phase_figures(phase, steady, counts["steady"], ""),
            **_phase_figures(phase, overall, counts["overall"], "_overall"),
            **(memory.phase_summary(phase) if memory is not None else {}),
        }
    share = data_wait_share(timed.steady_phase_s)
    return {
        "phases": phases,
        "data_wait_share": share,
        "data_wait_share_overall": data_wait_share(timed.phase_s),
        "data_bound": data_bound(share),
    }


def data_bound(share: float | None) -> bool | None:
    """Whether the data phase's share of iteration time makes a run data-bound (0.2 or
    more: one fifth of every iteration waiting for data)."""
    return None if share is None else share >= DATA_BOUND_SHARE


def _phase_figures(phase: str, totals: dict[str, float], iterations: int, suffix: str) -> dict:
    seconds, measured = totals.get(phase, 0.0), sum(totals.values())
    in_loop = phase in IN_ITERATION
    return {
        f"time{suffix}_s": seconds,
        f"mean_per_iteration{suffix}_s": seconds / iterations if iterations and in_loop else None,
        f"share{suffix}": seconds / measured if measured > 0 else None,
    }


def data_wait_share(totals_s: dict[str, float]) -> float | None:
    """The data phase's share of iteration time (evaluation and checkpoints excluded)."""
    in_iterations = sum(totals_s.get(p, 0.0) for p in IN_ITERATION)
    if in_iterations <= 0 or "data" not in totals_s:
        return None
    return totals_s["data"] / in_iterations


def gpu_count(session: Session) -> int:
    """The GPUs a run trains on: every rank's, DataParallel's devices counted (1 off CUDA)."""
    local = local_gpus(session)
    return session.replicas.world * (len(local) if local else 1)


def _gpu_use(session: Session, trackers: RunTrackers, status: RunStatus) -> GpuUse:
    """NVML's figures over every GPU of the run: under ddp each rank's are gathered to
    rank 0 (only after a run that ended in step on every rank)."""
    images, replicas = session.sampler.images_seen, session.replicas
    if not replicas.distributed or not status.in_step:
        return trackers.gpu.summary(images)
    group = [gpu for rank in replicas.gather(trackers.gpu.per_gpu()) for gpu in rank]
    return trackers.gpu.summary(images, group)


def _compute(session: Session, state: TrainState, trackers: RunTrackers):
    dtype = session.levers.compute_dtype
    seconds = trackers.steady.steady_s
    return trackers.flops.summary(
        state.iteration, seconds, session.device, dtype, gpu_count(session)
    )
