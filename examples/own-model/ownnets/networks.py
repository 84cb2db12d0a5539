"""The networks: nothing here knows about ganbench.

``ResNetGenerator``: noise (n, latent) -> a linear layer to a 4x4 map, then residual
up-sampling blocks (BatchNorm, ReLU, nearest 2x, 3x3 convolutions, a 1x1 skip), then
BatchNorm, ReLU, a 3x3 convolution and tanh. ``SNDiscriminator``: residual down-sampling
blocks with spectral norm on every weight (torch's parametrization), global sum pooling
and a linear layer to one value per image (as in the SN-GAN and BigGAN papers).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        h = nn.functional.interpolate(torch.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(torch.relu(self.bn2(self.conv1(h))))
        return h + self.skip(up)


class ResNetGenerator(nn.Module):
    """(n, latent) noise -> (n, channels, 4 * 2**blocks, same) images in [-1, 1]."""

    def __init__(self, latent: int = 64, width: int = 64, blocks: int = 3, channels: int = 1):
        super().__init__()
        self.width = width
        self.head = nn.Linear(latent, width * 16)
        self.blocks = nn.Sequential(*(UpBlock(width, width) for _ in range(blocks)))
        self.out = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(z.shape[0], self.width, 4, 4)
        return self.out(self.blocks(h))


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else torch.relu(x)
        h = self.conv2(torch.relu(self.conv1(h)))
        return nn.functional.avg_pool2d(h, 2) + self.skip(nn.functional.avg_pool2d(x, 2))


class SNDiscriminator(nn.Module):
    """(n, channels, H, W) images -> (n, 1) scores."""

    def __init__(self, width: int = 64, blocks: int = 3, channels: int = 1) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            DownBlock(channels, width, first=True),
            *(DownBlock(width, width) for _ in range(blocks - 1)),
        )
        self.out = spectral_norm(nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.out(h)
