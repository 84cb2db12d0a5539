"""Model registry and the fields every model family shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field, PositiveInt
from torch import nn

from ganbench.registry import Registry, Section


def as_noise_shape(latent: int | Sequence[int]) -> tuple[int, ...]:
    """The shape of one example's noise: ``(latent_dim,)`` for an int."""
    return (latent,) if isinstance(latent, int) else tuple(latent)


class ModelConfig(Section):
    name: str
    latent_dim: PositiveInt = Field(128, description="size of the noise vector z ~ N(0, I)")

    def noise_shape(self) -> tuple[int, ...]:
        """One example's noise shape (a batch of noise is ``(n, *noise_shape())``)."""
        return (self.latent_dim,)


class FamilyConfig(ModelConfig):
    """The fields the built-in families share."""

    width: float = Field(1.0, gt=0, le=16, description="multiplier on every layer's width")
    d_minibatch_std: int = Field(
        0, ge=0, le=64, description="group size of D's minibatch stddev feature (0: off; ProGAN 4)"
    )
    d_minibatch_kernels: int = Field(
        0, ge=0, le=1024, description="D's minibatch discrimination kernels B (0: off; 100)"
    )
    d_minibatch_kernel_dim: int = Field(
        5, ge=1, le=256, description="minibatch discrimination kernel dimension C"
    )


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
