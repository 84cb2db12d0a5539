"""What every dataset provides: a config, an availability check and an in-memory tensor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from ganbench.registry import Registry, Section


class DatasetConfig(Section):
    name: str
    subset: PositiveInt | None = Field(
        None, description="use this many examples, a fixed seeded choice (null: all)"
    )
    subset_seed: int = Field(0, description="seed of the subset choice, shared by all runs")


@dataclass(frozen=True)
class Data:
    """A whole dataset in memory: uint8 images (N, C, H, W) or float points (N, D), and
    int64 class labels (N,) for the labelled datasets."""

    values: torch.Tensor
    kind: Literal["image", "points"]
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[1:])

    def batch(self, indices: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Gather examples, move them to ``device`` and scale images to [-1, 1] (values
        already on the GPU, ``levers.data_on_device``, are gathered there)."""
        indices = indices.to(self.values.device, non_blocking=True)
        x = self.values.index_select(0, indices).to(device, non_blocking=True)
        if self.kind == "image":
            return x.float().div_(127.5).sub_(1.0)
        return x.float()


class DataSource:
    """A registry entry: one named dataset."""

    Config: ClassVar[type[DatasetConfig]]
    kind: ClassVar[Literal["image", "points"]] = "image"
    labelled: ClassVar[bool] = False  # loads class labels (the offline classifier needs them)

    @classmethod
    def sample_shape(cls, cfg: DatasetConfig) -> tuple[int, ...]:
        """Shape of one example as the model sees it, known without loading the data."""
        raise NotImplementedError

    @classmethod
    def num_examples(cls, cfg: DatasetConfig) -> int | None:
        """How many examples a run will see (after the subset), if known without loading."""
        return None

    @classmethod
    def cache_identity(cls, cfg: DatasetConfig) -> dict[str, str]:
        """What, beyond the name and pixel format, tells this dataset's examples apart in
        the shared metric caches (a named dataset is the same files wherever it lies)."""
        return {}

    @classmethod
    def check(cls, cfg: DatasetConfig) -> None:
        """Raise UserError naming what is missing and how to provide it (cheap, no loading)."""

    @classmethod
    def load(cls, cfg: DatasetConfig) -> Data:
        raise NotImplementedError


DATASETS: Registry[type[DataSource]] = Registry("dataset")


def choose_subset(n: int, cfg: DatasetConfig) -> torch.Tensor | None:
    """Indices of the configured subset (sorted), or None for the whole dataset."""
    if cfg.subset is None or cfg.subset >= n:
        return None
    gen = torch.Generator().manual_seed(cfg.subset_seed)
    return torch.randperm(n, generator=gen)[: cfg.subset].sort().values
