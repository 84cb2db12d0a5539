"""What the instrumentation costs: the bare training step against the fully instrumented
loop, alternating in one process on one session.

Two estimates, because a shared machine's noise is larger than the effect:

* **whole log intervals**: ``rounds`` rounds of two blocks, bare then instrumented and
  instrumented then bare in turn (ABBA: a linear drift cancels). A block is a multiple of
  the run's ``log_every`` iterations and the instrumented blocks start at a log point, so
  each holds the same number of periodic costs (the log flush, which reads the losses
  and writes an event, and the memory probes), which a throughput pays on average. The
  figure is the ratio of total times, instrumented over bare, with a bootstrap 95%
  interval over rounds: ``overhead_pct`` is it. The median of the rounds' pair ratios
  is kept for comparison (``ratio_median_pairs``); measured over single iterations, as it
  was before, it never saw a cost paid once per log interval. The device is synchronised
  around every block only (as the loop's own flushes do).
* **null step**: the same loop around a step that does no work but opens the same phases
  as the real one; the difference to calling that step bare is the instrumentation's
  absolute cost per iteration, free of the model's noise, then divided by the bare step.

"Bare" is ``strategy.step()`` with its phase labels going nowhere; "instrumented" is the
training loop's own iteration (``TrainingLoop.step``: batch schedule, phase timer, memory
probes, FLOP accounting, loss logging every ``log_every`` iterations) inside the run's
trackers, with evaluation and checkpoints off. The trackers (the NVML thread among them)
run during the paired blocks (conservative: they also slow the bare blocks' host) and the
null step's instrumented loop; the null step's bare calls run after they stopped.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.config.schema import RunConfig
from ganbench.results import RunStore
from ganbench.run.loop import TrainingLoop
from ganbench.run.session import Session, build_session
from ganbench.run.state import TrainState
from ganbench.strategies import StepLosses
from ganbench.strategies.base import no_phases
from ganbench.trackers.clock import RunClock

BOOTSTRAP = 2000


@dataclass(frozen=True)
class BlockRatios:
    """Instrumented over bare, from each round's two block times."""

    ratio_total: float  # total instrumented time / total bare time
    ratio_total_ci95: tuple[float, float]  # bootstrap over rounds
    ratio_median_pairs: float  # median over rounds of the round's own ratio
    ratio_median_pairs_ci95: tuple[float, float]
    ratio_pairs_min: float
    ratio_pairs_max: float


def block_ratios(bare_s: list[float], instrumented_s: list[float], seed: int = 0) -> BlockRatios:
    """The ratio of total times and the median of the pairs' ratios, each with a bootstrap
    95% interval over rounds (``bare_s[i]`` and ``instrumented_s[i]``: round i's blocks)."""
    bare, instr = np.asarray(bare_s, dtype=float), np.asarray(instrumented_s, dtype=float)
    pairs = instr / bare
    rounds = np.random.default_rng(seed).integers(0, len(pairs), size=(BOOTSTRAP, len(pairs)))
    totals = instr[rounds].sum(axis=1) / bare[rounds].sum(axis=1)
    medians = np.median(pairs[rounds], axis=1)
    return BlockRatios(
        ratio_total=float(instr.sum() / bare.sum()),
        ratio_total_ci95=_interval(totals),
        ratio_median_pairs=float(np.median(pairs)),
        ratio_median_pairs_ci95=_interval(medians),
        ratio_pairs_min=float(pairs.min()),
        ratio_pairs_max=float(pairs.max()),
    )


def _interval(samples: np.ndarray) -> tuple[float, float]:
    return float(np.quantile(samples, 0.025)), float(np.quantile(samples, 0.975))


@dataclass(frozen=True)
class OverheadResult:
    """``block``: iterations per block (a multiple of ``log_every``); ``*_iter_s``: mean
    seconds per iteration over all blocks; ``overhead_pct``: from the ratio of total
    times; ``overhead_median_pairs_pct``: from the median of the pairs' ratios; the
    blocks' seconds, round by round."""

    run_id: str
    device: str
    rounds: int
    block: int
    log_every: int
    bare_iter_s: float
    instrumented_iter_s: float
    ratio_total: float
    ratio_total_ci95: tuple[float, float]
    overhead_pct: float
    ratio_median_pairs: float
    ratio_median_pairs_ci95: tuple[float, float]
    ratio_pairs_min: float
    ratio_pairs_max: float
    overhead_median_pairs_pct: float
    null_step_cost_s: float
    null_step_overhead_pct: float
    phases_per_iteration: int
    bare_block_s: list[float]
    instrumented_block_s: list[float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def block_iterations(run: RunConfig, block: int | None) -> int:
    """Iterations per block: ``block`` rounded up to a multiple of ``run.log_every``
    (None: one log interval)."""
    every = run.log_every
    return every * max(1, math.ceil((block or every) / every))


def measure_overhead(
    run: RunConfig,
    device: torch.device,
    rounds: int,
    block: int | None,
    workdir: Path,
    seed: int = 0,
    live_log: Callable[[Path], AbstractContextManager[object]] = lambda folder: nullcontext(),
) -> OverheadResult:
    """Paired blocks of the bare step and the instrumented loop, and the null-step cost;
    ``block`` is rounded up to whole log intervals (``block_iterations``). ``live_log``:
    what follows the run's folder meanwhile (train-suite --log's logging; polled once
    before the timing, so that the tools' start-up, once a run, is not timed; paused
    during the bare blocks when it can be, so that the ratio counts it too)."""
    block = block_iterations(run, block)
    run = run.timed_only(10**9)
    session = build_session(run, device)
    store = RunStore(workdir / run.id)
    store.create()
    sync = _synchronizer(device)
    with store.open_events() as events:
        loop = TrainingLoop.build(session, TrainState(), store, events, RunClock(sync))
        loop.parts.clock.start_loop()
        loop.parts.growth.apply()
        with loop.parts.trackers.stack:
            with live_log(store.folder) as live:  # the timed blocks' events only
                events.write("start", run_id=run.id, iteration=0)  # what a live log waits for
                if live is not None:  # the tools' start-up (once a run) before any timing
                    live.poll()
                quiet = getattr(live, "paused", nullcontext)  # logging with the loop only
                bare_s, instr_s = _paired_blocks(loop, session, rounds, block, sync, quiet)
            phases = list(loop.parts.trackers.iterations.timer.last_phases)
            null_loop_s = _null_loop_s(loop, session, phases, sync)
        null_cost = max(0.0, null_loop_s - _bare_calls_s(session, sync))
    ratios = block_ratios(bare_s, instr_s, seed)
    bare_iter = sum(bare_s) / (rounds * block)
    return OverheadResult(
        run_id=run.id,
        device=str(device),
        rounds=rounds,
        block=block,
        log_every=run.log_every,
        bare_iter_s=bare_iter,
        instrumented_iter_s=sum(instr_s) / (rounds * block),
        overhead_pct=(ratios.ratio_total - 1.0) * 100,
        overhead_median_pairs_pct=(ratios.ratio_median_pairs - 1.0) * 100,
        null_step_cost_s=null_cost,
        null_step_overhead_pct=null_cost / bare_iter * 100,
        phases_per_iteration=len(phases),
        bare_block_s=bare_s,
        instrumented_block_s=instr_s,
        **asdict(ratios),
    )


def _paired_blocks(
    loop: TrainingLoop,
    session: Session,
    rounds: int,
    block: int,
    sync: Callable[[], None],
    quiet: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> tuple[list[float], list[float]]:
    """Seconds of each round's bare and instrumented block, in turns (ABBA); ``quiet``:
    what the bare blocks run under (a live log paused)."""
    strategy = session.strategy

    def bare() -> float:
        with quiet(), _labels_off(session):
            return _timed(lambda: [strategy.step() for _ in range(block)], sync)

    def instrumented() -> float:
        return _timed(lambda: [loop.step() for _ in range(block)], sync)

    bare()
    _warm_up(loop, block)
    return abba_rounds(bare, instrumented, rounds)


def abba_rounds(
    first: Callable[[], float], second: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """Each round's seconds of ``first`` and of ``second``, taken in turns (even rounds
    first then second, odd ones the other way round: a linear drift cancels)."""
    first_s, second_s = [], []
    for r in range(rounds):
        if r % 2 == 0:
            a, b = first(), second()
        else:
            b, a = second(), first()
        first_s.append(a)
        second_s.append(b)
    return first_s, second_s


def _warm_up(loop: TrainingLoop, block: int) -> None:
    """Instrumented iterations (allocator, caches) past the trackers' warm-up window (so
    every timed block probes memory) up to a log point (so every block starts at one)."""
    run, state = loop.session.run, loop.state
    until = state.iteration + max(block, run.measure.warmup_iterations)
    until = math.ceil(until / run.log_every) * run.log_every
    while state.iteration < until:
        loop.step()


NULL_ITERATIONS = 2000


def _null_losses(session: Session) -> StepLosses:
    zero = torch.zeros((), device=session.device)
    return StepLosses(zero, zero)


def _null_loop_s(
    loop: TrainingLoop, session: Session, phases: list[str], sync: Callable[[], None]
) -> float:
    """Seconds per iteration of the instrumented loop around a step that does no work but
    opens the same phases (inside the trackers)."""
    losses, labels = _null_losses(session), session.phases

    def null_step() -> StepLosses:
        for name in phases:
            with labels(name):
                pass
        return losses

    null_loop = TrainingLoop(session, loop.state, loop.parts, train_step=null_step)
    n = NULL_ITERATIONS
    return min(_timed(lambda: [null_loop.step() for _ in range(n)], sync) for _ in range(3)) / n


def _bare_calls_s(session: Session, sync: Callable[[], None]) -> float:
    """Seconds per call of a step that does nothing, called bare (trackers stopped)."""
    losses = _null_losses(session)

    def bare_step() -> StepLosses:
        return losses

    n = NULL_ITERATIONS
    return min(_timed(lambda: [bare_step() for _ in range(n)], sync) for _ in range(3)) / n


def _timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


@contextlib.contextmanager
def _labels_off(session: Session) -> Iterator[None]:
    """The strategy's phase labels go nowhere for the block, then back where they went."""
    sink = session.phases.sink
    session.phases.attach(no_phases)
    try:
        yield
    finally:
        session.phases.attach(sink)


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None
