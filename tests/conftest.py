"""Shared fixtures: tiny run configs, suite files, and the gpu marker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ganbench.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent  # the checkout: README.md, docs/, suites/
DOCS = ROOT / "docs"


def doc_pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def docs_text(page: str | None = None) -> str:
    """One documentation page ("README.md", or a page under docs/ such as "cluster.md"),
    or README.md and every docs/ page together when none is named."""
    if page is None:
        return "\n".join(path.read_text() for path in doc_pages())
    return (ROOT / page if page == "README.md" else DOCS / page).read_text()


def doc_section(page: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, e.g. "## Data") of one page, up
    to the next heading of the same or a higher level outside code blocks."""
    lines = docs_text(page).splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines)):
        fenced ^= lines[end].startswith("```")
        depth = len(lines[end]) - len(lines[end].lstrip("#"))
        if not fenced and 0 < depth <= level and lines[end][depth : depth + 1] == " ":
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def run_suite(suite: Any, plans: list[Any], observer: Any = None) -> list[Any]:
    """Execute planned runs in this process (the inline launcher)."""
    from ganbench.launchers.inline import InlineConfig, InlineLauncher

    return InlineLauncher(InlineConfig()).run_suite(suite, plans, observer)


def mixture_run(**overrides: Any) -> RunConfig:
    """A run that trains in milliseconds per step: MLP GAN on a 2-D ring of Gaussians."""
    base: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "gaussian-mixture", "num_samples": 512, "std": 0.1},
        "model": {"name": "mlp", "latent_dim": 4, "hidden": 16, "depth": 1},
        "loss": {"name": "bce"},
        "strategy": {"name": "alternating", "lr_g": 1e-3, "lr_d": 1e-3},
        "batch": {"size": 32},
        "budget": {"iterations": 20},
        "checkpoint": {"every_iterations": 5, "every_seconds": None},
        "log_every": 1,
        "device": "cpu",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and "name" not in value:
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return RunConfig.model_validate(base)


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite mapping to a YAML file; output goes under tmp_path."""

    def write(suite: dict[str, Any], name: str = "suite.yaml") -> Path:
        suite = {"output_dir": str(tmp_path / "out"), **suite}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(suite, sort_keys=False))
        return path

    return write


def tiny_suite(**defaults: Any) -> dict[str, Any]:
    base = {
        "dataset": {"name": "gaussian-mixture", "num_samples": 256},
        "model": {"name": "mlp", "latent_dim": 4, "hidden": 16, "depth": 1},
        "budget": {"iterations": 6},
        "batch": {"size": 32},
        "log_every": 2,
        "device": "cpu",
    }
    base.update(defaults)
    return {"name": "tiny", "defaults": base}


needs_fmnist = pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (make data installs it)",
)


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder of this test session: Fashion-MNIST is copied in from the Debian files
    on first use, and the metric caches (classifier, reference statistics) start empty."""
    return tmp_path_factory.mktemp("data")
