"""Models: the thesis' Table 3.1 layer by layer, every family's shapes, and the knobs."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from ganbench.models import MODELS
from ganbench.models.blocks import SelfAttention


def build(name: str, shape: tuple[int, ...], **cfg):
    family = MODELS.get(name)
    config = family.Config(**cfg)
    family.check(config, shape)
    return family.build(config, shape)


def has_sn(module: nn.Module) -> bool:
    return hasattr(module, "parametrizations") and "weight" in module.parametrizations


def describe(net: nn.Module) -> list[str]:
    """The layer sequence in Table 3.1's words."""
    out = []
    for m in net.net:
        if isinstance(m, nn.Identity):  # norm "none"
            continue
        if isinstance(m, nn.ConvTranspose2d | nn.Conv2d):
            kind = "ConvT" if isinstance(m, nn.ConvTranspose2d) else "Conv"
            k, s, p = m.kernel_size[0], m.stride[0], m.padding[0]
            out.append(
                f"{kind}({m.in_channels}->{m.out_channels},k{k},s{s},p{p})"
                + ("+SN" if has_sn(m) else "")
            )
        elif isinstance(m, nn.BatchNorm2d):
            out.append(f"BN({m.num_features})")
        elif isinstance(m, SelfAttention):
            out.append(f"Attn({m.value.in_channels})")
        elif isinstance(m, nn.LeakyReLU):
            out.append(f"LReLU({m.negative_slope})")
        else:
            out.append(type(m).__name__)
    return out


def test_sagan_defaults_are_table_3_1() -> None:
    G, D = build("sagan", (3, 32, 32))
    assert describe(G) == [
        "ConvT(128->256,k4,s1,p0)+SN",
        "BN(256)",
        "ReLU",
        "ConvT(256->128,k4,s2,p1)+SN",
        "BN(128)",
        "ReLU",
        "Attn(128)",
        "ConvT(128->64,k4,s2,p1)+SN",
        "BN(64)",
        "ReLU",
        "Attn(64)",
        "ConvT(64->3,k4,s2,p1)",
        "Tanh",
    ]
    assert describe(D) == [
        "Conv(3->64,k4,s2,p1)+SN",
        "LReLU(0.1)",
        "Conv(64->128,k4,s2,p1)+SN",
        "LReLU(0.1)",
        "Conv(128->256,k4,s2,p1)+SN",
        "LReLU(0.1)",
        "Attn(256)",
        "Conv(256->1,k4,s1,p0)",
    ]
    z = torch.randn(5, 128)
    images = G(z)
    assert images.shape == (5, 3, 32, 32) and images.abs().max() <= 1
    assert D(images).shape == (5,)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if n != "python"])  # own tests
@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 32), (1, 64, 64)])
def test_every_model_maps_noise_to_images_and_images_to_scores(name, shape) -> None:
    G, D = build(name, shape, width=0.25, latent_dim=16)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, *shape)
    assert D(x).shape == (4,)
    (D(x).sum() + x.sum()).backward()  # differentiable end to end


def test_mlp_on_points_is_unbounded() -> None:
    G, D = build("mlp", (2,), latent_dim=4, hidden=8)
    assert G(torch.randn(3, 4)).shape == (3, 2)
    assert not any(isinstance(m, nn.Tanh) for m in G.modules())
    assert D(torch.randn(3, 2)).shape == (3,)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_knobs_change_the_architecture() -> None:
    shape = (1, 32, 32)
    G, D = build("sagan", shape)
    G_half, _ = build("sagan", shape, width=0.5)
    assert describe(G_half)[0] == "ConvT(128->128,k4,s1,p0)+SN"
    G_sep, D_sep = build("sagan", shape, conv="separable")
    assert count(G_sep) < count(G) / 3 and count(D_sep) < count(D)
    G_plain, D_plain = build(
        "sagan",
        shape,
        g_spectral_norm=False,
        d_spectral_norm=False,
        g_norm="none",
        g_attention=[],
        d_attention=[],
    )
    assert not any(
        has_sn(m) or isinstance(m, nn.BatchNorm2d | SelfAttention)
        for m in list(G_plain.modules()) + list(D_plain.modules())
    )
    G_inst, _ = build("sagan", shape, g_norm="instance")
    assert any(isinstance(m, nn.InstanceNorm2d) for m in G_inst.modules())
    G_deep, _ = build("sagan", shape, extra_layers=1)
    assert len(describe(G_deep)) == len(describe(G)) + 3 * 3  # conv, BN, ReLU per stage


def test_dcgan_defaults_and_init() -> None:
    G, D = build("dcgan", (3, 32, 32))
    assert "BN(128)" in describe(D) and not any(isinstance(m, SelfAttention) for m in G.modules())
    assert "LReLU(0.2)" in describe(D)
    weights = torch.cat(
        [m.weight.flatten() for m in G.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    )
    assert weights.std().item() == pytest.approx(0.02, rel=0.1)


@pytest.mark.parametrize(
    "name, shape, cfg, message",
    [
        ("sagan", (1, 28, 28), {}, "square images of 8, 16, 32, 64"),
        ("dcgan", (2,), {}, "needs images (C, H, W)"),
        ("sagan", (3, 32, 32), {"g_attention": [32]}, "g_attention: [32] not among"),
        ("sagan", (3, 32, 32), {"d_attention": [2]}, "d_attention: [2] not among"),
    ],
)
def test_models_refuse_shapes_they_cannot_handle(name, shape, cfg, message) -> None:
    family = MODELS.get(name)
    with pytest.raises(ValueError, match=re.escape(message)):
        family.check(family.Config(**cfg), shape)


def test_self_attention_matches_its_definition() -> None:
    torch.manual_seed(0)
    attn = SelfAttention(16)
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(attn(x), x)  # gamma starts at 0
    with torch.no_grad():
        attn.gamma.fill_(0.7)
    q = attn.query(x).flatten(2)  # B x C' x N
    k = attn.key(x).flatten(2)
    v = attn.value(x).flatten(2)  # B x C x N
    expected = torch.empty_like(v)
    for b in range(2):
        for n in range(16):  # output position n attends over all positions m
            weights = torch.softmax(q[b, :, n] @ k[b], dim=0)  # N
            expected[b, :, n] = v[b] @ weights
    want = x + 0.7 * expected.view_as(x)
    torch.testing.assert_close(attn(x), want, rtol=1e-5, atol=1e-5)
