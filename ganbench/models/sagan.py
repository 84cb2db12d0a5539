"""SAGAN as in the thesis' Table 3.1 (after Chavdarova et al.'s SVRE setup)."""

from __future__ import annotations

from typing import Literal

from torch import nn

from ganbench.models.base import MODELS, ModelFamily
from ganbench.models.convnet import (
    ConvDiscriminator,
    ConvGANConfig,
    ConvGenerator,
    check_conv_shape,
)


class SAGANConfig(ConvGANConfig):
    """Defaults give Table 3.1: spectral norm in G and D, batch norm in G, attention
    after G's 8x8 (128 ch) and 16x16 (64 ch) stages and D's 4x4 (256 ch) stage,
    LeakyReLU 0.1 in D, z in R^128."""

    name: Literal["sagan"] = "sagan"


@MODELS.register("sagan")
class SAGAN(ModelFamily):
    Config = SAGANConfig

    @classmethod
    def check(cls, cfg: SAGANConfig, shape: tuple[int, ...]) -> None:
        check_conv_shape(cfg, shape)

    @classmethod
    def build(cls, cfg: SAGANConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        return ConvGenerator(cfg, shape), ConvDiscriminator(cfg, shape)
