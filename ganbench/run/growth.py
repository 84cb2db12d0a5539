"""The batch and learning-rate schedules applied as the loop goes: the size for the next
iteration, a ``batch_size`` event (with the learning rates and why) when it grows, an
``lr`` event when a step schedule changes the rates, FLOPs counted at every new size
before it trains. Adaptive growth observes the evaluations or the noise scale here; under
ddp rank 0 decides and every rank takes its decision right after the observation."""

from __future__ import annotations

from typing import Any

from ganbench.metrics.evaluate import Evaluator
from ganbench.run.context import RunContext, RunPart
from ganbench.trackers.noise_scale import NoiseScaleEstimator


class BatchGrowth(RunPart):
    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.lr_scale: float | None = None  # set before the first iteration (and on resume)
        self.adaptive = self.session.schedule.adaptive
        if self.adaptive is not None:
            self.adaptive.load_state_dict(self.state.growth)  # a resume decides on from there

    def observe_quality(self, evaluator: Evaluator | None, values: dict[str, Any]) -> None:
        """Plateau growth: the evaluation just scored (rank 0)."""
        if self.adaptive is None or evaluator is None or not self.session.replicas.writes:
            return
        metric = getattr(self.adaptive.cfg, "metric", None)
        if metric is None:
            return
        lower = evaluator.directions().get(metric) == "min"
        self.adaptive.observe_quality(values.get(metric), lower, self.state.iteration)
        self.state.growth = self.adaptive.state_dict()

    def observe_noise(self, estimator: NoiseScaleEstimator) -> None:
        """Noise-scale growth: the noise scale just measured (rank 0)."""
        if self.adaptive is None or not self.session.replicas.writes:
            return
        b_simple = {p: estimator.b_simple(p) for p in estimator.players}
        self.adaptive.observe_noise(b_simple, self.state.iteration)
        self.state.growth = self.adaptive.state_dict()

    def agree(self) -> None:
        """ddp: after an observation (an evaluation or a noise scale, at the same iteration
        on every rank), every rank takes rank 0's decisions: the next iteration grows on
        all ranks or on none. One pickled broadcast per observation, none in between."""
        replicas = self.session.replicas
        if self.adaptive is None or not replicas.distributed:
            return
        decided = replicas.from_rank0(self.state.growth)
        if not replicas.writes:
            self.adaptive.load_state_dict(decided)
            self.state.growth = decided

    def apply(self) -> None:
        """Set the size and the learning rates the schedules give the iteration about to
        run."""
        session, state = self.session, self.state
        size = session.schedule.size_at(state.iteration, session.sampler.epoch)
        self.trackers.prepare(size)
        previous = state.batch_size
        if size != previous:
            state.batch_size = size
            session.set_batch_size(size)
            if previous:
                state.grown_at.append([state.iteration, size])
        stepped = self._set_lr()
        if previous and size != previous:  # the first size is in the start event
            self._record("batch_size", previous=previous, batch_size=size, reason=self._why())
        elif stepped:
            self._record("lr", lr_factor=session.lr_schedule.factor(state.iteration, self.epoch))

    def _why(self) -> str:
        if self.adaptive is not None:
            history = self.adaptive.state.history
            return history[-1]["why"] if history else "start"
        return self.session.schedule.milestone_at(self.state.iteration, self.epoch)

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

    def _record(self, event: str, **fields: Any) -> None:
        self.clock.sync()  # rare: the training time at the step is exact
        self.events.write(
            event,
            iteration=self.state.iteration,
            epoch=self.epoch,
            train_s=self.clock.train_s(),
            **fields,
            **self.session.strategy.lr,
        )
