"""Every table at 80 columns (a laptop terminal, a CI log with COLUMNS=80): no number
split across lines, no line wider than the terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ganbench.cli.console import console, err_console
from tests.cli.test_commands import invoke
from tests.conftest import tiny_suite

NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w.])")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A finished suite of two configurations x two seeds, its file, and a latency run."""
    root = tmp_path_factory.mktemp("narrow")
    suite = tiny_suite(evaluation={"metrics": ["mixture"], "every_iterations": 3})
    suite.update(
        output_dir=str(root / "out"),
        baseline="alternating-configuration",
        runs=[
            {"name": "alternating-configuration"},
            {"name": "srfb-configuration", "strategy": "srfb"},
        ],
        matrix={"seed": [0, 1]},
    )
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert invoke("train-suite", str(path)).exit_code == 0
    checkpoint = root / "out" / "alternating-configuration-seed0" / "checkpoint.pt"
    result = invoke(
        "latency",
        "--checkpoint",
        str(checkpoint),
        "--batch-sizes",
        "1,2",
        "--repeats",
        "3",
        "--warmup",
        "1",
        "--output",
        str(root / "lat"),
    )
    assert result.exit_code == 0, result.output
    baseline = root / "baseline.json"
    assert invoke("baseline", "save", str(root / "out"), "-o", str(baseline)).exit_code == 0
    return path, root


def at_width(monkeypatch, width: int, *args: str) -> str:
    monkeypatch.setattr(console, "width", width)
    monkeypatch.setattr(err_console, "width", width)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_table_fits_80_columns_without_splitting_a_number(trained, monkeypatch) -> None:
    path, root = trained
    commands = [
        ("train-suite", str(path)),  # finished: skips, and prints the stored results' tables
        ("train-suite", str(path), "--dry-run"),
        ("report", str(root / "out"), "--latency", str(root / "lat")),
        ("check", str(root / "out"), "--baseline", str(root / "baseline.json"), "--allow-blind"),
        ("runs", str(root)),
    ]
    for args in commands:
        wide = at_width(monkeypatch, 250, *args)
        narrow = at_width(monkeypatch, 80, *args)
        too_wide = [line for line in narrow.splitlines() if len(line) > 80]
        assert not too_wide, (args, too_wide)
        split = set(NUMBER.findall(wide)) - set(NUMBER.findall(narrow))
        assert not split, (args, sorted(split), narrow)
