"""DCGAN (Radford et al. 2016): batch norm in both players, no attention, N(0, 0.02) init."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from ganbench.models.base import MODELS, ModelFamily
from ganbench.models.blocks import Norm
from ganbench.models.convnet import (
    ConvDiscriminator,
    ConvGANConfig,
    ConvGenerator,
    check_conv_shape,
)


class DCGANConfig(ConvGANConfig):
    name: Literal["dcgan"] = "dcgan"
    d_norm: Norm = "batch"
    g_spectral_norm: bool = False
    d_spectral_norm: bool = False
    g_attention: list[int] | None = Field(default_factory=list)
    d_attention: list[int] | None = Field(default_factory=list)
    d_leaky_slope: float = Field(0.2, ge=0, lt=1)
    init_std: float | None = Field(0.02, gt=0, description="N(0, std) weights; null: PyTorch's")


def dcgan_init(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and not hasattr(m, "parametrizations"):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


@MODELS.register("dcgan")
class DCGAN(ModelFamily):
    Config = DCGANConfig

    @classmethod
    def check(cls, cfg: DCGANConfig, shape: tuple[int, ...]) -> None:
        check_conv_shape(cfg, shape)

    @classmethod
    def build(cls, cfg: DCGANConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        g, d = ConvGenerator(cfg, shape), ConvDiscriminator(cfg, shape)
        if cfg.init_std is not None:
            dcgan_init(g, cfg.init_std)
            dcgan_init(d, cfg.init_std)
        return g, d
