"""What makes two recorded figures comparable: the configuration (its resolved settings
without seed and paths), the machine (its fingerprint) and, for quality figures, the metric
pipeline (extractor, weights, reference statistics, resizing, sample count). Each is a
mapping of named fields and a short id hashed from them, so a refusal can name the field
that differs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ganbench.report.check import MACHINE_KEYS

# The machine fingerprint: the fields the regression gate compares (the GPU's maximum and
# application clocks, not the momentary ones), and the device counts and cuDNN.
FINGERPRINT_KEYS = (*MACHINE_KEYS, "cpu_count", "gpu_count", "cudnn")
# Resolved-config fields that do not change what is measured: the seed, how a run is
# named, where it fell in the suite's order, where its data lives (dotted paths from the
# top; a ``name`` deeper down, a dataset's or a model's, is a setting like any other).
UNMEASURED_CONFIG_PATHS = ("seed", "name", "schedule", "output_dir", "dataset.root")


def short_hash(fields: Any) -> str:
    """12 hex digits of the SHA-256 of ``fields`` as canonical JSON."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fingerprint(environment: Mapping[str, Any]) -> dict[str, Any]:
    """The machine fingerprint's fields of a run's recorded environment (a field the run
    did not record is None)."""
    return {key: environment.get(key) for key in FINGERPRINT_KEYS}


def machine_label(fields: Mapping[str, Any]) -> str:
    """``NVIDIA H100 80GB HBM3 x1, driver 550.54`` or ``AMD EPYC x2 CPUs, 2 threads``."""
    if fields.get("gpu_name"):
        count = fields.get("gpu_count") or 1
        return f"{fields['gpu_name']} x{count}, driver {fields.get('driver')}"
    cpus = fields.get("cpu_model") or "CPU"
    if fields.get("cpu_count"):
        cpus += f" x{fields['cpu_count']} CPUs"
    threads = fields.get("torch_threads")
    return f"{cpus}, {threads} thread{'' if threads == 1 else 's'}" if threads else cpus


def config_identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved configuration without its seed, name, order and data folder."""
    kept = json.loads(json.dumps(config, default=str))  # a deep copy, plain types
    for path in UNMEASURED_CONFIG_PATHS:
        *parents, last = path.split(".")
        node = kept
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return kept


ALL_PIPELINES = "*"  # the run's metric protocols together: values no protocol names alone


def pipeline_ids(protocols: Mapping[str, Any]) -> dict[str, str]:
    """metric -> its pipeline's id, and ``*`` -> the id of all of them together (a value
    such as KID, computed by another metric's pipeline, is compared on that)."""
    ids = {m: short_hash(p) for m, p in protocols.items()}
    return {**ids, ALL_PIPELINES: short_hash(protocols)} if ids else {}


def metric_of(figure: str) -> str | None:
    """The metric a quality figure belongs to (``quality.fid.best`` -> ``fid``)."""
    parts = figure.split(".")
    if parts[0] in ("quality", "time_to_target") and len(parts) > 2:
        return parts[1]
    return None
