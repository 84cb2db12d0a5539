"""``fd_classifier``: a Fréchet distance and a KID that need no download.

A small CNN is trained on the dataset's own training split (seeded, cached in
ganbench's home, its test accuracy recorded); the 128 features before its last layer play
the part Inception's pool3 features play in FID. The values are reported as
``fd_classifier`` and ``kid_classifier``, never as FID: they are not comparable with
FID or across datasets, only between runs measured with the same classifier (its id
and accuracy are in the protocol).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from ganbench.data import DATASETS, DatasetConfig
from ganbench.errors import UserError
from ganbench.home import cache_dir
from ganbench.metrics.base import METRICS, Metric, MetricConfig, Samples, Scorer
from ganbench.metrics.reference import (
    ReferenceConfig,
    describe_reference,
    digest,
    pixel_recipe,
    reference_dataset,
    reference_stats,
)
from ganbench.metrics.setup import setup_step
from ganbench.metrics.stats import frechet_distance, gaussian_stats, kernel_inception_distance
from ganbench.registry import Section
from ganbench.results.lock import building
from ganbench.results.store import atomic_file

ARCHITECTURE = "cnn-v1"  # change when FeatureCNN changes: the cache key includes it
WIDTHS = (16, 32, 64)
FEATURES = 128


class ClassifierConfig(Section):
    """How the feature classifier is trained (once per dataset and image format)."""

    epochs: PositiveInt = Field(2, le=100)
    batch_size: PositiveInt = 128
    lr: float = Field(3e-3, gt=0, description="peak learning rate of the one-cycle schedule")
    seed: int = Field(0, ge=0)


class FeatureCNN(nn.Module):
    """Three conv-BN-ReLU blocks, a 128-unit feature layer and a linear classifier."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for i, width in enumerate(WIDTHS):
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2) if i < len(WIDTHS) - 1 else nn.AdaptiveAvgPool2d(4),
            ]
            previous = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature = nn.Sequential(nn.Linear(previous * 16, FEATURES), nn.ReLU(inplace=True))
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _scaled(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images to the model's [-1, 1] floats, like the GAN's own inputs."""
    return images.to(device).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def extract_features(
    model: FeatureCNN,
    images: torch.Tensor,
    device: torch.device,
    batch: int = 500,
    what: str = "classifier features of the reference images",
) -> np.ndarray:
    """(N, 128) float64 features of uint8 images, in fp32 whatever the run's precision."""
    model.eval()
    out = []
    with torch.autocast(device.type, enabled=False):
        for start in range(0, images.shape[0], batch):
            # While a run sets up (reference statistics), or `ganbench score` works:
            # progress, and a stop.
            setup_step(what, start, images.shape[0])
            out.append(model.features(_scaled(images[start : start + batch], device)).cpu())
    setup_step(what, images.shape[0], images.shape[0])
    return torch.cat(out).double().numpy()


def _recipe(train_cfg: DatasetConfig, cfg: ClassifierConfig) -> dict[str, Any]:
    return {
        "architecture": ARCHITECTURE,
        "widths": list(WIDTHS),
        **pixel_recipe(train_cfg),
        **cfg.model_dump(),
    }


_LOADED: dict[str, tuple[FeatureCNN, dict[str, Any]]] = {}


def trained_classifier(
    dataset: DatasetConfig, cfg: ClassifierConfig, device: torch.device
) -> tuple[FeatureCNN, dict[str, Any]]:
    """The classifier for this dataset format: from memory, from the cache, or trained now.

    Returns the model on ``device`` and its record (id, test accuracy, cache status ...).
    """
    train_cfg = reference_dataset(dataset, ReferenceConfig(split="train"), "fd_classifier")
    recipe = _recipe(train_cfg, cfg)
    ident = f"{ARCHITECTURE}-{digest(recipe, 10)}"
    path = cache_dir("classifiers") / f"{train_cfg.name}-{ident}.pt"
    t0 = time.perf_counter()
    status = "memory"
    if ident not in _LOADED:
        saved, status = _read(path, recipe), "disk"
        if saved is None:
            with building(path):  # another process may be training it: wait, then read
                saved = _read(path, recipe)
                if saved is None:
                    saved, status = _train(train_cfg, cfg, recipe, device), "trained"
                    with atomic_file(path) as partial:
                        torch.save(saved, partial)
        model = FeatureCNN(recipe["channels"], saved["classes"])
        model.load_state_dict(saved["state_dict"])
        record = {k: saved[k] for k in ("test_accuracy", "train_s", "classes", "device")}
        _LOADED[ident] = (model.eval(), {"id": ident, "path": str(path), **record})
    model, record = _LOADED[ident]
    setup = {**record, "cache": status, "seconds": time.perf_counter() - t0}
    return model.to(device), setup


def _read(path: Path, recipe: dict[str, Any]) -> dict[str, Any] | None:
    """A cached classifier, or None when absent, unreadable or of another recipe."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (torn or foreign file: train again, overwrite it)
        return None
    return saved if isinstance(saved, dict) and saved.get("recipe") == recipe else None


def forget_classifiers() -> None:
    """Drop the classifiers this process holds (tests use it to reach the disk cache)."""
    _LOADED.clear()


def _train(
    train_cfg: DatasetConfig, cfg: ClassifierConfig, recipe: dict[str, Any], device: torch.device
) -> dict[str, Any]:
    source = DATASETS.get(train_cfg.name)
    train = source.load(train_cfg)
    test = source.load(reference_dataset(train_cfg, ReferenceConfig(split="test"), "classifier"))
    classes = int(train.labels.max()) + 1
    t0 = time.perf_counter()
    # Its own random streams: training the classifier never shifts a run's RNG.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model = FeatureCNN(recipe["channels"], classes).to(device)
        images, labels = train.values.to(device), train.labels.to(device)
        steps_per_epoch = -(-len(images) // cfg.batch_size)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr / 3)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch
        )
        order_gen = torch.Generator().manual_seed(cfg.seed)
        model.train()
        what = f"training the fd_classifier classifier on {train_cfg.name}"
        for epoch in range(cfg.epochs):
            order = torch.randperm(len(images), generator=order_gen).to(device)
            for start in range(0, len(images), cfg.batch_size):
                step = epoch * steps_per_epoch + start // cfg.batch_size
                setup_step(what, step, cfg.epochs * steps_per_epoch)
                idx = order[start : start + cfg.batch_size]
                loss = F.cross_entropy(model(_scaled(images[idx], device)), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
    accuracy = _accuracy(model, test.values, test.labels, device)
    return {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "recipe": recipe,
        "classes": classes,
        "test_accuracy": accuracy,
        "train_s": time.perf_counter() - t0,
        "device": device.type,
        "torch": str(torch.__version__),
    }


@torch.no_grad()
def _accuracy(
    model: FeatureCNN, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        logits = model(_scaled(images[start : start + 1000], device))
        correct += int((logits.argmax(1).cpu() == labels[start : start + 1000]).sum())
    return correct / len(images)


class FDClassifierConfig(MetricConfig):
    name: Literal["fd_classifier"] = "fd_classifier"
    reference: ReferenceConfig = Field(default_factory=ReferenceConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    kid_subsets: PositiveInt = 100
    kid_subset_size: PositiveInt = 1000


class FDClassifierScorer(Scorer):
    def __init__(
        self, cfg: FDClassifierConfig, dataset: DatasetConfig, device: torch.device
    ) -> None:
        self.cfg, self.device = cfg, device
        self.model, classifier = trained_classifier(dataset, cfg.classifier, device)
        self.extractor = f"{classifier['id']} {FEATURES}-d"
        ref_cfg = reference_dataset(dataset, cfg.reference, "fd_classifier")
        self.ref, ref_info = reference_stats(
            ref_cfg, classifier["id"], self._features, keep_features=True
        )
        self.last_sqrtm = ""
        self.setup = {"classifier": classifier, "reference": ref_info}
        self.protocol = {
            "num_samples": cfg.num_samples,
            "reference": describe_reference(ref_cfg, self.ref.count),
            "feature_extractor": self.extractor,
            "classifier_test_accuracy": classifier["test_accuracy"],
            "kid": {
                "kernel": "(a.b/d + 1)^3",
                "subsets": cfg.kid_subsets,
                "subset_size": cfg.kid_subset_size,
            },
            "input": "uint8 / 127.5 - 1: [-1, 1], at the reference's size and channels",
            "samples": "uint8-quantised",
        }

    def _features(self, images: torch.Tensor) -> np.ndarray:
        return extract_features(self.model, images, self.device)

    def score(self, samples: Samples) -> dict[str, float | None]:
        n = self.cfg.num_samples
        what = f"classifier features of the {n} scored images"
        feats = samples.features(
            self.extractor, n, lambda x: extract_features(self.model, x, self.device, what=what)
        )
        mu, sigma = gaussian_stats(feats)
        fd, self.last_sqrtm = frechet_distance(mu, sigma, self.ref.mu, self.ref.sigma, self.device)
        kid, kid_std = kernel_inception_distance(
            feats,
            self.ref.features,
            self.cfg.kid_subsets,
            self.cfg.kid_subset_size,
            device=self.device,
        )
        return {"fd_classifier": fd, "kid_classifier": kid, "kid_classifier_std": kid_std}

    def notes(self) -> dict[str, Any]:
        return {"sqrtm": self.last_sqrtm}


@METRICS.register("fd_classifier")
class FDClassifier(Metric):
    """Fréchet distance and KID on the features of a classifier trained on the dataset."""

    Config = FDClassifierConfig
    values = {"fd_classifier": "min", "kid_classifier": "min", "kid_classifier_std": None}
    keeps_reference_features = True

    @classmethod
    def check(cls, cfg: FDClassifierConfig, dataset: DatasetConfig) -> None:
        super().check(cfg, dataset)
        if not DATASETS.get(dataset.name).labelled:
            labelled = [n for n in DATASETS.names() if DATASETS.get(n).labelled]
            raise UserError(
                f"evaluation.metrics: fd_classifier trains a classifier on class labels, which "
                f"dataset {dataset.name} does not have (labelled: {', '.join(labelled)}); use "
                "fid/is with Inception weights instead"
            )
        reference_dataset(dataset, cfg.reference, "fd_classifier")
        reference_dataset(dataset, ReferenceConfig(split="train"), "fd_classifier")

    @classmethod
    def prepare(
        cls, cfg: FDClassifierConfig, dataset: DatasetConfig, device: torch.device
    ) -> Scorer:
        return FDClassifierScorer(cfg, dataset, device)
