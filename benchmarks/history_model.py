"""The networks of benchmarks/history_changepoint.py: a small DCGAN-like pair for 16x16
one-channel images, standing for a user's model code at some commit.

``HISTORY_MODEL_EXTRA`` (an environment variable, default 0) is the "code change": that
many extra 3x3 convolutions (with a ReLU) at the generator's 8x8 stage. It lives in the
code, not in the suite's configuration, so the configuration identity (and the history's
series) stays the same while the training gets slower, as after a commit that made a
network heavier.
"""

from __future__ import annotations

import os

import torch
from torch import nn

EXTRA = "HISTORY_MODEL_EXTRA"


def extra_layers() -> int:
    return int(os.environ.get(EXTRA, "0") or 0)


class Generator(nn.Module):
    """(n, latent) noise -> (n, 1, 16, 16) images in [-1, 1]."""

    def __init__(self, latent: int = 64, width: int = 32) -> None:
        super().__init__()
        self.width = width
        self.head = nn.Linear(latent, 2 * width * 16)
        stage8 = [
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, width, 3, padding=1),
        ]
        for _ in range(extra_layers()):
            stage8 += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)]
        self.body = nn.Sequential(
            *stage8,
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(z.shape[0], 2 * self.width, 4, 4)
        return self.body(h)


class Discriminator(nn.Module):
    """(n, 1, 16, 16) images -> (n,) scores."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 4, stride=2, padding=1),  # 8x8
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 4x4
            nn.LeakyReLU(0.1),
        )
        self.out = nn.Linear(2 * width * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x).flatten(1)).squeeze(1)
