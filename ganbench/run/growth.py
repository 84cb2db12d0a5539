"""The batch schedule applied as the loop goes: the size for the next iteration, a
``batch_size`` event (and the learning rates) when it grows, FLOPs counted at every new
size before it trains."""

from __future__ import annotations

from ganbench.run.context import RunPart


class BatchGrowth(RunPart):
    def apply(self) -> None:
        """Set the size the schedule gives the iteration about to run."""
        session, state = self.session, self.state
        size = session.schedule.size_at(state.iteration, session.sampler.epoch)
        self.trackers.prepare(size, self.clock)
        if size == state.batch_size:
            return
        previous, state.batch_size = state.batch_size, size
        session.set_batch_size(size)
        if previous:  # the first size is in the start event
            self.clock.sync()  # rare: the training time at the growth step is exact
            self.events.write(
                "batch_size",
                iteration=state.iteration,
                epoch=session.sampler.epoch,
                train_s=self.clock.train_s(),
                previous=previous,
                batch_size=size,
                **session.strategy.lr,
            )
