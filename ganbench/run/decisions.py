"""What the loop decides before an iteration, the same on every ddp rank.

Limits counted in iterations or epochs every rank reaches by itself, at the same
iteration. What depends on rank 0's clock or signals (a stop request, the wall-clock
budget, a machine-speed probe due, an evaluation due by training seconds) rank 0 decides,
and every rank learns it at an *exchange*: one broadcast of a small tensor of flags on the
control group (gloo, host memory: under NCCL it never touches the GPU's queue). Rank 0
also says in it how many iterations pass until the next exchange, as many as take about
``EXCHANGE_EVERY_S`` at the pace since the last one, so every rank knows where the next
one is and the cost (a few hundred microseconds on a busy CPU) is paid a few times a
second, not per step. A decision therefore waits for the next exchange: at most about
``EXCHANGE_EVERY_S`` (or one iteration, when iterations are slower than that). Only when
the run ends is something pickled: the reason, once. Growth decisions do not ride here:
they follow the observations that make them (``BatchGrowth.agree``).

In one process nothing is exchanged and everything is decided before every iteration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ganbench.levers.distributed import Replicas

EXCHANGE_EVERY_S = 0.2
MAX_EVERY = 10_000  # iterations between exchanges, whatever the pace


@dataclass(frozen=True)
class Decision:
    """Before an iteration: the budget limit reached (e.g. ``2000 iterations``), what asked
    to stop (``"SIGTERM"``), whether a probe runs first and whether the iteration ends
    with an evaluation due by training seconds."""

    reached: str | None = None
    stop: str | bool | None = None
    probe: bool = False
    evaluate: bool = False

    @property
    def ends(self) -> bool:
        return self.reached is not None or bool(self.stop)


NONE = Decision()


class Decisions:
    """``next(iteration)`` before every iteration: what to do, identical on every rank.

    ``counted()``: a limit in iterations or epochs reached (every rank asks itself);
    ``rank0()``: rank 0's whole view now (the budget with the wall clock, a stop, a probe
    due, an evaluation due by time)."""

    def __init__(
        self,
        replicas: Replicas,
        counted: Callable[[], str | None],
        rank0: Callable[[], Decision],
    ) -> None:
        self.replicas, self.counted, self.rank0 = replicas, counted, rank0
        self.next_at: int | None = None  # the iteration of the next exchange
        self._last: tuple[int, float] | None = None  # rank 0: the last exchange's iteration, time

    def next(self, iteration: int) -> Decision:
        if not self.replicas.distributed:
            return self.rank0()
        reached = self.counted()
        if reached is not None:
            return Decision(reached=reached)
        if self.next_at is not None and iteration < self.next_at:
            return NONE
        decided, every = self._exchange(iteration)
        self.next_at = iteration + every
        if decided.ends:
            return self._reason(decided)
        return decided

    def _exchange(self, iteration: int) -> tuple[Decision, int]:
        """Rank 0's flags and the iterations to the next exchange, on every rank."""
        flags = torch.zeros(5, dtype=torch.int64)
        if self.replicas.writes:
            own = self.rank0()
            fields = (own.reached is not None, bool(own.stop), own.probe, own.evaluate)
            flags = torch.tensor([*fields, self._every(iteration)], dtype=torch.int64)
        dist.broadcast(flags, src=0, group=self.replicas.control)
        wall, stop, probe, evaluate, every = flags.tolist()
        decided = Decision("wall" if wall else None, bool(stop), bool(probe), bool(evaluate))
        return decided, int(every)

    def _every(self, iteration: int) -> int:
        """Rank 0: iterations to the next exchange, from the pace since the last one."""
        now, last, self._last = time.perf_counter(), self._last, (iteration, time.perf_counter())
        if last is None or iteration <= last[0]:
            return 1
        per_iteration = (now - last[1]) / (iteration - last[0])
        return max(1, min(MAX_EVERY, int(EXCHANGE_EVERY_S / max(per_iteration, 1e-9))))

    def _reason(self, flagged: Decision) -> Decision:
        """The run ends: rank 0's reason in words, on every rank (pickled once)."""
        own = self.rank0() if self.replicas.writes else NONE
        reached, stop = self.replicas.from_rank0((own.reached, own.stop))
        if flagged.reached is not None:
            return Decision(reached=reached or "the wall-clock budget")
        return Decision(stop=stop or "a stop request")
