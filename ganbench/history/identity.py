"""What makes two recorded figures comparable: the configuration (its resolved settings
without seed and paths), the machine (its fingerprint) and, for quality figures, the metric
pipeline (extractor, weights, reference statistics, resizing, sample count). Each is a
mapping of named fields and a short id hashed from them, so a refusal can name the field
that differs. Also the repository a suite ran from: commit, branch, dirty flag."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The machine fingerprint: the fields that make speed figures incomparable when they
# differ (the GPU's maximum and application clocks, not the momentary ones).
FINGERPRINT_KEYS = (
    "device",
    "cpu_model",
    "cpu_count",
    "gpu_name",
    "gpu_count",
    "driver",
    "cuda",
    "cudnn",
    "torch",
    "torch_threads",
    "gpu_power_limit_w",
    "gpu_sm_clock_max_mhz",
    "gpu_mem_clock_max_mhz",
    "gpu_sm_clock_app_mhz",
    "gpu_mem_clock_app_mhz",
    "gpu_mig_mode",
)
# Resolved-config fields that do not change what is measured: the seed, where the data
# and the results live, how a run is named, where it fell in the suite's order.
UNMEASURED_CONFIG_KEYS = ("seed", "name", "output_dir", "root", "path", "folder", "schedule")
# Human names of the pipeline fields a refusal names most often.
PIPELINE_NAMES = {
    "weights_sha256": "Inception weights hash",
    "sha256": "reference statistics hash",
    "num_samples": "sample count",
    "feature_extractor": "feature extractor",
    "input": "resizing and input range",
}


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
    cpus = f"{fields.get('cpu_model') or 'CPU'} x{fields.get('cpu_count')} CPUs"
    return f"{cpus}, {fields.get('torch_threads')} threads"


def config_identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved configuration without its seed, name and paths, nested as it was."""
    return _without(config, UNMEASURED_CONFIG_KEYS)


def _without(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, Mapping):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def pipeline_of(protocols: Mapping[str, Any] | None, metric: str) -> dict[str, Any] | None:
    """One metric's pipeline (its recorded protocol), or None where the run recorded none."""
    protocol = (protocols or {}).get(metric)
    return dict(protocol) if isinstance(protocol, Mapping) else None


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


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every field that differs, dotted and named: ``driver '550.54' vs '560.35'``,
    ``Inception weights hash differs (fid.weights_sha256 '1a2b...' vs '3c4d...')``."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found += differences(a, b, f"{name}.")
        elif a != b:
            shown = f"{name} {_short(a)} vs {_short(b)}"
            human = PIPELINE_NAMES.get(key)
            found.append(f"{human} differs ({shown})" if human and prefix else shown)
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "...'"


def repository(where: Path | None = None) -> dict[str, Any]:
    """The git repository ``where`` (default: the working directory) is in: commit (12
    hex digits), branch, dirty flag and the commit's date; CI's variables name the branch
    of a detached checkout. Outside a repository: commit None."""
    cwd = str(where or Path.cwd())
    commit = _git(cwd, "rev-parse", "--short=12", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": False, "commit_time": None}
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch in (None, "HEAD"):
        branch = next(
            (os.environ[v] for v in BRANCH_VARIABLES if os.environ.get(v)), branch or "HEAD"
        )
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": branch,
        "dirty": bool(status),
        "commit_time": _git(cwd, "show", "-s", "--format=%cI", "HEAD"),
    }


# A detached checkout's branch as CI systems name it (GitHub pull request, then push;
# GitLab; Buildkite).
BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH")


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
