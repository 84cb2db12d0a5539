"""A suite trained once for the export tests, logging live to all three tools."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ganbench.cli import app
from tests.conftest import tiny_suite


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def tool_env(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """W&B offline with its config and caches in ``root``; no tracking URI from outside."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(root / name.lower()))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def suite_yaml(root: Path) -> Path:
    """Two configurations, evaluations with sample grids, the noise scale, a profiler
    window: every kind of figure a run writes."""
    suite = tiny_suite(
        budget={"iterations": 20},
        log_every=4,
        evaluation={"every_iterations": 8, "at_start": True, "metrics": [{"name": "mixture"}]},
        measure={"noise_scale": {"every": 4}},
        profile={"wait": 2, "warmup": 1, "active": 2},
    )
    suite.update(
        name="logged",
        output_dir=str(root / "out"),
        runs=[{"name": "alternating"}, {"name": "srfb", "strategy": {"name": "srfb"}}],
    )
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The suite trained once, logging live to all three tools."""
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as monkeypatch:
        tool_env(monkeypatch, root)
        monkeypatch.chdir(root)
        live = f"tensorboard={root / 'live-tb'},mlflow={root / 'live-ml'},wandb={root / 'live-wb'}"
        result = invoke("train-suite", str(suite_yaml(root)), "--log", live)
    assert result.exit_code == 0, result.output
    return root
