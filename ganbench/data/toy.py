"""Generated datasets: 2-D Gaussian mixtures (mode collapse) and random tensors (speed only)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, PositiveInt, model_validator

from ganbench.data.base import DATASETS, Data, DatasetConfig, DataSource


class GaussianMixtureConfig(DatasetConfig):
    name: Literal["gaussian-mixture"] = "gaussian-mixture"
    layout: Literal["ring", "grid"] = "ring"
    modes: PositiveInt | None = Field(None, description="ring: 8, grid: 25 (must be a square)")
    radius: float = Field(2.0, gt=0, description="ring radius")
    spacing: float = Field(2.0, gt=0, description="grid spacing between neighbouring modes")
    std: float = Field(0.02, gt=0, description="standard deviation of each mode")
    num_samples: PositiveInt = 10_000

    @model_validator(mode="after")
    def _square_grid(self) -> GaussianMixtureConfig:
        if (
            self.layout == "grid"
            and self.modes is not None
            and math.isqrt(self.modes) ** 2 != (self.modes)
        ):
            raise ValueError(f"modes: a grid needs a square number of modes, got {self.modes}")
        return self

    @property
    def num_modes(self) -> int:
        return self.modes or (8 if self.layout == "ring" else 25)


def mixture_centres(cfg: GaussianMixtureConfig) -> torch.Tensor:
    """(modes, 2) centres: evenly on a circle, or a centred square grid."""
    k = cfg.num_modes
    if cfg.layout == "ring":
        angle = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
        return (cfg.radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()
    side = math.isqrt(k)
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * cfg.spacing
    return torch.cartesian_prod(axis, axis)


@DATASETS.register("gaussian-mixture")
class GaussianMixture(DataSource):
    """Equal-weight mixture of isotropic 2-D Gaussians on a ring or a grid."""

    Config = GaussianMixtureConfig
    kind = "points"

    @classmethod
    def sample_shape(cls, cfg: GaussianMixtureConfig) -> tuple[int, ...]:
        return (2,)

    @classmethod
    def num_examples(cls, cfg: GaussianMixtureConfig) -> int:
        return min(cfg.num_samples, cfg.subset or cfg.num_samples)

    @classmethod
    def load(cls, cfg: GaussianMixtureConfig) -> Data:
        gen = torch.Generator().manual_seed(cfg.subset_seed)
        centres = mixture_centres(cfg)
        n = cls.num_examples(cfg)
        which = torch.randint(len(centres), (n,), generator=gen)
        points = centres[which] + cfg.std * torch.randn(n, 2, generator=gen)
        return Data(points, "points")


class SyntheticConfig(DatasetConfig):
    name: Literal["synthetic"] = "synthetic"
    num_samples: PositiveInt = 10_000
    image_size: int = Field(32, ge=4, le=1024)
    channels: Literal[1, 3] = 3


@DATASETS.register("synthetic")
class Synthetic(DataSource):
    """Uniform random uint8 images: valid for speed benchmarks, never for quality."""

    Config = SyntheticConfig

    @classmethod
    def sample_shape(cls, cfg: SyntheticConfig) -> tuple[int, ...]:
        return (cfg.channels, cfg.image_size, cfg.image_size)

    @classmethod
    def num_examples(cls, cfg: SyntheticConfig) -> int:
        return min(cfg.num_samples, cfg.subset or cfg.num_samples)

    @classmethod
    def load(cls, cfg: SyntheticConfig) -> Data:
        gen = torch.Generator().manual_seed(cfg.subset_seed)
        n = cls.num_examples(cfg)
        shape = (n, *cls.sample_shape(cfg))
        return Data(torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8), "image")
