"""The commands as a new user types them (issue: first contact): every problem of a suite
in one message with its fix, and a dry run that shows the plan without the data."""

from __future__ import annotations

from pathlib import Path

import torch

from ganbench.metrics.inception import hub_weights_path
from tests.cli.test_commands import invoke

ROOT = Path(__file__).resolve().parents[2]


def expected_thesis_problems() -> list[str]:
    """What this machine lacks for suites/thesis.yaml, as the messages start."""
    expected = []
    if not (ROOT / "data" / "cifar-10-batches-py").is_dir():
        expected.append("dataset.name: cifar10 not found")
    if not hub_weights_path().is_file():
        expected.append("the Inception weights pt_inception-2015-12-05-6726825d.pth are missing")
    if not torch.cuda.is_available():
        expected.append("device: cuda requested but no CUDA device is visible")
    return expected


def test_the_thesis_suite_reports_every_problem_at_once_with_its_fix(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    expected = expected_thesis_problems()
    result = invoke("train-suite", "suites/thesis.yaml")
    output = " ".join(result.output.split())
    if not expected:
        return  # a machine with CIFAR-10, the weights and a GPU: nothing to report
    assert result.exit_code == 2, output
    for problem in expected:
        assert output.count(problem) == 1, (problem, output)  # each once
    if len(expected) > 1:
        assert f"{len(expected)} problems, each with its fix:" in output
    assert "--set dataset.name=fashion-mnist" in output or "cifar10" not in output
    assert "--set device=cpu" in output or torch.cuda.is_available()


def test_a_dry_run_shows_the_plan_and_the_same_problems_without_the_data(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("train-suite", "suites/thesis.yaml", "--dry-run")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "suite thesis: 10 runs" in output and "svre-double-seed1" in output
    expected = expected_thesis_problems()
    if expected:
        assert f"before training, fix ({len(expected)}):" in output
        for problem in expected:
            assert problem in output
    else:
        assert "no problems found: ready to train" in output
