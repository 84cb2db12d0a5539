"""The statistics behind the image metrics: Fréchet distance, KID and Inception Score.

Written here rather than taken from pytorch_image_generation_metrics' ``core``: its
scipy path passes ``sqrtm(disp=...)``, removed in SciPy 1.18, and its Inception Score
takes ``log(0)`` (NaN) on confident predictions. The Fréchet distance follows
pytorch-fid on the CPU (``scipy.linalg.sqrtm``, with an eps offset when the product is
singular); on a GPU the trace of the matrix square root comes from symmetric
eigendecompositions in float64, and a NaN or a failure there falls back to scipy, which
the returned method says.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import scipy.linalg
import torch
from scipy.special import xlogy

SqrtmMethod = Literal["auto", "scipy", "torch"]
SCIPY = "scipy.linalg.sqrtm (float64, CPU)"


def gaussian_stats(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of (N, D) features, in float64."""
    x = np.asarray(features.cpu() if isinstance(features, torch.Tensor) else features)
    x = x.astype(np.float64, copy=False)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (N, D), got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    device: torch.device | None = None,
    method: SqrtmMethod = "auto",
    eps: float = 1e-6,
) -> tuple[float, str]:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) and how the square root was taken.

    ``auto`` uses the GPU when ``device`` is CUDA and scipy otherwise.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    diff = float(((mu1 - mu2) ** 2).sum())
    traces = float(np.trace(sigma1) + np.trace(sigma2))
    use_torch = method == "torch" or (
        method == "auto" and device is not None and device.type == "cuda"
    )
    if use_torch:
        where = device or torch.device("cpu")
        try:
            tr_covmean = _trace_sqrt_torch(sigma1, sigma2, where)
        except RuntimeError as err:  # e.g. eigh failing to converge
            fallback = f"{type(err).__name__}"
        else:
            if math.isfinite(tr_covmean):
                return diff + traces - 2 * tr_covmean, f"torch.linalg.eigh (float64, {where.type})"
            fallback = "NaN"
        tr_covmean = _trace_sqrt_scipy(sigma1, sigma2, eps)
        return diff + traces - 2 * tr_covmean, f"{SCIPY}; the torch square root gave {fallback}"
    return diff + traces - 2 * _trace_sqrt_scipy(sigma1, sigma2, eps), SCIPY


def _trace_sqrt_scipy(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    with warnings.catch_warnings():  # a near-singular product is handled just below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: offset the diagonals (pytorch-fid)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_torch(sigma1: np.ndarray, sigma2: np.ndarray, device: torch.device) -> float:
    """tr((S1 S2)^1/2) = sum of sqrt(eig(S1^1/2 S2 S1^1/2)): the product is similar to a
    symmetric positive semi-definite matrix, so two eigh calls give it exactly."""
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=device)
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    m = root1 @ s2 @ root1
    eigenvalues = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(eigenvalues.clamp(min=0).sqrt().sum())


def kernel_inception_distance(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    device: torch.device | None = None,
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
    k(a, b) = (a.b / d + 1)^3, averaged over random subsets; returns (mean, std).

    Subsets are drawn with a fixed seed, so repeated evaluations are comparable.
    """
    fx = torch.as_tensor(x, dtype=torch.float64, device=device)
    fy = torch.as_tensor(y, dtype=torch.float64, device=device)
    n = min(subset_size, fx.shape[0], fy.shape[0])
    if n < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    d = fx.shape[1]
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        a = fx[torch.randperm(fx.shape[0], generator=gen)[:n].to(fx.device)]
        b = fy[torch.randperm(fy.shape[0], generator=gen)[:n].to(fy.device)]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (
            n * (n - 1)
        )
        values.append(float(within - 2 * kxy.mean()))
    return float(np.mean(values)), float(np.std(values))


def inception_score(probs: np.ndarray | torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split, mean and std over ``splits`` equal parts
    (Salimans et al. 2016, the usual 10 splits). 0 log 0 is taken as 0."""
    p = np.asarray(probs.cpu() if isinstance(probs, torch.Tensor) else probs, dtype=np.float64)
    if p.shape[0] < splits:
        raise ValueError(f"{p.shape[0]} predictions cannot make {splits} splits")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, marginal)).sum(axis=1).mean()
        scores.append(math.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
