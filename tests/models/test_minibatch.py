"""Minibatch layers of D: the stddev feature and minibatch discrimination, by their
definitions, in every model family, with their FLOPs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganbench.models.minibatch import MinibatchDiscrimination, MinibatchStd
from ganbench.results import RunStore
from ganbench.run.train import train_run
from ganbench.trackers.flops import count_flops
from tests.conftest import mixture_run
from tests.models.test_models import build, describe


def test_minibatch_std_appends_each_group_s_mean_standard_deviation() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)  # a copy: exact
    # The layer's sqrt(var + 1e-8) against torch.std, in float32 by other reduction
    # kernels: a few ulp (~1e-7 relative), the eps adds ~5e-9; unbiased std (x 1.15)
    # or a wrong grouping is off by far more than 1e-5.
    for i in range(8):  # groups of 4: examples i, i+2, i+4, i+6 (i mod 2)
        group = x[i % 2 :: 2]
        want = group.std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(out[i, 3], want.expand(4, 4), rtol=1e-5, atol=1e-6)
    flat = torch.randn(6, 5)  # 4 does not divide 6: one group of all six
    out = MinibatchStd(4)(flat)
    assert out.shape == (6, 6)
    want = flat.std(dim=0, unbiased=False).mean().expand(6)
    torch.testing.assert_close(out[:, 5], want, rtol=1e-5, atol=1e-6)
    # Identical examples: sqrt(0 + 1e-8) = 1e-4, whose float32 rounding differs by an ulp
    # (~1e-7 relative) between CPUs; no eps (0) or another (1e-6 gives 1e-3) still fails.
    got = MinibatchStd(4)(torch.ones(4, 2))[:, 2]
    torch.testing.assert_close(got, torch.full((4,), 1e-4), rtol=1e-5, atol=0)


def test_minibatch_discrimination_follows_salimans_et_al() -> None:
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(features=6, kernels=3, kernel_dim=2)
    f = torch.randn(5, 6)
    out = layer(f)
    assert out.shape == (5, 9) and torch.equal(out[:, :6], f)  # a copy: exact
    m = (f @ layer.T).view(5, 3, 2)
    for i in range(5):
        for b in range(3):
            want = sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5))
            # float32 sums of 5 exps in another order and exp kernel (vectorised vs
            # scalar): a few ulp, ~1e-6 relative; L2 for L1 or a missing term is off by >1e-2.
            assert out[i, 6 + b].item() == pytest.approx(want.item(), rel=1e-5)
    collapsed = layer(f[:1].expand(5, 6))  # identical examples: every o_b is n
    assert torch.allclose(collapsed[:, 6:], torch.full((5, 3), 5.0))


def test_the_layers_sit_before_d_s_last_layer_in_every_family() -> None:
    _, D = build("sagan", (3, 32, 32), width=0.25, d_minibatch_std=4)
    assert describe(D)[-2:] == ["MinibatchStd", "Conv(65->1,k4,s1,p0)"]
    _, D = build("dcgan", (1, 16, 16), width=0.25, d_minibatch_std=2, d_minibatch_kernels=10)
    assert describe(D)[-4:] == ["MinibatchStd", "Flatten", "MinibatchDiscrimination", "Linear"]
    assert D.net[-1].in_features == 33 * 16 + 10
    _, D = build("mlp", (2,), hidden=8, depth=1, d_minibatch_std=4, d_minibatch_kernels=7)
    assert [type(m).__name__ for m in D.net][-3:] == [
        "MinibatchStd",
        "MinibatchDiscrimination",
        "Linear",
    ]
    assert D.net[-1].in_features == 8 + 1 + 7
    for name, shape, extra in (("sagan", (3, 32, 32), {"width": 0.25}), ("mlp", (2,), {})):
        _, D = build(name, shape, d_minibatch_std=4, d_minibatch_kernels=5, **extra)
        assert D(torch.randn(8, *shape)).shape == (8,)


def test_flops_count_the_projection_and_the_wider_last_layer() -> None:
    """A = 64 channels x 4 x 4 at D's last layer (SAGAN at width 0.25, 32x32); n = 4.
    The stddev channel widens the last 4x4 convolution by 16 inputs per example;
    discrimination adds the projection (2 n A B C) and B inputs to the linear output."""
    n, a, b, c = 4, 64 * 16, 10, 3
    x = torch.randn(n, 3, 32, 32)

    def flops(**knobs) -> int:
        _, D = build("sagan", (3, 32, 32), width=0.25, **knobs)
        return count_flops(lambda: D(x))

    plain = flops()
    assert flops(d_minibatch_std=4) - plain == 2 * n * 16
    assert (
        flops(d_minibatch_kernels=b, d_minibatch_kernel_dim=c) - plain
        == 2 * n * a * b * c + 2 * n * b
    )


def test_a_run_trains_with_both_layers(tmp_path: Path) -> None:
    model = {"name": "mlp", "latent_dim": 4, "hidden": 16, "depth": 1}
    knobs = {"d_minibatch_std": 4, "d_minibatch_kernels": 8, "d_minibatch_kernel_dim": 3}
    summary = train_run(
        mixture_run(model={**model, **knobs}), RunStore(tmp_path / "mb"), torch.device("cpu")
    )
    plain = train_run(mixture_run(), RunStore(tmp_path / "plain"), torch.device("cpu"))
    assert summary.status == "finished"
    assert summary.flops_per_iteration > plain.flops_per_iteration
