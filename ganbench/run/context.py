"""What the training loop's parts share: the session, the counters that survive a resume,
the run folder and its event log, the run's clock and its trackers."""

from __future__ import annotations

from dataclasses import dataclass

from ganbench.results import EventLog, RunStore
from ganbench.run.measurement import RunTrackers
from ganbench.run.session import Session
from ganbench.run.state import TrainState
from ganbench.trackers.clock import RunClock


@dataclass
class RunContext:
    session: Session
    state: TrainState
    store: RunStore
    events: EventLog
    clock: RunClock
    trackers: RunTrackers


class RunPart:
    """A part of the loop (schedule, log, evaluation, checkpoints): it reads and writes the
    run through the shared context."""

    def __init__(self, ctx: RunContext) -> None:
        self.session, self.state, self.clock = ctx.session, ctx.state, ctx.clock
        self.store, self.events, self.trackers = ctx.store, ctx.events, ctx.trackers
