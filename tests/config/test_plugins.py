"""Plugins: a distribution on sys.path (a .dist-info with entry points) adds a model that
suites name like a built-in; a broken entry is one warning line and breaks nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ganbench.registry import Registry

PLUGIN = '''
from typing import Literal

from ganbench.models.mlp import MLP, MLPConfig


class TinyConfig(MLPConfig):
    name: Literal["tiny"] = "tiny"


class Tiny(MLP):
    """The MLP family under another name, as a plugin would register its own."""

    Config = TinyConfig
'''


def install_plugin(root: Path) -> Path:
    """tinyplug 0.1 as pip would leave it: the package and its .dist-info."""
    (root / "tinyplug").mkdir(parents=True)
    (root / "tinyplug" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "tinyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[ganbench.models]\ntiny = tinyplug:Tiny\nbroken = tinyplug.nothere:X\n"
        "[ganbench.losses]\nhinge = tinyplug:Tiny\n"
    )
    return root


def ganbench(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "ganbench", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_a_plugins_model_is_listed_and_trains_and_a_broken_one_is_named(tmp_path) -> None:
    root = install_plugin(tmp_path / "site")
    listed = ganbench(root, "list", "models", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "tiny (tinyplug 0.1)" in listed.stdout and "hidden = 128" in listed.stdout
    warnings = [line for line in listed.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, listed.stderr
    assert "plugin model 'broken' (tinyplug 0.1, tinyplug.nothere:X) left out: " in warnings[0]
    assert "ModuleNotFoundError" in warnings[0]
    assert "plugin loss 'hinge'" in warnings[1] and "taken by built-in" in warnings[1]
    suite = {
        "name": "plug",
        "output_dir": str(tmp_path / "out"),
        "defaults": {
            "dataset": {"name": "gaussian-mixture", "num_samples": 256},
            "model": {"name": "tiny", "latent_dim": 4, "hidden": 16, "depth": 1},
            "budget": {"iterations": 4},
            "batch": {"size": 32},
            "device": "cpu",
        },
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    trained = ganbench(root, "train-suite", "suite.yaml", cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert (tmp_path / "out" / "plug-seed0" / "summary.json").is_file()


def test_the_registry_names_where_each_entry_comes_from() -> None:
    registry: Registry[type] = Registry("model")
    registry.register("a")(int)
    registry.register("b", origin="tinyplug 0.1")(str)
    assert registry.origin("a") == "built-in" and registry.origin("b") == "tinyplug 0.1"
