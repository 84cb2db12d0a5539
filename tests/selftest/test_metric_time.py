"""`ganbench selftest metric-time`: one metric's cost per evaluation, and its refusals."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ganbench.cli import app
from tests.conftest import tiny_suite


def invoke(*args: str):
    return CliRunner().invoke(app, ["selftest", "metric-time", *args])


def test_times_a_metric_and_writes_json(write_suite, tmp_path) -> None:
    path = write_suite(tiny_suite())
    out = tmp_path / "mixture.json"
    common = ("--suite", str(path), "--run", "tiny", "--metric", "mixture")
    result = invoke(*common, "--num-samples", "64", "--repeats", "2", "--output", str(out))
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["metric"] == "mixture" and figures["num_samples"] == 64
    assert figures["repeats"] == 2 and figures["median_s"]["total"] > 0
    assert set(figures["median_s"]) >= {"total", "generate", "mixture"}
    assert figures["values"] and all(v is None or v == v for v in figures["values"].values())
    text = result.output
    assert "values: modes_covered " in text and "{" not in text  # read as words, not a dict
    for line in text.splitlines():  # no float printed to 16 digits
        assert not any(len(word) > 10 and word[:2] == "0." for word in line.split()), line


def test_bad_options_get_one_line_and_exit_2(write_suite) -> None:
    path = write_suite(tiny_suite())
    common = ("--suite", str(path), "--run", "tiny")
    for args, expected in (
        (("--metric", "mixture", "--device", "bogus"), "--device bogus: choose one of"),
        (("--metric", "mixture", "--reference-samples", "10"), "has no reference"),
        (("--metric", "mixture", "--weights", "w.pth"), "has no weights"),
        (("--metric", "nope"), "unknown metric 'nope'"),
    ):
        result = invoke(*common, *args)
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
