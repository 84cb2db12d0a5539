"""What every quality metric provides, and the generated samples they share per evaluation.

A metric is a registry entry with a config (``evaluation.metrics`` in a suite), a cheap
``check`` that runs before any training (missing weights, a dataset it cannot score),
and ``prepare``, which builds a :class:`Scorer` once per run: feature extractors, cached
reference statistics. Every value a scorer returns goes out with its protocol (number of
samples, reference split and size, feature extractor, weights hash ...), because values
measured under different protocols are different numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from ganbench.data import DATASETS, DatasetConfig
from ganbench.errors import UserError
from ganbench.registry import Registry, Section

# Which way a value improves; None for a spread that is reported but never a target.
Direction = Literal["min", "max"]


class MetricConfig(Section):
    name: str
    num_samples: PositiveInt = Field(
        10_000, description="generated samples scored per evaluation (from fixed noise)"
    )


@dataclass
class Samples:
    """One evaluation's generated samples: uint8 images (N, C, H, W) on the CPU, quantised
    like saved images and like the reference data, or float points (N, D).

    Scorers that use the same feature extractor on the same samples share one pass
    through :meth:`features`.
    """

    values: torch.Tensor
    kind: Literal["image", "points"]
    _features: dict[tuple[str, int], Any] = field(default_factory=dict)

    def first(self, n: int) -> torch.Tensor:
        return self.values[:n]

    def features(self, extractor: str, n: int, compute: Callable[[torch.Tensor], Any]) -> Any:
        key = (extractor, n)
        if key not in self._features:
            self._features[key] = compute(self.first(n))
        return self._features[key]


class Scorer:
    """A prepared metric for one run: ``score`` turns samples into named values.

    ``protocol`` is recorded with every value; ``setup`` says what preparing it cost and
    which caches it hit.
    """

    protocol: dict[str, Any]
    setup: dict[str, Any]

    def score(self, samples: Samples) -> dict[str, float | None]:
        raise NotImplementedError

    def notes(self) -> dict[str, Any]:
        """Per-evaluation protocol details (e.g. the matrix square root actually used)."""
        return {}


class Metric:
    """A registry entry: one named quality metric."""

    Config: ClassVar[type[MetricConfig]]
    values: ClassVar[dict[str, Direction | None]]
    kinds: ClassVar[tuple[str, ...]] = ("image",)  # data kinds it can score
    # Keeps the reference's features (KID): prepared before the metrics that keep only
    # their mean and covariance, so one pass over the reference serves both.
    keeps_reference_features: ClassVar[bool] = False

    @classmethod
    def check(cls, cfg: MetricConfig, dataset: DatasetConfig) -> None:
        """Raise UserError, naming the field and the fix, when it cannot run (cheap)."""
        source = DATASETS.get(dataset.name)
        if source.kind not in cls.kinds:
            raise UserError(
                f"evaluation.metrics: {cfg.name} scores {' or '.join(cls.kinds)} data, but "
                f"dataset {dataset.name} is {source.kind} data "
                f"(choose: {', '.join(names_for(source.kind))})"
            )

    @classmethod
    def check_values(cls, cfg: MetricConfig, dataset: DatasetConfig) -> None:
        """Raise UserError where its values would mean nothing (random pixels); a timing
        of the metric (`selftest metric-time`) runs there all the same."""
        if dataset.name == "synthetic":
            raise UserError(
                f"evaluation.metrics: {cfg.name} on dataset synthetic (random pixels) measures "
                "nothing; synthetic data is for speed runs only: drop the metric or use a real "
                "dataset"
            )

    @classmethod
    def prepare(cls, cfg: MetricConfig, dataset: DatasetConfig, device: torch.device) -> Scorer:
        raise NotImplementedError


METRICS: Registry[type[Metric]] = Registry("metric")


def names_for(kind: str) -> list[str]:
    return [name for name in METRICS.names() if kind in METRICS.get(name).kinds]


def directions() -> dict[str, Direction | None]:
    """Every value name any metric reports, with its direction."""
    return {value: d for entry in METRICS.values() for value, d in entry.values.items()}
