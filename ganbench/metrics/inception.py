"""FID, KID and Inception Score through pytorch_image_generation_metrics' FID Inception v3.

The weights file ``pt_inception-2015-12-05-6726825d.pth`` (the TF 2015-12-05 Inception
ported to PyTorch) is never downloaded at run time: it is looked for at the path a suite
or the CLI gives, else in torch's hub cache (``$TORCH_HOME/hub/checkpoints``). A suite
that asks for FID or IS without it stops before training with a message naming the
file, the places searched and how to provide it. ``ganbench weights install PATH``
checks a copy (SHA-256 prefix ``6726825d``, per torch hub's naming, and every tensor's
name and shape) and puts it in the hub cache. A file whose hash differs can still be
used (tests use stand-in weights); its values then say ``weights_official: false``.

Inception always runs in fp32: autocast off and TF32 off while it runs, whatever the
training precision. FID, KID and IS of one evaluation share one Inception pass over its
samples (and FID and KID one over the reference).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import numpy as np
import torch
from pydantic import Field, PositiveInt

from ganbench.data import DatasetConfig
from ganbench.errors import UserError
from ganbench.metrics.base import METRICS, Metric, MetricConfig, Samples, Scorer
from ganbench.metrics.reference import (
    ReferenceConfig,
    ReferenceStats,
    describe_reference,
    read_stats_file,
    reference_dataset,
    reference_stats,
)
from ganbench.metrics.setup import setup_step
from ganbench.metrics.stats import (
    frechet_distance,
    gaussian_stats,
    inception_score,
    kernel_inception_distance,
)

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"
WEIGHTS_URL = (
    "https://github.com/w86763777/pytorch-image-generation-metrics/releases/download/"
    f"v0.1.0/{WEIGHTS_FILE}"
)
POOL_DIM, CLASSES = 2048, 1008
EXTRACTOR = "FID Inception v3 (TF 2015-12-05) pool3 2048-d, bilinear resize to 299x299"
INPUT = "uint8 / 255 (grey repeated to 3 channels), then 2x - 1 inside the network: [-1, 1]"
REFERENCE_PASS = "Inception features of the reference images"


def hub_weights_path() -> Path:
    """Where torch's hub cache keeps it: $TORCH_HOME/hub/checkpoints (~/.cache/torch)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def how_to_provide() -> str:
    return (
        f"copy {WEIGHTS_FILE} from a machine that has it and run `ganbench weights install "
        "PATH`, or run `ganbench weights download` where the network is reachable, or give "
        "its path (train-suite --inception-weights PATH, selftest metric-time --weights PATH, "
        "or weights: in the metric's settings); or leave "
        "the metric out (--metrics fd_classifier uses no download)"
    )


def find_weights(explicit: Path | None, field: str = "evaluation.metrics") -> Path:
    """The weights file to use, or UserError naming the file, the places and the fixes."""
    place = explicit if explicit is not None else hub_weights_path()
    if place.is_file():
        return place
    if place.is_dir():
        raise UserError(f"{field}: {place} is a folder; give the weights file {WEIGHTS_FILE}")
    where = "the given path" if explicit is not None else "torch's hub cache"
    raise UserError(
        f"{field}: the Inception weights {WEIGHTS_FILE} are missing: looked for {place} "
        f"({where}). Fix: {how_to_provide()}"
    )


@dataclass(frozen=True)
class WeightsInfo:
    path: str
    size_bytes: int
    sha256: str
    official: bool  # the SHA-256 starts with the prefix in the file's name


_INSPECTED: dict[tuple[str, int, int], WeightsInfo] = {}


def inspect_weights(path: Path) -> WeightsInfo:
    """Size and SHA-256 of a weights file (remembered while the file is unchanged)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _INSPECTED:
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        digest = sha.hexdigest()
        _INSPECTED[key] = WeightsInfo(
            str(path), stat.st_size, digest, digest.startswith(WEIGHTS_SHA256_PREFIX)
        )
    return _INSPECTED[key]


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    """Names and shapes of the FID Inception's tensors (torchvision's Inception v3 with
    1008 classes and no aux head has the same ones; the FID blocks change only pooling)."""
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, num_classes=CLASSES, init_weights=False)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def write_stand_in_weights(path: Path) -> Path:
    """Randomly initialised tensors of the FID Inception's names and shapes at ``path``
    (kept when there): the time per evaluation is the real one, the values are not FID
    (``weights_official: false``). For tests and timings where the file cannot be had."""
    if not path.is_file():
        from torchvision.models import inception_v3

        torch.manual_seed(0)
        net = inception_v3(weights=None, aux_logits=False, num_classes=CLASSES, init_weights=False)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save(net.state_dict(), partial)
        partial.replace(path)  # never a half-written file under the name
    return path


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` after checking every tensor's name and shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (any unreadable file gets the same message)
        # torch's own text advises weights_only=False, which would run the file's code
        raise UserError(
            f"{path}: not a readable PyTorch weights file ({type(err).__name__}); expected "
            f"{WEIGHTS_FILE}"
        ) from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a state dict, found {type(state).__name__}")
    expected = _expected_shapes()
    got = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    wrong = sorted(set(expected) ^ set(got)) + [
        k for k in expected if k in got and expected[k] != got[k]
    ]
    if wrong:
        raise UserError(
            f"{path}: not the FID Inception weights ({len(wrong)} tensors missing, extra or "
            f"of the wrong shape, e.g. {wrong[0]}); expected {WEIGHTS_FILE}"
        )
    return state


def install_weights(source: Path, force: bool = False) -> WeightsInfo:
    """Check ``source`` and copy it into the hub cache; return what was installed."""
    if not source.is_file():
        raise UserError(f"{source}: file not found")
    info = inspect_weights(source)
    load_weights(source)
    if not info.official and not force:
        raise UserError(
            f"{source}: SHA-256 {info.sha256[:16]}... does not start with "
            f"{WEIGHTS_SHA256_PREFIX} (the hash in {WEIGHTS_FILE}'s name): not the official "
            "file. Use --force to install it anyway; its values will say weights_official: false"
        )
    target = hub_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return inspect_weights(target)


def download_weights() -> WeightsInfo:
    """Fetch the official file into the hub cache (the only place ganbench downloads it)."""
    target = hub_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(
            WEIGHTS_URL, str(target), hash_prefix=WEIGHTS_SHA256_PREFIX, progress=True
        )
    except Exception as err:  # noqa: BLE001  (no network, proxy, hash mismatch ...)
        raise UserError(
            f"could not download {WEIGHTS_URL} ({type(err).__name__}: {err}). Fix: copy "
            f"{WEIGHTS_FILE} from a machine that has it and run `ganbench weights install PATH`"
        ) from None
    return inspect_weights(target)


@contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for matmuls and cuDNN while the block runs (restored afterwards)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


_MODELS: dict[tuple[str, str], torch.nn.Module] = {}


def inception_model(path: Path, device: torch.device) -> torch.nn.Module:
    """The library's InceptionV3 (pool3 and 1008-way softmax) with the weights in ``path``,
    never touching the network: the library's download call is answered from the file."""
    key = (str(path.resolve()), str(device))
    if key not in _MODELS:
        import pytorch_image_generation_metrics.inception as library

        state = load_weights(path)
        blocks = [library.InceptionV3.BLOCK_INDEX_BY_DIM[POOL_DIM]]
        blocks.append(library.InceptionV3.BLOCK_INDEX_BY_DIM[CLASSES])
        with mock.patch.object(library, "load_state_dict_from_url", lambda *a, **k: state):
            model = library.InceptionV3(blocks)
        _MODELS[key] = model.float().eval().to(device)
    return _MODELS[key]


@torch.no_grad()
def inception_features(
    model: torch.nn.Module,
    images: torch.Tensor,
    device: torch.device,
    batch: int,
    what: str = REFERENCE_PASS,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2048) pool3 features and (N, 1008) class probabilities of uint8 images."""
    pools, probs = [], []
    with strict_fp32(), torch.autocast(device.type, enabled=False):
        for start in range(0, images.shape[0], batch):
            # While a run sets up (reference statistics), or `ganbench score` works:
            # progress, and a stop.
            setup_step(what, start, images.shape[0])
            x = images[start : start + batch].to(device).float().div_(255.0)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            pool, prob = model(x)
            pools.append(pool.reshape(-1, POOL_DIM).double().cpu())
            probs.append(prob.double().cpu())
    setup_step(what, images.shape[0], images.shape[0])
    return torch.cat(pools).numpy(), torch.cat(probs).numpy()


class InceptionConfig(MetricConfig):
    weights: Path | None = Field(
        None, description=f"path of {WEIGHTS_FILE}; null: $TORCH_HOME/hub/checkpoints"
    )
    batch_size: PositiveInt = Field(50, description="images per Inception forward pass")


class ReferencedConfig(InceptionConfig):
    reference: ReferenceConfig = Field(default_factory=ReferenceConfig)
    stats: Path | None = Field(
        None,
        description="an .npz of the reference's statistics used instead of the split: mu and "
        "sigma (pytorch-fid's format) for FID, a ganbench reference-stats file (with the "
        "features) for KID; null: computed from the split",
    )


class FIDConfig(ReferencedConfig):
    name: Literal["fid"] = "fid"


class KIDConfig(ReferencedConfig):
    name: Literal["kid"] = "kid"
    subsets: PositiveInt = Field(100, description="KID is the mean (and std) over random subsets")
    subset_size: PositiveInt = Field(1000, description="samples per subset (at most all)")


class ISConfig(InceptionConfig):
    name: Literal["is"] = "is"
    splits: PositiveInt = Field(10, description="IS is the mean (and std) over this many parts")


def extractor_id(weights: WeightsInfo) -> str:
    """The id reference statistics are cached under: the weights' hash decides them."""
    return f"inception-{weights.sha256[:12]}"


class InceptionScorer(Scorer):
    """Shared by FID, KID and IS: one Inception pass per evaluation serves all three."""

    def __init__(self, cfg: InceptionConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        t0 = time.perf_counter()
        self.path = find_weights(cfg.weights)
        self.weights = inspect_weights(self.path)
        self.model = inception_model(self.path, device)
        self.extractor = extractor_id(self.weights)
        self.load_s = time.perf_counter() - t0

    def weights_protocol(self) -> dict[str, Any]:
        import pytorch_image_generation_metrics as library

        w = asdict(self.weights)
        return {
            "feature_extractor": EXTRACTOR,
            "library": f"pytorch_image_generation_metrics {library.__version__}",
            "weights": w["path"],
            "weights_sha256": w["sha256"],
            "weights_official": w["official"],
            "precision": "fp32 (autocast and TF32 off)",
            "input": INPUT,
            "samples": "uint8-quantised",
        }

    def _features(
        self, images: torch.Tensor, what: str = REFERENCE_PASS
    ) -> tuple[np.ndarray, np.ndarray]:
        return inception_features(self.model, images, self.device, self.cfg.batch_size, what)

    def shared(self, samples: Samples) -> tuple[np.ndarray, np.ndarray]:
        n = self.cfg.num_samples
        what = f"Inception features of the {n} scored images"
        return samples.features(self.extractor, n, lambda x: self._features(x, what))

    def reference(
        self, cfg: ReferencedConfig, dataset: DatasetConfig, keep_features: bool
    ) -> tuple[ReferenceStats, dict[str, Any], dict[str, Any]]:
        """The reference's statistics (from ``cfg.stats``, else the split, cached), how
        the protocol names it, and where it came from."""
        if cfg.stats is not None:
            stats, described = read_stats_file(
                cfg.stats, POOL_DIM, self.extractor, f"{cfg.name}.stats", keep_features
            )
            return stats, described, {"cache": "file", "path": str(cfg.stats)}
        ref_cfg = reference_dataset(dataset, cfg.reference, cfg.name)
        stats, info = reference_stats(
            ref_cfg, self.extractor, lambda images: self._features(images)[0], keep_features
        )
        return stats, describe_reference(ref_cfg, stats.count), info


class FIDScorer(InceptionScorer):
    def __init__(self, cfg: FIDConfig, dataset: DatasetConfig, device: torch.device) -> None:
        super().__init__(cfg, device)
        self.ref, described, ref_info = self.reference(cfg, dataset, keep_features=False)
        self.last_sqrtm = ""
        self.protocol = {
            "num_samples": cfg.num_samples,
            "reference": described,
            **self.weights_protocol(),
        }
        self.setup = {"weights_load_s": self.load_s, "reference": ref_info}

    def score(self, samples: Samples) -> dict[str, float | None]:
        pool, _ = self.shared(samples)
        mu, sigma = gaussian_stats(pool)
        fid, self.last_sqrtm = frechet_distance(mu, sigma, self.ref.mu, self.ref.sigma, self.device)
        return {"fid": fid}

    def notes(self) -> dict[str, Any]:
        return {"sqrtm": self.last_sqrtm}


class KIDScorer(InceptionScorer):
    def __init__(self, cfg: KIDConfig, dataset: DatasetConfig, device: torch.device) -> None:
        super().__init__(cfg, device)
        self.kid = cfg
        self.ref, described, ref_info = self.reference(cfg, dataset, keep_features=True)
        self.protocol = {
            "num_samples": cfg.num_samples,
            "reference": described,
            "kid": {
                "kernel": "(a.b/d + 1)^3",
                "subsets": cfg.subsets,
                "subset_size": cfg.subset_size,
            },
            **self.weights_protocol(),
        }
        self.setup = {"weights_load_s": self.load_s, "reference": ref_info}

    def score(self, samples: Samples) -> dict[str, float | None]:
        pool, _ = self.shared(samples)
        kid, kid_std = kernel_inception_distance(
            pool, self.ref.features, self.kid.subsets, self.kid.subset_size, device=self.device
        )
        return {"kid": kid, "kid_std": kid_std}

    def notes(self) -> dict[str, Any]:
        n = min(self.kid.subset_size, self.kid.num_samples, len(self.ref.features))
        return {"subset_size_used": n}


class ISScorer(InceptionScorer):
    def __init__(self, cfg: ISConfig, device: torch.device) -> None:
        super().__init__(cfg, device)
        self.splits = cfg.splits
        self.protocol = {
            "num_samples": cfg.num_samples,
            "splits": cfg.splits,
            "classes": CLASSES,
            **self.weights_protocol(),
        }
        self.setup = {"weights_load_s": self.load_s}

    def score(self, samples: Samples) -> dict[str, float | None]:
        _, probs = self.shared(samples)
        mean, std = inception_score(probs, self.splits)
        return {"is": mean, "is_std": std}


class _InceptionMetric(Metric):
    @classmethod
    def check(cls, cfg: InceptionConfig, dataset: DatasetConfig) -> None:
        super().check(cfg, dataset)
        inspect_weights(find_weights(cfg.weights))


@METRICS.register("fid")
class FID(_InceptionMetric):
    """Fréchet Inception Distance against a reference split's cached statistics."""

    Config = FIDConfig
    values = {"fid": "min"}

    @classmethod
    def check(cls, cfg: ReferencedConfig, dataset: DatasetConfig) -> None:
        super().check(cfg, dataset)
        if cfg.stats is None:
            reference_dataset(dataset, cfg.reference, cfg.name)
            return
        extractor = extractor_id(inspect_weights(find_weights(cfg.weights)))
        field, features = f"{cfg.name}.stats", cls.keeps_reference_features
        read_stats_file(cfg.stats, POOL_DIM, extractor, field, features)

    @classmethod
    def prepare(cls, cfg: FIDConfig, dataset: DatasetConfig, device: torch.device) -> Scorer:
        return FIDScorer(cfg, dataset, device)


@METRICS.register("kid")
class KID(FID):
    """Kernel Inception Distance: unbiased MMD^2 between pool3 features, over subsets."""

    Config = KIDConfig
    values = {"kid": "min", "kid_std": None}
    keeps_reference_features = True

    @classmethod
    def prepare(cls, cfg: KIDConfig, dataset: DatasetConfig, device: torch.device) -> Scorer:
        return KIDScorer(cfg, dataset, device)


@METRICS.register("is")
class InceptionScore(_InceptionMetric):
    """Inception Score over the 1008 classes of the FID Inception."""

    Config = ISConfig
    values = {"is": "max", "is_std": None}

    @classmethod
    def prepare(cls, cfg: ISConfig, dataset: DatasetConfig, device: torch.device) -> Scorer:
        return ISScorer(cfg, device)
