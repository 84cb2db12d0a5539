"""Reference statistics of a dataset split: computed once, cached on disk, reused by every run.

The cache lives in ganbench's home (``cache/reference-stats``, see ``ganbench.home``) and
is keyed by dataset, split, image size, channels, fit, example count and the feature
extractor's id (which includes its weights' hash), so a change to any of them computes
new statistics instead of reusing wrong ones. A process also keeps what it loaded, so
the runs of one suite read each file at most once.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, PositiveInt, ValidationError

from ganbench.data import DATASETS, DatasetConfig
from ganbench.data.transforms import resolve_fit
from ganbench.errors import UserError, first_problem
from ganbench.home import cache_dir
from ganbench.metrics.stats import gaussian_stats
from ganbench.registry import Section
from ganbench.results.lock import building
from ganbench.results.store import atomic_file, sha256_of

CacheStatus = Literal["memory", "disk", "computed"]


class ReferenceConfig(Section):
    """The real images a metric compares against."""

    split: Literal["train", "test"] = "test"
    num_samples: PositiveInt | None = Field(
        None, description="examples of the split (a fixed seeded choice); null: all"
    )


def digest(key: dict[str, Any], length: int = 12) -> str:
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def reference_dataset(dataset: DatasetConfig, ref: ReferenceConfig, field: str) -> DatasetConfig:
    """The run's dataset settings (size, channels, fit) on the reference split (a
    dataset without splits, synthetic, is its own reference: it is only ever timed)."""
    data = {**dataset.model_dump(), "subset": ref.num_samples, "subset_seed": 0}
    if "split" in type(dataset).model_fields:
        data["split"] = ref.split
    try:
        cfg = type(dataset).model_validate(data)
    except ValidationError as err:
        where, message = first_problem(err)
        raise UserError(f"{field}.reference: {where}: {message} (dataset {dataset.name})") from None
    DATASETS.get(cfg.name).check(cfg)
    return cfg


@dataclass(frozen=True)
class ReferenceStats:
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None  # kept when a metric needs them (KID)
    count: int
    key: dict[str, Any]


_LOADED: dict[Path, ReferenceStats] = {}


def pixel_recipe(cfg: DatasetConfig) -> dict[str, Any]:
    """What decides the pixels a model sees: dataset, size, channels and the fit actually
    applied (``auto`` keyed as what it resolves to, so both spellings share a cache)."""
    source = DATASETS.get(cfg.name)
    channels, size, _ = source.sample_shape(cfg)
    fit, native = getattr(cfg, "fit", None), getattr(source, "native_size", None)
    if fit is not None and native is not None:
        fit = resolve_fit(fit, native, native, size)
    recipe = {"dataset": cfg.name, "image_size": size, "channels": channels, "fit": fit}
    return {**recipe, **source.cache_identity(cfg)}


def describe_reference(ref_cfg: DatasetConfig, count: int) -> dict[str, Any]:
    """The reference as a value's protocol names it."""
    return {
        "dataset": ref_cfg.name,
        "split": getattr(ref_cfg, "split", None),
        "image_size": ref_cfg.image_size,
        "channels": DATASETS.get(ref_cfg.name).sample_shape(ref_cfg)[0],
        "fit": getattr(ref_cfg, "fit", None),
        "num_examples": count,
    }


def reference_key(ref_cfg: DatasetConfig, extractor_id: str) -> dict[str, Any]:
    n = DATASETS.get(ref_cfg.name).num_examples(ref_cfg)
    return {
        **pixel_recipe(ref_cfg),
        "split": getattr(ref_cfg, "split", None),
        "count": n,
        "subset_seed": ref_cfg.subset_seed if ref_cfg.subset is not None else None,
        "extractor": extractor_id,
    }


def reference_stats(
    ref_cfg: DatasetConfig,
    extractor_id: str,
    extract: Callable[[torch.Tensor], np.ndarray],
    keep_features: bool = False,
) -> tuple[ReferenceStats, dict[str, Any]]:
    """Statistics of ``extract`` over the reference images, and where they came from."""
    key = reference_key(ref_cfg, extractor_id)
    name = f"{key['dataset']}-{key['split']}-{key['image_size']}px-{key['count']}"
    path = cache_dir("reference-stats") / f"{name}-{digest(key)}.npz"
    t0 = time.perf_counter()
    stats, status = _LOADED.get(path), "memory"
    if stats is None or (keep_features and stats.features is None):
        stats, status = _read(path, key, keep_features), "disk"
    if stats is None:
        with building(path):  # another process may be computing them: wait, then read
            stats = _read(path, key, keep_features)
            if stats is None:
                stats, status = _compute(ref_cfg, key, extract, keep_features), "computed"
                _write(path, stats)
    _LOADED[path] = stats
    info = {"cache": status, "path": str(path), "seconds": time.perf_counter() - t0}
    return stats, info


def _compute(
    ref_cfg: DatasetConfig,
    key: dict[str, Any],
    extract: Callable[[torch.Tensor], np.ndarray],
    keep_features: bool,
) -> ReferenceStats:
    images = DATASETS.get(ref_cfg.name).load(ref_cfg).values
    features = extract(images)
    mu, sigma = gaussian_stats(features)
    kept = np.asarray(features, dtype=np.float32) if keep_features else None
    return ReferenceStats(mu, sigma, kept, len(images), key)


def _read(path: Path, key: dict[str, Any], keep_features: bool) -> ReferenceStats | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if json.loads(str(f["key"])) != json.loads(json.dumps(key, default=str)):
                return None
            features = f["features"] if "features" in f.files else None
            if keep_features and features is None:
                return None
            return ReferenceStats(f["mu"], f["sigma"], features, int(f["count"]), key)
    except (OSError, ValueError, KeyError):  # a torn or foreign file: compute it again
        return None


def _write(path: Path, stats: ReferenceStats) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"mu": stats.mu, "sigma": stats.sigma, "count": np.array(stats.count)}
    if stats.features is not None:
        arrays["features"] = stats.features
    with atomic_file(path) as partial, open(partial, "wb") as f:
        np.savez(f, key=np.array(json.dumps(stats.key, default=str)), **arrays)


def forget_loaded() -> None:
    """Drop what this process has loaded (tests use it to reach the disk cache)."""
    _LOADED.clear()


def read_stats_file(
    path: Path, dims: int, extractor_id: str, field: str, features: bool = False
) -> tuple[ReferenceStats, dict[str, Any]]:
    """Reference statistics given as a file instead of computed from a dataset: an .npz
    with ``mu`` and ``sigma`` (pytorch-fid's format), or one of ganbench's own cache
    files (which also name their extractor, checked here, and may hold the features).

    Returns the statistics and the file as a protocol names it; UserError naming
    ``field`` and the file on every problem."""
    what = f"{field}: {path}"
    if not path.is_file():
        raise UserError(f"{what}: no such file (an .npz of the reference's mu and sigma)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{what}: not a readable .npz ({type(err).__name__})") from None
    mu, sigma = arrays.get("mu"), arrays.get("sigma")
    if mu is None or sigma is None:
        raise UserError(f"{what}: no mu and sigma in it (found: {', '.join(arrays) or 'nothing'})")
    if mu.shape != (dims,) or sigma.shape != (dims, dims):
        raise UserError(
            f"{what}: mu {mu.shape} and sigma {sigma.shape} are not statistics of {dims}-d "
            "features (the extractor's)"
        )
    key = _recorded_key(arrays)
    recorded = key.get("extractor")
    if recorded is not None and recorded != extractor_id:
        raise UserError(
            f"{what}: statistics of feature extractor {recorded}, not of this one "
            f"({extractor_id}): compute them with the same weights"
        )
    kept = arrays.get("features")
    if features and kept is None:
        raise UserError(
            f"{what}: holds mu and sigma only; KID needs the reference's features: give a "
            "reference dataset instead, or leave kid out"
        )
    count = int(arrays["count"]) if "count" in arrays else (len(kept) if kept is not None else None)
    stats = ReferenceStats(mu.astype(np.float64), sigma.astype(np.float64), kept, count or 0, key)
    described = {
        "stats_file": str(path),
        "sha256": sha256_of(path),
        "num_examples": count,
        "extractor_checked": recorded is not None,  # pytorch-fid's files do not say
    }
    return stats, described


def _recorded_key(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """What a ganbench cache file says produced it ({} for other files)."""
    try:
        key = json.loads(str(arrays["key"])) if "key" in arrays else {}
    except ValueError:
        return {}
    return key if isinstance(key, dict) else {}
