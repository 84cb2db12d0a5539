"""The gradient noise scale: the estimator recovers tr(Sigma)/|G|^2 where it is known."""

from __future__ import annotations

import pytest
import torch

from ganbench.trackers.noise_scale import NoiseScaleEstimator, two_batch_norms


def linear_regression(
    n: int = 8192, d: int = 12
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A dataset, a weight away from the optimum, and every example's loss gradient."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(d, generator=gen, dtype=torch.float64) + 0.5 * torch.randn(
        n, generator=gen, dtype=torch.float64
    )
    w = torch.randn(d, generator=gen, dtype=torch.float64)
    per_example = x * (x @ w - y).unsqueeze(1)  # gradient of (x.w - y)^2 / 2
    return x, y, w, per_example


def test_the_estimator_recovers_the_noise_scale_of_a_linear_model() -> None:
    """Per-example gradients of linear regression at a fixed weight: G is their mean and
    Sigma their covariance over the dataset (batches drawn with replacement), so
    tr(Sigma)/|G|^2 is known exactly. Chunks of 16 from batches of 64, gradients taken
    by autograd as a run takes them; the smoothed estimate lands within 10 %."""
    x, y, w, per_example = linear_regression()
    mean = per_example.mean(dim=0)
    trace = ((per_example - mean) ** 2).sum(dim=1).mean()
    truth = float(trace / mean.square().sum())
    assert 5 < truth < 500  # neither regime trivial

    gen = torch.Generator().manual_seed(1)
    estimator = NoiseScaleEstimator(smoothing=0.995)
    param = w.clone().requires_grad_(True)
    for _ in range(1500):
        rows = torch.randint(0, x.shape[0], (64,), generator=gen)
        chunks = []
        for part in rows.view(4, 16):
            loss = ((x[part] @ param - y[part]) ** 2 / 2).mean()
            chunks.append(torch.autograd.grad(loss, [param]))
        small, big = two_batch_norms(chunks)
        estimate = estimator.update("d", small, big, 16, 64)
    assert estimate["b_simple"] == pytest.approx(truth, rel=0.10)
    assert estimate["trace_smoothed"] == pytest.approx(float(trace), rel=0.10)


def test_expected_norms_give_the_exact_noise_scale_and_the_state_round_trips() -> None:
    """E|G_B|^2 = |G|^2 + tr(Sigma)/B: fed those, one update gives tr(Sigma)/|G|^2."""
    g2, trace = 4.0, 200.0
    estimator = NoiseScaleEstimator(smoothing=0.9)
    first = estimator.update("g", g2 + trace / 8, g2 + trace / 32, 8, 32)
    assert first["g2"] == pytest.approx(g2) and first["trace"] == pytest.approx(trace)
    assert first["b_simple"] == pytest.approx(50.0)  # bias correction: exact from the start
    again = NoiseScaleEstimator(smoothing=0.9)
    again.load_state_dict(estimator.state_dict())
    assert again.b_simple("g") == estimator.b_simple("g") and again.b_simple("d") is None
    negative = NoiseScaleEstimator().update("d", 1.0, 1.0, 8, 32)  # no noise, |G|^2 = 1
    assert negative["b_simple"] == 0.0
    assert NoiseScaleEstimator().update("d", 5.0, 1.0, 8, 32)["b_simple"] is None  # |G|^2 < 0
    assert NoiseScaleEstimator().update("d", 1.0, 3.0, 8, 32)["b_simple"] is None  # tr < 0
    with pytest.raises(ValueError, match="b_small < b_big"):
        NoiseScaleEstimator().update("d", 1.0, 1.0, 32, 32)
