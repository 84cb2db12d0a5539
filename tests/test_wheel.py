"""ganbench from its wheel, not the checkout: from an empty folder the built-in quick suite
trains, `ganbench report` reports it and `ganbench latency` times it, and what outlives
the commands goes to ganbench's home. (CI also installs the wheel with the locked set in
a fresh virtual environment: .ci/wheel_check.sh.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ganbench.home import DATA_ENV, HOME_ENV
from tests.conftest import ROOT, needs_fmnist


def build_wheel(dest: Path) -> Path:
    """The wheel of this checkout (setuptools from this environment: offline; a stale
    build/ removed first, or what it still holds would ship)."""
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dest), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dest.glob("ganbench-*.whl")
    return wheel


@pytest.mark.slow
@needs_fmnist
def test_the_wheel_trains_reports_and_times_quick_from_an_empty_folder(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"ganbench/suites/{n}.yaml" for n in ("quick", "thesis")} <= set(names)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    empty, home = tmp_path / "empty", tmp_path / "home"
    empty.mkdir()
    # The wheel's ganbench ahead of the checkout's (its dependencies from this environment).
    env = {**os.environ, "PYTHONPATH": str(site), HOME_ENV: str(home)}
    env[DATA_ENV] = os.environ[DATA_ENV]  # Fashion-MNIST where the session found it

    def ganbench(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ganbench", *args],
            cwd=empty, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join((done.stdout + done.stderr).split())

    where = subprocess.run(
        [sys.executable, "-c", "import ganbench; print(ganbench.__file__)"],
        cwd=empty, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert Path(where.strip()).is_relative_to(site), where

    ganbench("train-suite", "quick", "--only", "alternating", "--seeds", "0", "--metrics",
             "none", "--set", "budget.iterations=10")  # fmt: skip
    summary = json.loads((empty / "reports/quick/alternating-seed0/summary.json").read_text())
    assert summary["status"] == "finished" and summary["iterations"] == 10
    assert "reporting reports/quick, the suite folder written last" in ganbench("report")
    assert (empty / "reports/quick/report.md").is_file()
    timed = ganbench("latency", "--batch-sizes", "1,32,256", "--min-time", "0.05")
    assert "timing reports/quick/alternating-seed0/checkpoint.pt" in timed
    assert (home / "suites.json").is_file()
    assert sorted(p.name for p in empty.iterdir()) == ["reports"]  # no data/ here
