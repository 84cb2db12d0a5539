"""Building blocks: SAGAN self-attention, (depthwise-separable) convolutions, norms."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["batch", "instance", "none"]
ConvType = Literal["standard", "separable"]


def maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a layer's weight in spectral normalisation (one power iteration per forward)."""
    return spectral_norm(layer) if enabled else layer


def fold_spectral_norm(module: nn.Module) -> int:
    """Replace every spectral-norm parametrisation in ``module`` by the weight it gives now
    (W / sigma from the stored power-iteration vectors), as a deployed generator would
    carry it; returns how many were folded. Call in eval mode: in training mode reading
    the weight would run one more power iteration."""
    if module.training:
        raise ValueError("fold_spectral_norm: put the module in eval mode first")
    folded = 0
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
            folded += 1
    return folded


def spectral_vectors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every spectral-norm power-iteration vector in ``module`` by name, in module order:
    torch's parametrisation's ``_u`` and ``_v`` buffers, and the older
    ``torch.nn.utils.spectral_norm``'s ``weight_u`` and ``weight_v`` (beside
    ``weight_orig``)."""
    found = []
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        if type(sub).__name__ == "_SpectralNorm":
            found += [(f"{prefix}{b}", getattr(sub, b)) for b in ("_u", "_v")]
        for key in list(sub._buffers):
            base = key[:-2]
            if key.endswith(("_u", "_v")) and f"{base}_orig" in sub._parameters:
                found.append((f"{prefix}{key}", sub._buffers[key]))
    return found


def norm2d(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def conv(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    pad: int,
    *,
    transposed: bool,
    sn: bool,
    kind: ConvType = "standard",
    bias: bool = True,
) -> nn.Module:
    """A (transposed) convolution; ``separable`` = depthwise k x k then pointwise 1 x 1."""
    layer_cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    if kind == "standard":
        return maybe_sn(layer_cls(c_in, c_out, kernel, stride, pad, bias=bias), sn)
    depthwise = layer_cls(c_in, c_in, kernel, stride, pad, groups=c_in, bias=False)
    pointwise = nn.Conv2d(c_in, c_out, 1, bias=bias)
    return nn.Sequential(maybe_sn(depthwise, sn), maybe_sn(pointwise, sn))


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + gamma * attention(x), gamma starts at 0.

    Query and key project to C/8 channels; the energy q.k is not scaled, as in SAGAN and
    the SVRE reference code the thesis used.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # B x N x C'
        k = self.key(x).flatten(2)  # B x C' x N
        attention = torch.softmax(torch.bmm(q, k), dim=-1)  # B x N x N, rows sum to 1
        v = self.value(x).flatten(2)  # B x C x N
        out = torch.bmm(v, attention.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out
