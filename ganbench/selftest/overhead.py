"""What the instrumentation costs: the bare training step against the fully instrumented
loop, alternating in one process on one session.

Two estimates, because a shared machine's noise is larger than the effect:

* **paired blocks**: ``rounds`` pairs of blocks of ``block`` iterations (by default
  single iterations: neighbours share the machine's state, so a shared machine's CPU
  steal largely cancels), bare then instrumented and instrumented then bare in turn (so
  a linear drift cancels); the ratio of each pair's times, its median and a bootstrap
  95% interval of the median. The device is synchronised around every block, so on a GPU
  host-side costs show in full: an upper bound.
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
import statistics
import time
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class OverheadResult:
    run_id: str
    device: str
    rounds: int
    block: int
    bare_iter_s: float
    instrumented_iter_s: float
    ratio_median: float
    ratio_ci95: tuple[float, float]
    ratio_min: float
    ratio_max: float
    overhead_pct: float
    null_step_cost_s: float
    null_step_overhead_pct: float
    phases_per_iteration: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_overhead(
    run: RunConfig, device: torch.device, rounds: int, block: int, workdir: Path, seed: int = 0
) -> OverheadResult:
    """Paired blocks of the bare step and the instrumented loop, and the null-step cost."""
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
            bare_times, instr_times = _paired_blocks(loop, session, rounds, block, sync)
            phases = list(loop.parts.trackers.iterations.timer.last_phases)
            null_loop_s = _null_loop_s(loop, session, phases, sync)
        null_cost = max(0.0, null_loop_s - _bare_calls_s(session, sync))
    ratios = [i / b for b, i in zip(bare_times, instr_times, strict=True)]
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(ratios, size=(2000, len(ratios)), replace=True), axis=1)
    median = statistics.median(ratios)
    bare_iter = statistics.median(bare_times)
    return OverheadResult(
        run_id=run.id,
        device=str(device),
        rounds=rounds,
        block=block,
        bare_iter_s=bare_iter,
        instrumented_iter_s=statistics.median(instr_times),
        ratio_median=median,
        ratio_ci95=(float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        overhead_pct=(median - 1.0) * 100,
        null_step_cost_s=null_cost,
        null_step_overhead_pct=null_cost / bare_iter * 100,
        phases_per_iteration=len(phases),
    )


def _paired_blocks(
    loop: TrainingLoop, session: Session, rounds: int, block: int, sync: Callable[[], None]
) -> tuple[list[float], list[float]]:
    """Seconds per iteration of each round's bare and instrumented block, in turns."""
    strategy = session.strategy

    def bare() -> float:
        with _labels_off(session):
            return _timed(lambda: [strategy.step() for _ in range(block)], sync) / block

    def instrumented() -> float:
        return _timed(lambda: [loop.step() for _ in range(block)], sync) / block

    bare(), instrumented()  # warm-up: allocator, caches, the trackers' warm-up window
    bare_times, instr_times = [], []
    for r in range(rounds):
        if r % 2 == 0:
            b, i = bare(), instrumented()
        else:
            i, b = instrumented(), bare()
        bare_times.append(b)
        instr_times.append(i)
    return bare_times, instr_times


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
