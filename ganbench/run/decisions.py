"""What the loop decides before each iteration, the same on every ddp rank.

Limits counted in iterations or epochs every rank reaches by itself, at the same
iteration. What depends on rank 0's clock or signals (a stop request, the wall-clock
budget, a machine-speed probe due, an evaluation due by training seconds) rank 0 decides,
and every rank learns it from one small tensor of flags broadcast on the control group
(gloo, host memory: under NCCL it never touches the GPU's queue). The broadcast is
asynchronous: started before iteration i, it is read before iteration i + 1, so it
travels while iteration i trains and no rank waits for it; every rank, rank 0 included,
acts on rank 0's flags one iteration after rank 0 set them. Only when a flag says the
run ends is something pickled: the reason, once. Growth decisions do not ride here: they
follow the observations that make them (``BatchGrowth.agree``).

In one process nothing is exchanged and everything is decided at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ganbench.levers.distributed import Replicas


@dataclass(frozen=True)
class Decision:
    """Before an iteration: the budget limit reached (e.g. ``2000 iterations``), what asked
    to stop (``"SIGTERM"``), whether a probe runs first and whether the iteration ends
    with an evaluation due by training seconds."""

    reached: str | None = None
    stop: str | bool | None = None
    probe: bool = False
    evaluate: bool = False

    def flags(self) -> torch.Tensor:
        fields = (self.reached is not None, bool(self.stop), self.probe, self.evaluate)
        return torch.tensor(fields, dtype=torch.uint8)

    @property
    def ends(self) -> bool:
        return self.reached is not None or bool(self.stop)


NONE = Decision()


class Decisions:
    """Before every iteration ``next()`` says what to do, identical on every rank; once the
    loop has done it (a probe run), ``send()`` starts the broadcast of rank 0's flags for
    the next iteration.

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
        self._flags: torch.Tensor | None = None
        self._work: Any = None

    def next(self) -> Decision:
        if not self.replicas.distributed:
            return self.rank0()
        reached = self.counted()
        if reached is not None:
            self.close()
            return Decision(reached=reached)
        received = self._received()
        if received.ends:
            return self._reason(received)
        return received

    def send(self) -> None:
        """Start broadcasting rank 0's flags; read by the next ``next()``."""
        if not self.replicas.distributed:
            return
        own = self.rank0().flags() if self.replicas.writes else torch.zeros(4, dtype=torch.uint8)
        self._flags = own
        self._work = dist.broadcast(own, src=0, group=self.replicas.control, async_op=True)

    def close(self) -> None:
        """Wait for the broadcast in flight (every rank started it: every rank waits)."""
        if self._work is not None:
            self._work.wait()
            self._work = None

    def _received(self) -> Decision:
        """Rank 0's flags from before the last iteration (none before the first)."""
        if self._work is None or self._flags is None:
            return NONE
        self.close()
        wall, stop, probe, evaluate = (bool(f) for f in self._flags.tolist())
        return Decision("wall" if wall else None, stop, probe, evaluate)

    def _reason(self, flagged: Decision) -> Decision:
        """The run ends: rank 0's reason in words, on every rank (pickled once)."""
        own = self.rank0() if self.replicas.writes else NONE
        reached, stop = self.replicas.from_rank0((own.reached, own.stop))
        if flagged.reached is not None:
            return Decision(reached=reached or "the wall-clock budget")
        return Decision(stop=stop or "a stop request")
