"""Model registry and the fields every model family shares."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, PositiveInt
from torch import nn

from ganbench.registry import Registry, Section


class ModelConfig(Section):
    name: str
    latent_dim: PositiveInt = Field(128, description="size of the noise vector z ~ N(0, I)")
    width: float = Field(1.0, gt=0, le=16, description="multiplier on every layer's width")


class ModelFamily:
    """A registry entry: builds a generator and a discriminator for a data shape."""

    Config: ClassVar[type[ModelConfig]]

    @classmethod
    def check(cls, cfg: ModelConfig, shape: tuple[int, ...]) -> None:
        """Raise ValueError when this model cannot handle examples of ``shape``."""

    @classmethod
    def build(cls, cfg: ModelConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError


MODELS: Registry[type[ModelFamily]] = Registry("model")
