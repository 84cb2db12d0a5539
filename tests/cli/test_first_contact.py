"""The commands as a new user types them (issue: first contact): every problem of a suite
in one message with its fix, and a dry run that shows the plan without the data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
import yaml

from ganbench.metrics.inception import hub_weights_path
from ganbench.results import RunStore
from tests.cli.test_commands import invoke
from tests.conftest import tiny_suite

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
    assert "suite thesis: 18 runs" in output and "svre-thesis-code-seed1" in output
    expected = expected_thesis_problems()
    if expected:
        assert f"before training, fix ({len(expected)}):" in output
        for problem in expected:
            assert problem in output
    else:
        assert "no problems found: ready to train" in output


def train_tiny(tmp_path: Path, name: str, baseline: bool = True, **defaults: Any) -> Path:
    """A finished two-run suite under tmp_path/reports/<name> (the cwd's reports/)."""
    suite = tiny_suite(**defaults)
    suite.update(name=name, output_dir=f"reports/{name}", runs=[{"name": "base"}, {"name": "b"}])
    if baseline:
        suite["baseline"] = "base"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    result = invoke("train-suite", str(path))
    assert result.exit_code == 0, result.output
    return tmp_path / "reports" / name


def test_report_runs_and_latency_with_nothing_named(tmp_path, monkeypatch, own_home) -> None:
    """`ganbench report` reports the suite folder written last (and says so), `--all`
    every one; `ganbench runs` lists them; `ganbench latency` times the newest suite's
    baseline run."""
    monkeypatch.chdir(tmp_path)
    result = invoke("report")
    assert result.exit_code == 2 and "no suite folders known yet" in result.output
    train_tiny(tmp_path, "older")
    time.sleep(0.05)  # distinct modification times
    newer = train_tiny(tmp_path, "newer")
    result = invoke("report")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "reporting reports/newer, the suite folder written last; 1 more there" in output
    assert (newer / "report.md").is_file()
    assert not (tmp_path / "reports" / "older" / "report.md").exists()
    result = invoke("report", "--all")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "older" / "report.md").is_file()
    result = invoke("runs")
    output = " ".join(result.output.split())
    assert result.exit_code == 0
    assert output.index("reports/newer") < output.index("reports/older")
    assert output.count("2 finished") == 2
    result = invoke("latency", "--batch-sizes", "1,2", "--repeats", "3", "--warmup", "1")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "timing reports/newer/base-seed0/checkpoint.pt: the baseline run of" in output
    assert "timing a mlp generator" in output


def test_latency_with_nothing_to_time_falls_back_to_the_thesis_sagan(
    tmp_path, monkeypatch, own_home
):
    monkeypatch.chdir(tmp_path)
    train_tiny(tmp_path, "nobase", baseline=False)
    result = invoke("latency", "--batch-sizes", "1", "--repeats", "2", "--warmup", "1")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "the thesis SAGAN (Table 3.1), freshly initialised: no baseline-run checkpoint" in output
    assert "timing a sagan generator" in output


def test_metrics_named_but_not_in_the_suite_are_added_or_refused(tmp_path, monkeypatch):
    """``--metrics`` used to drop every metric it did not find (exit 0, no quality)."""
    monkeypatch.chdir(tmp_path)
    suite = tiny_suite(evaluation={"metrics": [], "every_iterations": 3, "num_samples": 64})
    suite.update(name="m", output_dir="reports/m")
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(suite))
    result = invoke("train-suite", str(path), "--metrics", "mixture")
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "reports" / "m").glob("*-seed0")
    summary = RunStore(folder).read_summary()
    assert "mixture" in summary["metrics_protocol"], summary["metrics_protocol"]
    result = invoke("train-suite", str(path), "--metrics", "fd_classifier", "--fresh")
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "fd_classifier" in output, output


def test_a_budget_override_replaces_the_suite_s_budget_unless_kept(monkeypatch) -> None:
    """The quick suite stops at 150 iterations or 60 s: ``--set budget.iterations=30``
    used to keep the 60 s (svre did 1 of 30 iterations on a busy machine)."""
    from ganbench.config import load_suite

    monkeypatch.chdir(ROOT)
    (run, *_) = load_suite(Path("suites/quick.yaml"), ["budget.iterations=30"]).runs
    assert run.budget.iterations == 30 and run.budget.wall_seconds is None
    (run, *_) = load_suite(
        Path("suites/quick.yaml"), ["budget.iterations=30"], keep_budget=True
    ).runs
    assert run.budget.iterations == 30 and run.budget.wall_seconds == 60
    result = invoke(
        "train-suite",
        "suites/quick.yaml",
        "--set",
        "budget.iterations=30",
        "--keep-budget",
        "--dry-run",
    )
    assert result.exit_code == 0 and "30 it, 60 s" in result.output


def test_the_report_shows_each_configuration_s_samples(tmp_path, monkeypatch, own_home) -> None:
    monkeypatch.chdir(tmp_path)
    folder = train_tiny(tmp_path, "pictures")
    result = invoke("report", str(folder))
    assert result.exit_code == 0, result.output
    markdown = (folder / "report.md").read_text()
    for name in ("base", "b"):
        caption = f"samples of {name} ({name}-seed0, fixed noise, last evaluation)"
        assert f"![{caption}](" in markdown, markdown
    html = (folder / "report.html").read_text()
    assert html.count("<img") >= 2 and "samples of base" in html
    # Evaluated during training too: the first and the last grids side by side.
    folder = train_tiny(tmp_path, "progress", evaluation={"every_iterations": 3})
    assert len(list((folder / "base-seed0" / "samples").glob("iter*.png"))) == 2  # 3, 6
    assert invoke("report", str(folder)).exit_code == 0
    caption = "samples of base (base-seed0, fixed noise): first and last evaluation"
    assert f"![{caption}](report/samples_0.png)" in (folder / "report.md").read_text()
    height, width, _ = plt.imread(folder / "report" / "samples_0.png").shape
    assert width > 1.5 * height  # two grids in a row


def test_check_as_typed_gates_the_newest_folder_against_its_suite_s_baseline(
    tmp_path, monkeypatch, own_home
) -> None:
    """`ganbench check` with nothing named: the suite folder written last against
    baselines/<suite>.json, which `ganbench baseline save` writes; missing, it says how
    to make one."""
    from tests.report.test_report import SPEEDS, suite_of

    monkeypatch.chdir(tmp_path)
    for command in (["check"], ["baseline", "save"]):  # nothing trained yet
        result = invoke(*command)
        assert result.exit_code == 2
        hint = f"ganbench {' '.join(command)} path/to/suite"
        assert "no suite folders known yet" in result.output and hint in result.output
    suite_of(Path("reports") / "gate", SPEEDS)
    result = invoke("check")
    assert result.exit_code == 2
    assert "no baseline for reports/gate at baselines/gate.json: save one" in result.output
    assert "ganbench baseline save reports/gate" in result.output
    result = invoke("baseline", "save")
    assert result.exit_code == 0, result.output
    assert "written: baselines/gate.json" in result.output
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert "checking reports/gate against baselines/gate.json" in result.output
    assert "PASS" in result.output
    suite_of(Path("reports") / "slower", {"a": [900, 904.5, 895.5], "b": [500, 502, 498]})
    result = invoke("check", "reports/slower", "--baseline", "baselines/gate.json")
    assert result.exit_code == 1 and "regression" in result.output  # named: as before
