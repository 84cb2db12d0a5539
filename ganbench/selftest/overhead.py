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

"Bare" is ``strategy.step()`` with no phase timer; "instrumented" is
the training loop's own iteration path (phase timer, memory probes, FLOP accounting, NVML
sampler, loss logging every ``log_every`` iterations) with evaluation and checkpoints off.
The NVML thread runs during both (conservative: it also slows the bare blocks' host).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.config import RunConfig
from ganbench.results import RunStore
from ganbench.session import TrainState, build_session
from ganbench.strategies.base import StepLosses
from ganbench.trackers.phases import no_phases


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
    from ganbench.train import Trainer

    run = run.timed_only(10**9)
    session = build_session(run, device)
    store = RunStore(workdir / run.id)
    store.create()
    with store.open_events() as events:
        trainer = Trainer(session, TrainState(), store, events, None, lambda: False, 0.0)
        trainer.apply_schedule()
        timer = trainer.instruments.timer
        strategy = session.strategy

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        def bare() -> float:
            strategy.phases = no_phases
            sync()
            t0 = time.perf_counter()
            for _ in range(block):
                strategy.step()
            sync()
            elapsed = time.perf_counter() - t0
            strategy.phases = timer
            return elapsed

        def instrumented() -> float:
            sync()
            t0 = time.perf_counter()
            for _ in range(block):
                trainer.apply_schedule()
                trainer.iterate()
                trainer.after_iteration()
            sync()
            return time.perf_counter() - t0

        # The NVML thread runs throughout (it costs the bare blocks too: conservative).
        trainer.instruments.start()
        bare(), instrumented()  # warm-up: allocator, caches, the trackers' warm-up window
        ratios, bare_times, instr_times = [], [], []
        for r in range(rounds):
            if r % 2 == 0:
                b, i = bare(), instrumented()
            else:
                i, b = instrumented(), bare()
            bare_times.append(b / block)
            instr_times.append(i / block)
            ratios.append(i / b)
        trainer.instruments.stop()
        phases = list(timer.last_phases)
        null_cost = _null_step_cost(trainer, phases, sync)
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


def _null_step_cost(trainer: Any, phases: list[str], sync: Any, n: int = 2000) -> float:
    """Seconds per iteration the loop's instrumentation adds around a step doing no work."""
    strategy = trainer.s.strategy
    zero = torch.zeros((), device=trainer.s.device)
    losses = StepLosses(zero, zero)

    def null_step() -> StepLosses:
        for name in phases:
            with strategy.phases(name):
                pass
        return losses

    def bare_step() -> StepLosses:
        return losses

    def time_loop(instrumented: bool) -> float:
        sync()
        t0 = time.perf_counter()
        if instrumented:
            for _ in range(n):
                trainer.apply_schedule()
                trainer.iterate()
                trainer.after_iteration()
        else:
            for _ in range(n):
                strategy.step()
        sync()
        return time.perf_counter() - t0

    real_step = strategy.step
    try:
        strategy.step = null_step
        trainer.instruments.start()
        instrumented = min(time_loop(True) for _ in range(3))
        trainer.instruments.stop()
        strategy.step = bare_step
        bare = min(time_loop(False) for _ in range(3))
    finally:
        strategy.step = real_step
    return max(0.0, (instrumented - bare) / n)
