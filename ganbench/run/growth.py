"""The batch and learning-rate schedules applied as the loop goes: the size for the next
iteration, a ``batch_size`` event (with the learning rates) when it grows, an ``lr`` event
when a step schedule changes the rates, FLOPs counted at every new size before it
trains."""

from __future__ import annotations

from ganbench.run.context import RunContext, RunPart


class BatchGrowth(RunPart):
    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.lr_scale: float | None = None  # set before the first iteration (and on resume)

    def apply(self) -> None:
        """Set the size and the learning rates the schedules give the iteration about to
        run."""
        session, state = self.session, self.state
        size = session.schedule.size_at(state.iteration, session.sampler.epoch)
        self.trackers.prepare(size, self.clock)
        previous = state.batch_size
        if size != previous:
            state.batch_size = size
            session.set_batch_size(size)
        stepped = self._set_lr()
        if previous and size != previous:  # the first size is in the start event
            self._record("batch_size", previous=previous, batch_size=size)
        elif stepped:
            self._record("lr", lr_factor=session.lr_schedule.factor(state.iteration, self.epoch))

    @property
    def epoch(self) -> float:
        return self.session.sampler.epoch

    def _set_lr(self) -> bool:
        """Apply the learning-rate scale; True when a step schedule just changed it (not
        at the start or a resume, where the rates are in the start or resume event)."""
        scale = self.session.lr_scale(self.state.iteration)
        if scale == self.lr_scale:
            return False
        first, self.lr_scale = self.lr_scale is None, scale
        self.session.strategy.set_lr_scale(scale)
        return not first and self.session.lr_schedule.stepwise

    def _record(self, event: str, **fields: float) -> None:
        self.clock.sync()  # rare: the training time at the step is exact
        self.events.write(
            event,
            iteration=self.state.iteration,
            epoch=self.epoch,
            train_s=self.clock.train_s(),
            **fields,
            **self.session.strategy.lr,
        )
