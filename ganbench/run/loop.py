"""The training loop: iterations until the budget is reached or a stop is asked for.

The loop decides only when to stop; each iteration's bookkeeping belongs to the parts it
calls at fixed points: the batch schedule before the step, the trackers around it, then
the log, the noise scale, evaluation and checkpoints; the machine-speed probe before the
first iteration and between iterations when due. A NaN/inf loss raises ``Diverged`` from
the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ganbench.results import EventLog, RunStatus, RunStore
from ganbench.run.checkpoint import Checkpoints
from ganbench.run.context import RunContext
from ganbench.run.decisions import Decision, Decisions
from ganbench.run.evaluation import Evaluation
from ganbench.run.growth import BatchGrowth
from ganbench.run.log import IterationLog, OnLog
from ganbench.run.measurement import RunTrackers, build_trackers
from ganbench.run.noise_scale import NoiseScale
from ganbench.run.session import Session
from ganbench.run.speed_probe import SpeedProbe
from ganbench.run.state import TrainState
from ganbench.strategies import StepLosses
from ganbench.trackers.clock import RunClock

StopCheck = Callable[[], "str | bool | None"]
"""Asked once per iteration: falsy to go on, else what asked to stop (e.g. ``"SIGTERM"``)."""


@dataclass
class LoopParts:
    """What the loop calls besides the strategy."""

    clock: RunClock
    trackers: RunTrackers
    growth: BatchGrowth
    log: IterationLog
    noise_scale: NoiseScale
    evaluation: Evaluation
    checkpoints: Checkpoints
    speed_probe: SpeedProbe


class TrainingLoop:
    """``run()`` trains to the budget; ``step()`` is one iteration with its bookkeeping.
    ``train_step`` is what an iteration trains (the strategy's step; the overhead
    self-test passes a step that does no work)."""

    def __init__(
        self,
        session: Session,
        state: TrainState,
        parts: LoopParts,
        should_stop: StopCheck = lambda: None,
        train_step: Callable[[], StepLosses] | None = None,
    ) -> None:
        self.session, self.state, self.parts = session, state, parts
        self.should_stop = should_stop
        self.train_step = train_step or session.strategy.step
        self.decisions = Decisions(session.replicas, self._counted_limit, self._rank0_view)
        self._evaluate_by_time = False  # ddp: rank 0's flag for the iteration under way

    @classmethod
    def build(
        cls,
        session: Session,
        state: TrainState,
        store: RunStore,
        events: EventLog,
        clock: RunClock,
        on_log: OnLog | None = None,
        should_stop: StopCheck = lambda: None,
    ) -> TrainingLoop:
        """The loop for ``session`` with every part wired to its store, events and clock
        (the metrics are attached to ``parts.evaluation`` once prepared)."""
        trackers = build_trackers(session, store, state, clock)
        ctx = RunContext(session, state, store, events, clock, trackers)
        parts = LoopParts(
            clock=clock,
            trackers=trackers,
            growth=BatchGrowth(ctx),
            log=IterationLog(ctx, on_log),
            noise_scale=NoiseScale(ctx),
            evaluation=Evaluation(ctx),
            checkpoints=Checkpoints(ctx),
            speed_probe=SpeedProbe(ctx),
        )
        return cls(session, state, parts, should_stop)

    def run(self, resumed: bool) -> tuple[RunStatus, str]:
        """Train until the budget or a stop request; the status and the reason."""
        parts, state = self.parts, self.state
        parts.clock.start_loop()
        if not resumed and self.session.run.evaluation.at_start:
            parts.evaluation.run()
        parts.speed_probe.run()  # the machine's speed before the first iteration
        with parts.trackers.stack:
            reached, stop = self._until_stopped()
            parts.trackers.steady.close()  # the last steady iteration ends here
        if reached is None:
            by = stop if isinstance(stop, str) else "a stop request"
            return RunStatus.INTERRUPTED, f"stopped by {by} at iteration {state.iteration}"
        parts.log.flush()
        evaluate = state.evaluated_at != state.iteration
        if evaluate:
            parts.evaluation.run()
        if evaluate or parts.checkpoints.saved_at != state.iteration:
            parts.checkpoints.save()  # the last evaluation included: a resume repeats nothing
        return RunStatus.FINISHED, f"budget reached: {reached}"

    def budget_reached(self) -> str | None:
        epoch = self.session.sampler.epoch
        wall_s = self.parts.clock.wall_s()
        return self.session.run.budget.reached(self.state.iteration, epoch, wall_s)

    def _counted_limit(self) -> str | None:
        """A limit in iterations or epochs (every ddp rank reaches it by itself)."""
        return self.session.run.budget.reached(self.state.iteration, self.session.sampler.epoch, 0)

    def _rank0_view(self) -> Decision:
        """What this process would decide alone now (under ddp, rank 0's flags)."""
        probe, evaluation = self.parts.speed_probe, self.parts.evaluation
        evaluate = self.session.replicas.distributed and evaluation.time_due()
        return Decision(self.budget_reached(), self.should_stop(), probe.due(), evaluate)

    def _until_stopped(self) -> tuple[str | None, str | bool | None]:
        """Iterate; (the budget limit reached, None), or (None, what asked to stop) once
        a stop was asked for (after a checkpoint). ddp: every rank stops, probes the
        machine's speed and evaluates by time where rank 0's clock and signals say, at
        the next exchange of decisions (``Decisions``)."""
        while (outcome := self.advance()) is None:
            pass
        return outcome

    def advance(self) -> tuple[str | None, str | bool | None] | None:
        """One iteration of the run, with what is decided before it; None while the run
        goes on, else how it ended (as ``_until_stopped`` returns it)."""
        decided = self.decisions.next(self.state.iteration)
        if decided.reached is not None:
            return decided.reached, None
        if decided.stop:
            self.parts.log.flush()
            if self.parts.checkpoints.saved_at != self.state.iteration:
                self.parts.checkpoints.save()
            return None, decided.stop
        if decided.probe:
            self.parts.speed_probe.run()
        self._evaluate_by_time = decided.evaluate
        self.step()
        return None

    def step(self) -> None:
        """One iteration: schedule, the trained step inside the trackers, bookkeeping."""
        parts, state = self.parts, self.state
        parts.growth.apply()
        parts.noise_scale.before_step()
        parts.trackers.stack.begin_iteration(state.iteration)
        losses = self.train_step()
        parts.trackers.stack.end_iteration(state.iteration + 1, state.batch_size)
        state.iteration += 1
        parts.log.add(losses)
        parts.log.after_iteration()
        if parts.noise_scale.due():
            parts.noise_scale.run()
            parts.growth.observe_noise(parts.noise_scale.estimator)
            parts.growth.agree()
        if self._evaluation_due():
            parts.evaluation.run()
            parts.growth.observe_quality(parts.evaluation.evaluator, parts.evaluation.last_values)
            parts.growth.agree()
        if parts.checkpoints.due():
            parts.checkpoints.save()

    def _evaluation_due(self) -> bool:
        """After an iteration: by the iteration count, or by training seconds (under ddp
        as rank 0 flagged it, so every rank knows it at the same iteration)."""
        evaluation = self.parts.evaluation
        if not self.session.replicas.distributed:
            return evaluation.due()
        return evaluation.due_by_count() or self._evaluate_by_time
