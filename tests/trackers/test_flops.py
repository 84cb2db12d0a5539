"""FLOP counts against closed forms, and the peak table."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.trackers.flops import count_flops, peak_flops

CPU = torch.device("cpu")

# --------------------------------------------------------------------- FLOPs


def test_linear_and_conv_flops_equal_the_closed_form() -> None:
    b, n_in, n_out = 8, 32, 16
    linear = nn.Linear(n_in, n_out)
    x = torch.randn(b, n_in, requires_grad=True)
    assert count_flops(lambda: linear(x)) == 2 * b * n_in * n_out
    # Backward: one matmul for the input's gradient, one for the weight's.
    assert count_flops(lambda: linear(x).sum().backward()) == 3 * 2 * b * n_in * n_out

    conv = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
    image = torch.randn(2, 3, 16, 16)
    h_out = w_out = 8
    assert count_flops(lambda: conv(image)) == 2 * 2 * 8 * h_out * w_out * 3 * 3 * 3


def test_peak_table_matches_names_and_precisions() -> None:
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4e12)
    assert peak_flops("NVIDIA H100 PCIe", "tf32") == pytest.approx(378e12)
    assert peak_flops("NVIDIA L40S", "fp32") == pytest.approx(91.6e12)
    assert peak_flops("NVIDIA L4", "fp32") == pytest.approx(30.3e12)
    assert peak_flops("Tesla V100-SXM2-16GB", "tf32") is None  # Volta has no TF32
    assert peak_flops("Some Future GPU", "bf16") is None
    assert peak_flops(None, None) is None
