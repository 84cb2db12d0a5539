"""Losses against hand-computed values and the gradient penalty's closed form."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.losses import LOSSES


def make(name: str, **cfg):
    cls = LOSSES.get(name)
    return cls(cls.Config(**cfg))


def test_hinge_is_thesis_eq_3_3_and_3_4() -> None:
    loss = make("hinge")
    d_real, d_fake = torch.tensor([2.0, 0.0, 0.5]), torch.tensor([-2.0, 0.0, 0.5])
    # eq. 3.3: mean(max(0, 1 - D(x))) + mean(max(0, 1 + D(G(z))))
    assert loss.discriminator(d_real, d_fake).item() == pytest.approx(
        (0 + 1 + 0.5) / 3 + (0 + 1 + 1.5) / 3
    )
    assert loss.generator(d_fake).item() == pytest.approx(-(-2.0 + 0.0 + 0.5) / 3)  # eq. 3.4


def test_bce_is_the_non_saturating_gan_loss() -> None:
    loss = make("bce")
    d_real, d_fake = torch.tensor([1.5, -0.3]), torch.tensor([0.2, -2.0])
    want_d = F.binary_cross_entropy_with_logits(
        d_real, torch.ones(2)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(2))
    assert loss.discriminator(d_real, d_fake).item() == pytest.approx(want_d.item())
    want_g = -torch.log(torch.sigmoid(d_fake)).mean()
    assert loss.generator(d_fake).item() == pytest.approx(want_g.item())
    assert loss.discriminator(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(
        2 * math.log(2)
    )


def test_wgan_gp_penalty_of_a_linear_critic_is_closed_form() -> None:
    """D(x) = w.x has gradient w everywhere: penalty = lambda * (||w|| - 1)^2."""
    critic = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))  # ||w|| = 5
    loss = make("wgan-gp", gp_lambda=2.0)
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    assert loss.penalty(lambda x: critic(x).squeeze(1), real, fake).item() == pytest.approx(32.0)
    assert loss.discriminator(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])).item() == -1.5
    assert make("hinge").penalty(critic, real, fake) is None


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_gives_finite_gradients(name: str) -> None:
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    real, fake = torch.randn(5, 4), torch.randn(5, 4, requires_grad=True)
    loss = make(name)
    d_fake = D(fake).squeeze(1)
    total = loss.discriminator(D(real).squeeze(1), d_fake) + loss.generator(d_fake)
    penalty = loss.penalty(lambda x: D(x).squeeze(1), real, fake)
    if penalty is not None:
        total = total + penalty
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
    assert torch.isfinite(fake.grad).all()
