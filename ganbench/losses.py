"""GAN losses: non-saturating BCE, hinge (thesis eq. 3.3/3.4) and WGAN-GP.

Every loss works on raw discriminator outputs (logits or critic values), one per example.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ganbench.registry import Registry, Section


class LossConfig(Section):
    name: str


class GANLoss:
    """Registry entry: the two players' objectives, both minimised."""

    Config: ClassVar[type[LossConfig]]
    double_backward: ClassVar[bool] = False  # the penalty differentiates through D twice

    def __init__(self, cfg: LossConfig) -> None:
        self.cfg = cfg

    def discriminator(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator(self, d_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(
        self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor | None:
        """Extra discriminator term computed from the inputs (None: no penalty). ``scale``
        is D's fp16 loss scale: an inner gradient is taken of the scaled output and
        unscaled, so it does not underflow in fp16 (PyTorch's AMP recipe)."""
        return None


LOSSES: Registry[type[GANLoss]] = Registry("loss")


class BCEConfig(LossConfig):
    name: Literal["bce"] = "bce"


@LOSSES.register("bce")
class NonSaturatingBCE(GANLoss):
    """D: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))); G: -log sigmoid(D(G(z)))."""

    Config = BCEConfig

    def discriminator(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def generator(self, d_fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-d_fake).mean()


class HingeConfig(LossConfig):
    name: Literal["hinge"] = "hinge"


@LOSSES.register("hinge")
class Hinge(GANLoss):
    """Thesis eq. 3.3: E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))); eq. 3.4: -E D(G(z))."""

    Config = HingeConfig

    def discriminator(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()

    def generator(self, d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean()


class WGANGPConfig(LossConfig):
    name: Literal["wgan-gp"] = "wgan-gp"
    gp_lambda: float = Field(10.0, ge=0, description="weight of the gradient penalty")


@LOSSES.register("wgan-gp")
class WGANGP(GANLoss):
    """Wasserstein critic with gradient penalty (Gulrajani et al. 2017)."""

    Config = WGANGPConfig
    cfg: WGANGPConfig
    double_backward = True

    def discriminator(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return d_fake.mean() - d_real.mean()

    def generator(self, d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean()

    def penalty(
        self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """lambda * E (||grad_x D(x_hat)||_2 - 1)^2 on random interpolates x_hat."""
        shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
        x_hat = alpha * real + (1 - alpha) * fake.detach().to(real.dtype)
        x_hat = x_hat.requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum() * scale, x_hat, create_graph=True)
        grad = grad.float() / scale
        return self.cfg.gp_lambda * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
