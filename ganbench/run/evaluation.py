"""Evaluation during training: the fixed-noise sample grid and the quality metrics, scored
every ``evaluation.every_iterations`` iterations or ``every_seconds`` training seconds and
at the end, with best values and time to target. None of it is training time; its own
random streams leave what training draws next unchanged. Under ddp rank 0 evaluates,
the others wait for it at their next all-reduce."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from ganbench.config.schema import RunConfig
from ganbench.metrics.evaluate import Evaluator, QualityTracker
from ganbench.results import EventLog
from ganbench.results.samples import save_samples
from ganbench.run.context import RunContext, RunPart
from ganbench.run.session import STREAM_EVAL, Session, stream_seed
from ganbench.trackers.clock import RunClock


def prepare_metrics(
    run: RunConfig, session: Session, events: EventLog, clock: RunClock
) -> Evaluator:
    """The run's quality metrics (classifier, Inception, cached reference statistics),
    built outside the run's wall and training time; what it cost and which caches it hit
    go in a ``metrics_setup`` event."""
    with clock.excluded(wall=True):
        evaluator = Evaluator(
            run.evaluation.metrics,
            run.dataset,
            run.model.noise_shape(),
            stream_seed(run.seed, STREAM_EVAL),
            session.device,
            run.evaluation.batch_size,
        )
    if evaluator:
        events.write(
            "metrics_setup",
            metrics_setup_s=evaluator.setup_s,
            setup=evaluator.setup,
            protocol=evaluator.protocol(),
        )
    return evaluator


class Evaluation(RunPart):
    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.evaluator: Evaluator | None = None
        self.quality = QualityTracker({}, {})
        self.last_values: dict[str, Any] = {}  # the values the last evaluation scored

    def attach(self, evaluator: Evaluator) -> None:
        """Score quality with ``evaluator`` at every evaluation (time to target included),
        continuing the checkpointed history."""
        self.evaluator = evaluator
        targets = self.session.run.evaluation.targets
        self.quality = QualityTracker(evaluator.directions(), targets)
        self.quality.load_state_dict(self.state.quality)

    def due(self) -> bool:
        return self.due_by_count() or self.time_due()

    def due_by_count(self) -> bool:
        every = self.session.run.evaluation.every_iterations
        return bool(every and self.state.iteration % every == 0)

    def time_due(self) -> bool:
        every = self.session.run.evaluation.every_seconds
        return bool(every and self.clock.train_s() - self.state.last_eval_train_s >= every)

    def run(self) -> None:
        """Sample grid and metrics, then an ``eval`` event (rank 0 only)."""
        session, state = self.session, self.state
        if not session.replicas.writes:
            return
        scored = None
        with self.trackers.excluded("evaluation") as span:
            devices = [session.device] if session.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                path = self._save_grid()
                if self.evaluator:
                    scored = self.evaluator.evaluate(session.G)
        state.eval_s += span.seconds
        state.last_eval_train_s = self.clock.train_s()
        state.evaluated_at = state.iteration
        at = {
            "iteration": state.iteration,
            "train_s": state.last_eval_train_s,
            "wall_s": self.clock.wall_s(),
            "images_seen": session.sampler.images_seen,
        }
        quality: dict[str, Any] = {}
        if scored is not None:
            self.last_values = scored.values
            reached = self.quality.update(scored.values, at)
            state.quality = self.quality.state_dict()
            quality = {
                **scored.values,
                "metric_time_s": scored.seconds,
                "targets_reached": reached,
                "protocol": scored.protocol,
            }
        samples = str(path.relative_to(self.store.folder))
        self.events.write("eval", **at, eval_time_s=span.seconds, samples=samples, **quality)

    def _save_grid(self) -> Path:
        session = self.session
        G = session.G
        G.eval()
        with torch.no_grad():
            samples = G(session.fixed_z)
        G.train()
        real = session.data.values[:4096] if session.data.kind == "points" else samples
        path = self.store.samples_dir / f"iter{self.state.iteration:08d}.png"
        save_samples(samples, real, path)
        shutil.copyfile(path, self.store.samples)  # samples.png: the latest, rendered once
        return path

    def summary(self) -> dict[str, Any]:
        """Quality figures of the summary: final and best values, time to target, protocol."""
        if not self.evaluator:
            return {}
        return {
            **self.quality.summary(),
            "metrics_protocol": self.evaluator.protocol(),
            "metrics_setup_s": self.evaluator.setup_s,
        }
