"""Bring uint8 image tensors to the model's channels and size."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Fit = Literal["auto", "pad", "resize"]

# BT.601 luma weights, the usual RGB to grey conversion.
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) uint8 with C in {1, 3} to ``channels`` channels."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        grey = (images.float() * _LUMA).sum(dim=1, keepdim=True)
        return grey.round_().clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def resolve_fit(fit: Fit, h: int, w: int, size: int) -> Literal["none", "pad", "resize"]:
    """What ``fit`` does to h x w images: auto pads when the border stays small (pixels
    intact) and resizes otherwise."""
    if (h, w) == (size, size):
        return "none"
    if fit == "auto":
        return "pad" if max(h, w) <= size <= 1.25 * max(h, w) else "resize"
    return fit


def fit_size(images: torch.Tensor, size: int, fit: Fit, chunk: int = 4096) -> torch.Tensor:
    """Pad (centred) or resize (antialiased, aspect kept then centre crop) to size x size."""
    h, w = images.shape[-2:]
    fit = resolve_fit(fit, h, w, size)
    if fit == "none":
        return images
    if fit == "pad":
        if h > size or w > size:
            raise ValueError(f"cannot pad {h}x{w} images to {size}x{size}: use fit: resize")
        top, left = (size - h) // 2, (size - w) // 2
        return F.pad(images, (left, size - w - left, top, size - h - top), value=0)
    parts = [_resize(images[i : i + chunk], size) for i in range(0, images.shape[0], chunk)]
    return torch.cat(parts)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(images.float(), size=(new_h, new_w), mode="bilinear", antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[..., top : top + size, left : left + size]
    return x.round_().clamp_(0, 255).to(torch.uint8)
