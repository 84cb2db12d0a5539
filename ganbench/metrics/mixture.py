"""Mode metrics for the 2-D Gaussian mixtures: exact, cheap, no feature extractor.

Every generated point belongs to its nearest mode; it is *high quality* when it lies
within 3 standard deviations of that mode's centre. A mode is *covered* when it holds at
least ``coverage_share`` of its fair share (N / modes) of high-quality points (0.2, as in
PacGAN: 20 of 2500 points over 25 modes). ``kl_modes`` is KL(generated || data) between
the mode histogram of the high-quality points and the mixture's equal weights (PacGAN's
"reverse KL"; finite when modes are missing), ``js_modes`` the Jensen-Shannon
divergence of the same histograms (natural log, at most ln 2). Both are null when no
point is of high quality.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from ganbench.data import DatasetConfig
from ganbench.data.toy import GaussianMixtureConfig, mixture_centres
from ganbench.errors import UserError
from ganbench.metrics.base import METRICS, Metric, MetricConfig, Samples, Scorer

HIGH_QUALITY_STDS = 3.0


def mode_scores(
    points: torch.Tensor, centres: torch.Tensor, std: float, coverage_share: float = 0.2
) -> dict[str, float | None]:
    """The four mode metrics of (N, 2) points against a mixture's centres and std."""
    points, centres = points.double(), centres.double()
    k, n = centres.shape[0], points.shape[0]
    distance, nearest = torch.cdist(points, centres).min(dim=1)
    good = distance <= HIGH_QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=k).double()
    covered = int((counts >= coverage_share * n / k).sum())
    result: dict[str, float | None] = {
        "modes_covered": float(covered),
        "high_quality_fraction": float(good.double().mean()),
        "kl_modes": None,
        "js_modes": None,
    }
    if counts.sum() > 0:
        q = counts / counts.sum()
        p = torch.full_like(q, 1.0 / k)
        result["kl_modes"] = float(torch.special.xlogy(q, q / p).sum())
        m = (p + q) / 2
        js = 0.5 * torch.special.xlogy(p, p / m).sum() + 0.5 * torch.special.xlogy(q, q / m).sum()
        result["js_modes"] = min(float(js), math.log(2))
    return result


class MixtureConfig(MetricConfig):
    name: Literal["mixture"] = "mixture"
    coverage_share: float = Field(
        0.2, gt=0, le=1, description="share of a mode's fair N/modes points that covers it"
    )


class MixtureScorer(Scorer):
    def __init__(self, cfg: MixtureConfig, dataset: GaussianMixtureConfig) -> None:
        self.cfg = cfg
        self.centres = mixture_centres(dataset)
        self.std = dataset.std
        self.setup = {}
        self.protocol = {
            "num_samples": cfg.num_samples,
            "reference": {
                "dataset": dataset.name,
                "layout": dataset.layout,
                "modes": dataset.num_modes,
                "std": dataset.std,
                "weights": "equal (exact, not sampled)",
            },
            "high_quality_within_std": HIGH_QUALITY_STDS,
            "coverage_share": cfg.coverage_share,
        }

    def score(self, samples: Samples) -> dict[str, float | None]:
        points = samples.first(self.cfg.num_samples)
        return mode_scores(points, self.centres, self.std, self.cfg.coverage_share)


@METRICS.register("mixture")
class Mixture(Metric):
    """Modes covered, high-quality fraction and KL/JS of mode histograms (2-D mixtures)."""

    Config = MixtureConfig
    values = {
        "modes_covered": "max",
        "high_quality_fraction": "max",
        "kl_modes": "min",
        "js_modes": "min",
    }
    kinds = ("points",)

    @classmethod
    def check(cls, cfg: MixtureConfig, dataset: DatasetConfig) -> None:
        super().check(cfg, dataset)
        if not isinstance(dataset, GaussianMixtureConfig):
            raise UserError(
                f"evaluation.metrics: mixture needs the gaussian-mixture dataset, "
                f"not {dataset.name}"
            )

    @classmethod
    def prepare(cls, cfg: MixtureConfig, dataset: DatasetConfig, device: torch.device) -> Scorer:
        assert isinstance(dataset, GaussianMixtureConfig)
        return MixtureScorer(cfg, dataset)
