"""One evaluation: generate from fixed noise, score with every metric, time each part.

The noise is the same set at every evaluation of a run (drawn from a seed of its own, so
evaluating never shifts the training's random streams); generated images are quantised
to uint8, as saved images and the reference data are.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganbench.data import DATASETS, DatasetConfig
from ganbench.errors import Diverged
from ganbench.metrics.base import METRICS, Direction, MetricConfig, Samples, Scorer
from ganbench.models.base import as_noise_shape


@dataclass
class Evaluation:
    values: dict[str, float | None]
    seconds: dict[str, float]  # generation and each metric
    protocol: dict[str, dict[str, Any]]


class Evaluator:
    """The prepared metrics of one run."""

    def __init__(
        self,
        metrics: Sequence[MetricConfig],
        dataset: DatasetConfig,
        latent: int | tuple[int, ...],
        noise_seed: int,
        device: torch.device,
        batch_size: int = 250,
    ) -> None:
        self.noise_shape = as_noise_shape(latent)
        self.noise_seed, self.device = noise_seed, device
        self.batch_size = batch_size
        self.kind = DATASETS.get(dataset.name).kind
        self.num_samples = max((m.num_samples for m in metrics), default=0)
        prepared: dict[str, Scorer] = {}
        self.setup: dict[str, Any] = {}
        started = time.perf_counter()
        for cfg in sorted(metrics, key=lambda m: not METRICS.get(m.name).keeps_reference_features):
            t0 = time.perf_counter()
            prepared[cfg.name] = METRICS.get(cfg.name).prepare(cfg, dataset, device)
            self.setup[cfg.name] = {**prepared[cfg.name].setup, "seconds": time.perf_counter() - t0}
        self.scorers = {cfg.name: prepared[cfg.name] for cfg in metrics}  # the order asked for
        self.setup_s = time.perf_counter() - started

    def __bool__(self) -> bool:
        return bool(self.scorers)

    def directions(self) -> dict[str, Direction | None]:
        return {value: d for name in self.scorers for value, d in METRICS.get(name).values.items()}

    def protocol(self) -> dict[str, dict[str, Any]]:
        return {name: {**s.protocol, **s.notes()} for name, s in self.scorers.items()}

    @torch.no_grad()
    def generate(self, G: nn.Module) -> Samples:
        """``num_samples`` outputs of G in eval mode from the run's fixed evaluation noise."""
        gen = torch.Generator().manual_seed(self.noise_seed)
        was_training = G.training
        G.eval()
        parts = []
        try:
            with torch.autocast(self.device.type, enabled=False):
                for start in range(0, self.num_samples, self.batch_size):
                    n = min(self.batch_size, self.num_samples - start)
                    z = torch.randn(n, *self.noise_shape, generator=gen).to(self.device)
                    parts.append(G(z).float().cpu())
        finally:
            G.train(was_training)
        values = torch.cat(parts)
        if not torch.isfinite(values).all():
            raise Diverged("the generator produced non-finite samples during evaluation")
        if self.kind == "image":
            values = values.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
        return Samples(values, self.kind)

    def evaluate(self, G: nn.Module) -> Evaluation:
        t0 = time.perf_counter()
        samples = self.generate(G)
        generate_s = time.perf_counter() - t0
        values, seconds = self.score(samples)
        return Evaluation(values, {"generate": generate_s, **seconds}, self.protocol())

    def score(self, samples: Samples) -> tuple[dict[str, float | None], dict[str, float]]:
        """Every metric's values on ``samples`` and the seconds each took (``ganbench
        score`` scores images made elsewhere through here too)."""
        values: dict[str, float | None] = {}
        seconds: dict[str, float] = {}
        for name, scorer in self.scorers.items():
            t0 = time.perf_counter()
            values.update(scorer.score(samples))
            seconds[name] = time.perf_counter() - t0
        return values, seconds


@dataclass
class QualityTracker:
    """Final and best value of every metric, and when each target was first reached.

    Targets are checked at evaluations, so time-to-target has the evaluation schedule's
    resolution: the train time, iteration and images seen of the first evaluation at
    which the value is at or beyond the target. The history of evaluations is the
    checkpointed state, so a resumed run with changed targets recomputes them.
    """

    directions: dict[str, Direction | None]
    targets: dict[str, float]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    reached: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def update(self, values: dict[str, float | None], at: dict[str, Any]) -> list[str]:
        """Record one evaluation; return the targets reached for the first time."""
        self.history.append({"at": dict(at), "values": dict(values)})
        newly = []
        for name, value in values.items():
            if value is None:
                continue
            direction = self.directions.get(name)
            entry = self.values.setdefault(
                name, {"evaluations": 0, "best": None, "direction": direction}
            )
            entry["evaluations"] += 1
            entry["final"] = value
            if direction is not None and (
                entry["best"] is None or _better(value, entry["best"], direction)
            ):
                entry.update(best=value, best_iteration=at["iteration"], best_train_s=at["train_s"])
            target = self.targets.get(name)
            if target is not None and name not in self.reached and direction is not None:
                if value == target or _better(value, target, direction):
                    self.reached[name] = {"value": value, **at}
                    newly.append(name)
        return newly

    def summary(self) -> dict[str, Any]:
        time_to_target = {
            name: {
                "target": target,
                "reached": name in self.reached,
                **{
                    k: self.reached.get(name, {}).get(k)
                    for k in ("iteration", "train_s", "wall_s", "images_seen", "value")
                },
            }
            for name, target in self.targets.items()
        }
        return {"quality": self.values, "time_to_target": time_to_target}

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replay a checkpointed history under this tracker's directions and targets."""
        self.values, self.reached, self.history = {}, {}, []
        for record in state.get("history", []):
            self.update(record["values"], record["at"])


def _better(value: float, than: float, direction: Direction) -> bool:
    return value < than if direction == "min" else value > than
