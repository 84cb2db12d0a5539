"""Discriminator features computed across the mini-batch, against mode collapse (seed 002):
the minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs") and
minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs").

Both sit before D's last layer and see the batch D is called on: one process's shard
under ddp, one micro-batch under accumulation (as batch norm does). Their element-wise
work is not counted as FLOPs (the MFU convention); minibatch discrimination's projection
is a matmul and is counted.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.base import FamilyConfig
from ganbench.models.blocks import ConvType, conv


class MinibatchStd(nn.Module):
    """Appends one feature: the standard deviation of each feature over a group of
    examples, averaged over features (and pixels), the same for every group member.

    Groups take every (n/g)-th example, as in StyleGAN2's layer; a batch the group size
    does not divide forms one group (an SVRE full pass's last chunk)."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, rest = x.shape[0], x.shape[1:]
        g = min(self.group, n)
        g = g if n % g == 0 else n
        y = x.reshape(g, n // g, *rest).float()  # example i is in group i mod n/g
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [n/g, *rest]
        feature = std.flatten(1).mean(dim=1).to(x.dtype)  # [n/g]
        feature = feature.reshape(n // g, *([1] * len(rest))).repeat(g, 1, *rest[1:])
        return torch.cat([x, feature], dim=1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. sec. 3.2: features f (n x A) times a tensor T (A x B x C) give
    M_i (B x C); o(x_i)_b = sum_j exp(-||M_i,b - M_j,b||_1) over the whole batch (j = i
    included, as the paper writes it); the output is [f, o] (n x (A + B))."""

    def __init__(self, features: int, kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(features, kernels * kernel_dim) * 0.05)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)  # [n, B, C]
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # [n, n, B]
        return torch.cat([f, torch.exp(-l1).sum(dim=0)], dim=1)

    def extra_repr(self) -> str:
        return f"features={self.T.shape[0]}, kernels={self.kernels}, dim={self.kernel_dim}"


def conv_head(cfg: FamilyConfig, channels: int, size: int, kind: ConvType) -> list[nn.Module]:
    """D's last layers on a ``channels`` x ``size`` x ``size`` map: the minibatch stddev
    channel if asked, then a ``size`` x ``size`` convolution to one output (without
    spectral norm), or with minibatch discrimination the map flattened, discriminated and
    a linear output."""
    layers: list[nn.Module] = []
    if cfg.d_minibatch_std:
        layers.append(MinibatchStd(cfg.d_minibatch_std))
        channels += 1
    if not cfg.d_minibatch_kernels:
        last = conv(channels, 1, size, 1, 0, transposed=False, sn=False, kind=kind)
        return [*layers, last]
    return [*layers, nn.Flatten(), *flat_head(cfg, channels * size * size, std=False)]


def flat_head(cfg: FamilyConfig, features: int, std: bool = True) -> list[nn.Module]:
    """D's last layers on ``features`` flat inputs: the minibatch stddev feature and
    minibatch discrimination as asked, then a linear output."""
    layers: list[nn.Module] = []
    if std and cfg.d_minibatch_std:
        layers.append(MinibatchStd(cfg.d_minibatch_std))
        features += 1
    if cfg.d_minibatch_kernels:
        kernels = cfg.d_minibatch_kernels
        layers.append(MinibatchDiscrimination(features, kernels, cfg.d_minibatch_kernel_dim))
        features += kernels
    return [*layers, nn.Linear(features, 1)]
