"""Shared fixtures: tiny run configs, suite files, the gpu marker, Fashion-MNIST, and a
ganbench home of the test session's own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

if os.environ.get("PYTEST_XDIST_WORKER"):
    # xdist hands its workers COLUMNS=80; a plain run's piped output is 140 wide: the
    # same words either way (ganbench's console reads it once, at import).
    os.environ.pop("COLUMNS", None)
    # One thread per worker (and per process it starts): two workers on two cores, not
    # four threads fighting over them.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# Suites train their runs in the test's own process (the launcher's --in-process): a new
# process per run would cost each test seconds of imports. The default, a process per
# run, has tests of its own (tests/launchers/test_own_process.py) that unset this.
os.environ["GANBENCH_IN_PROCESS"] = "1"

import pytest
import torch
import yaml

from ganbench.config import RunConfig
from ganbench.data.images import DEBIAN_FASHION_MNIST, FashionMNIST, has_idx
from ganbench.home import DATA_ENV, HOME_ENV, data_root

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


# Where `make data` put Fashion-MNIST (ganbench's data folder, as every command finds it),
# read before the session's own home replaces the user's; the Debian files otherwise.
FMNIST_RAW = data_root() / FashionMNIST.folder / "raw"
FMNIST_FOUND = has_idx(FMNIST_RAW) or has_idx(DEBIAN_FASHION_MNIST, ".gz")


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory):
    """ganbench's home for this test session, shared by its xdist workers (a classifier
    is trained once, the other worker waits for it as a second process would): metric
    caches start empty, and the suite folders tests write are not the user's. A test
    that needs to be the only writer of remembered folders takes ``own_home``."""
    base = tmp_path_factory.getbasetemp()
    home = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "home"
    before = {key: os.environ.get(key) for key in (HOME_ENV, DATA_ENV)}
    os.environ[HOME_ENV] = str(home)
    os.environ[DATA_ENV] = str(home / "data")
    (home / "data").mkdir(parents=True, exist_ok=True)
    if has_idx(FMNIST_RAW):  # the data `make data` fetched, read where it is
        try:
            (home / "data" / FashionMNIST.folder).symlink_to(FMNIST_RAW.parent)
        except FileExistsError:  # the other worker's
            pass
    yield home
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ganbench home of this test's alone: the suite folders it writes are the only
    ones remembered (what `report`, `check` and `latency` take when nothing is named)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fashion_mnist_present() -> None:
    """Skip where Fashion-MNIST is not to be had, but fail under CI: there a skip would
    be a set-up that did not run `make data`, not a pass."""
    if FMNIST_FOUND:
        return
    why = f"Fashion-MNIST is neither in {FMNIST_RAW} nor in {DEBIAN_FASHION_MNIST} (make data)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI must not skip these tests")
    pytest.skip(why)


needs_fmnist = pytest.mark.usefixtures("fashion_mnist_present")


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder of this test session holding Fashion-MNIST (copied from where `make
    data` put it, else from the Debian files on first use)."""
    root = tmp_path_factory.mktemp("data")
    if has_idx(FMNIST_RAW):
        shutil.copytree(FMNIST_RAW, root / FashionMNIST.folder / "raw")
    return root
