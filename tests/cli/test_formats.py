"""``--format md|json|csv`` on report, check and latency (one document on stdout, people's
text on stderr, the same exit codes) and check's GitHub job summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ganbench.cli import app
from tests.report.test_report import SPEEDS, baseline_file, suite_of

runner = CliRunner()


def invoke(*args, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


def test_report_formats_print_one_document_on_stdout(tmp_path: Path) -> None:
    folder = suite_of(tmp_path / "s", SPEEDS)
    document = json.loads(invoke("report", folder, "--format", "json").stdout)
    summary = {row["configuration"]: row for row in document["summary"]}
    assert summary["a"]["images_per_s.mean"] == pytest.approx(1000.0)
    assert summary["b"]["images_per_s.mean"] == pytest.approx(500.0)
    assert document["files"]["md"] == str(folder / "report.md")
    assert document["tables"][0]["headers"][0] == "configuration"
    frame = pd.read_csv(io.StringIO(invoke("report", folder, "--format", "csv").stdout))
    assert list(frame["configuration"]) == ["a", "b"]
    assert frame.equals(pd.read_csv(folder / "summary.csv"))  # the file, as written
    md = invoke("report", folder, "--format", "md").stdout
    assert md == (folder / "report.md").read_text()
    every = invoke("report", folder, tmp_path / "none", "--format", "json")
    assert every.exit_code == 2 and not every.stdout  # nothing half-written on stdout


def test_report_all_as_csv_names_each_folder(tmp_path: Path, monkeypatch, own_home) -> None:
    monkeypatch.chdir(tmp_path)
    suite_of(tmp_path / "reports" / "one", SPEEDS)
    suite_of(tmp_path / "reports" / "two", {"a": [10, 11]})
    result = invoke("report", "--all", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert sorted(set(frame["folder"])) == ["reports/one", "reports/two"]
    assert "reporting every suite folder" in result.stderr  # people's text, not stdout
    documents = json.loads(invoke("report", "--all", "--format", "json").stdout)
    assert len(documents) == 2


def test_check_formats_keep_the_exit_code_and_fill_the_job_summary(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, SPEEDS)
    slow = suite_of(tmp_path / "slow", {"a": [900, 904.5, 895.5], "b": [500, 502, 498]})
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary_file)}
    result = invoke("check", slow, "--baseline", baseline, "--format", "json", env=env)
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is False
    verdicts = {(v["configuration"], v["figure"]): v for v in document["verdicts"]}
    slower = verdicts[("a", "images_per_s")]
    assert slower["verdict"] == "regression" and slower["failed"] is True
    assert slower["change"] == pytest.approx(-0.10)
    assert "FAIL: 1 regression(s)" in result.stderr  # images/s (it/s: the same quantity)
    written = summary_file.read_text()
    assert written.startswith("earlier step\n")  # appended, as GitHub expects
    assert f"ganbench check {slow}: FAIL" in written
    assert "| a | images_per_s |" in written and "regression" in written
    rows = pd.read_csv(
        io.StringIO(invoke("check", slow, "--baseline", baseline, "--format", "csv").stdout)
    )
    assert len(rows) == len(document["verdicts"])
    assert rows["detectable"].dtype == float and rows["detectable"].max() < 1  # fractions
    assert set(rows["verdict"]) == {"regression", "ok"}
    passing = invoke("check", tmp_path / "base", "--baseline", baseline, "--format", "md")
    assert passing.exit_code == 0 and "PASS" in passing.stdout.splitlines()[0]


def test_latency_formats(tmp_path: Path) -> None:
    args = ["latency", "--model", "mlp", "--batch-sizes", "1,2", "--repeats", "2"]
    common = [*args, "--warmup", "1", "--output", tmp_path / "lat"]
    as_json = invoke(*common, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert [r["batch_size"] for r in document["rows"]] == [1, 2]
    assert "timing a mlp generator" in as_json.stderr
    rows = pd.read_csv(io.StringIO(invoke(*common, "--format", "csv").stdout))
    assert list(rows["batch_size"]) == [1, 2] and set(rows["status"]) == {"ok"}
    md = invoke(*common, "--format", "md").stdout.splitlines()
    assert md[0] == "**latency of the mlp generator on cpu**"
    assert md[2].startswith("| precision | compile | batch | status | p50 ms")
    assert len(md) == 6  # title, blank, header, rule, two rows
    assert json.loads(invoke(*common, "--json").stdout)["rows"]  # the older spelling
