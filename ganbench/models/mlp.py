"""Fully connected GAN (Goodfellow et al. 2014), for 2-D mixtures and small images."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from ganbench.models.base import MODELS, FamilyConfig, ModelFamily
from ganbench.models.blocks import maybe_sn
from ganbench.models.minibatch import flat_head


class MLPConfig(FamilyConfig):
    name: Literal["mlp"] = "mlp"
    hidden: PositiveInt = Field(128, description="units per hidden layer (times width)")
    depth: int = Field(2, ge=1, le=16, description="hidden layers per network")
    g_norm: Literal["batch", "none"] = "none"
    g_spectral_norm: bool = False
    d_spectral_norm: bool = False


class MLPGenerator(nn.Module):
    def __init__(self, cfg: MLPConfig, shape: tuple[int, ...], bounded: bool) -> None:
        super().__init__()
        hidden, layers = max(1, round(cfg.hidden * cfg.width)), []
        width_in = cfg.latent_dim
        for _ in range(cfg.depth):
            layers.append(maybe_sn(nn.Linear(width_in, hidden), cfg.g_spectral_norm))
            layers += [nn.BatchNorm1d(hidden) if cfg.g_norm == "batch" else nn.Identity()]
            layers.append(nn.ReLU())
            width_in = hidden
        layers.append(nn.Linear(width_in, math.prod(shape)))
        if bounded:
            layers.append(nn.Tanh())
        self.shape, self.latent_dim = shape, cfg.latent_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: MLPConfig, shape: tuple[int, ...]) -> None:
        super().__init__()
        hidden, layers = max(1, round(cfg.hidden * cfg.width)), []
        width_in = math.prod(shape)
        for _ in range(cfg.depth):
            layers += [maybe_sn(nn.Linear(width_in, hidden), cfg.d_spectral_norm)]
            layers.append(nn.LeakyReLU(0.2))
            width_in = hidden
        layers += flat_head(cfg, width_in)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(x.shape[0])


@MODELS.register("mlp")
class MLP(ModelFamily):
    Config = MLPConfig

    @classmethod
    def build(cls, cfg: MLPConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        # Images live in [-1, 1] (tanh output); 2-D points are unbounded.
        bounded = len(shape) == 3
        return MLPGenerator(cfg, shape, bounded), MLPDiscriminator(cfg, shape)
