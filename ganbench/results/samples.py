"""Render fixed-noise samples: an image grid, or a 2-D density picture for point data."""

from __future__ import annotations

from pathlib import Path

import torch


def save_samples(samples: torch.Tensor, real: torch.Tensor, path: Path) -> None:
    """Images in [-1, 1] as a grid; 2-D points as real (red) vs generated (green) density."""
    # Imported here: torchvision's package import (models, ops, torch._dynamo) costs
    # 1.5 s of CPU, paid by every process that imports the training code otherwise.
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    samples = samples.detach().float().cpu()
    if samples.dim() == 4:
        nrow = max(1, int(samples.shape[0] ** 0.5))
        save_image(samples, str(path), nrow=nrow, normalize=True, value_range=(-1, 1))
        return
    save_image(point_density_image(real.float().cpu(), samples), str(path))


def point_density_image(real: torch.Tensor, fake: torch.Tensor, size: int = 256) -> torch.Tensor:
    """(3, size, size) picture of two 2-D point clouds on a shared square frame."""
    both = torch.cat([real, fake])
    centre = (both.amax(0) + both.amin(0)) / 2
    half = (both.amax(0) - both.amin(0)).max().clamp_min(1e-6) / 2 * 1.1
    image = torch.zeros(3, size, size)
    for channel, points in ((0, real), (1, fake)):
        pixels = ((points - centre) / half * 0.5 + 0.5) * (size - 1)
        pixels = pixels.round().long().clamp(0, size - 1)
        counts = torch.zeros(size * size)
        counts.index_add_(
            0, (size - 1 - pixels[:, 1]) * size + pixels[:, 0], torch.ones(len(pixels))
        )
        image[channel] = (counts / counts.max().clamp_min(1)).sqrt().view(size, size)
    return image
