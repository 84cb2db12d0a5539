"""One builder for convolutional GANs; `dcgan` and `sagan` are two sets of defaults for it.

Layout for an S x S image with base width W (64 x width): the generator maps z to 4x4
and doubles the resolution per stage; the feature map at resolution r has
W * S / (2r) channels (for S=32: 256 at 4x4, 128 at 8x8, 64 at 16x16), the discriminator
mirrors it. With the SAGAN defaults this is exactly the thesis' Table 3.1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from pydantic import Field, model_validator
from torch import nn

from ganbench.models.base import FamilyConfig
from ganbench.models.blocks import ConvType, Norm, SelfAttention, conv, norm2d
from ganbench.models.minibatch import conv_head


class ConvGANConfig(FamilyConfig):
    g_norm: Norm = "batch"
    d_norm: Norm = "none"
    g_spectral_norm: bool = True
    d_spectral_norm: bool = True
    g_attention: list[int] | None = Field(
        None, description="resolutions (px) after which G has self-attention; null: S/4, S/2"
    )
    d_attention: list[int] | None = Field(
        None, description="resolutions (px) after which D has self-attention; null: 4"
    )
    conv: ConvType = "standard"
    extra_layers: int = Field(0, ge=0, le=8, description="extra 3x3 conv layers per stage")
    d_leaky_slope: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _unique_attention(self) -> ConvGANConfig:
        for name in ("g_attention", "d_attention"):
            values = getattr(self, name)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"{name}: resolutions repeat: {values}")
        return self


def base_width(cfg: ConvGANConfig) -> int:
    """Channels of the last G stage / first D stage: 64 (Table 3.1) times the width knob."""
    return max(1, round(64 * cfg.width))


def stage_channels(base: int, size: int, resolution: int) -> int:
    return max(1, base * size // (2 * resolution))


def attention_at(cfg: ConvGANConfig, size: int) -> tuple[set[int], set[int]]:
    g = cfg.g_attention if cfg.g_attention is not None else [size // 4, size // 2]
    d = cfg.d_attention if cfg.d_attention is not None else [4]
    return set(g), set(d)


def check_conv_shape(cfg: ConvGANConfig, shape: Sequence[int]) -> None:
    if len(shape) != 3:
        raise ValueError(f"{cfg.name} needs images (C, H, W), the dataset gives {tuple(shape)}")
    _, h, w = shape
    if h != w or h < 8 or 2 ** round(math.log2(h)) != h:
        raise ValueError(f"{cfg.name} needs square images of 8, 16, 32, 64 ... px, got {h}x{w}")
    hidden = {2**k for k in range(2, int(math.log2(h)))}  # 4 .. S/2
    g_attn, d_attn = attention_at(cfg, h)
    for field, chosen in (("g_attention", g_attn), ("d_attention", d_attn)):
        if not chosen <= hidden:
            raise ValueError(
                f"{field}: {sorted(chosen - hidden)} not among this model's resolutions "
                f"{sorted(hidden)} for {h}x{h} images"
            )


def _extra(c: int, cfg: ConvGANConfig, norm: Norm, sn: bool, act: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(cfg.extra_layers):
        layers += [conv(c, c, 3, 1, 1, transposed=False, sn=sn, kind=cfg.conv), norm2d(norm, c)]
        layers.append(act)
    return layers


class ConvGenerator(nn.Module):
    def __init__(self, cfg: ConvGANConfig, shape: Sequence[int]) -> None:
        super().__init__()
        channels, size = shape[0], shape[1]
        base, (attn, _) = base_width(cfg), attention_at(cfg, size)
        sn, c = cfg.g_spectral_norm, stage_channels(base, size, 4)
        layers: list[nn.Module] = [
            conv(cfg.latent_dim, c, 4, 1, 0, transposed=True, sn=sn, kind=cfg.conv),
            norm2d(cfg.g_norm, c),
            nn.ReLU(),
        ]
        r = 4
        while True:
            if r in attn:
                layers.append(SelfAttention(c))
            layers += _extra(c, cfg, cfg.g_norm, sn, nn.ReLU())
            if 2 * r == size:
                break
            c_next = stage_channels(base, size, 2 * r)
            layers += [conv(c, c_next, 4, 2, 1, transposed=True, sn=sn, kind=cfg.conv)]
            layers += [norm2d(cfg.g_norm, c_next), nn.ReLU()]
            c, r = c_next, 2 * r
        # Table 3.1: the output layer has neither spectral nor batch norm.
        layers += [conv(c, channels, 4, 2, 1, transposed=True, sn=False, kind=cfg.conv), nn.Tanh()]
        self.latent_dim = cfg.latent_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class ConvDiscriminator(nn.Module):
    def __init__(self, cfg: ConvGANConfig, shape: Sequence[int]) -> None:
        super().__init__()
        channels, size = shape[0], shape[1]
        base, (_, attn) = base_width(cfg), attention_at(cfg, size)
        sn, r = cfg.d_spectral_norm, size // 2
        c = stage_channels(base, size, r)
        # The first layer is never normalised (DCGAN, Table 3.1).
        layers: list[nn.Module] = [
            conv(channels, c, 4, 2, 1, transposed=False, sn=sn, kind=cfg.conv),
            nn.LeakyReLU(cfg.d_leaky_slope),
        ]
        while True:
            if r in attn:
                layers.append(SelfAttention(c))
            layers += _extra(c, cfg, cfg.d_norm, sn, nn.LeakyReLU(cfg.d_leaky_slope))
            if r == 4:
                break
            c_next = stage_channels(base, size, r // 2)
            layers += [conv(c, c_next, 4, 2, 1, transposed=False, sn=sn, kind=cfg.conv)]
            layers += [norm2d(cfg.d_norm, c_next), nn.LeakyReLU(cfg.d_leaky_slope)]
            c, r = c_next, r // 2
        layers += conv_head(
            cfg, c, 4, cfg.conv
        )  # Table 3.1's last 4x4 convolution, no spectral norm
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])
