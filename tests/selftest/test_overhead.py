"""`ganbench selftest overhead`: the bare step against the instrumented loop."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ganbench.cli import app
from tests.conftest import tiny_suite


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_selftest_overhead_prints_the_ratio_and_the_null_step_cost(write_suite, tmp_path):
    path = write_suite(tiny_suite())
    out = tmp_path / "overhead.json"
    args = ("--suite", str(path), "--run", "tiny", "--rounds", "2", "--block", "3")
    result = invoke("selftest", "overhead", *args, "--output", str(out))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "ratio instrumented/bare (2 pairs x 3 it)" in text and "null-step cost" in text
    figures = json.loads(out.read_text())
    assert figures["rounds"] == 2 and figures["bare_iter_s"] > 0
    assert figures["ratio_ci95"][0] <= figures["ratio_median"] <= figures["ratio_ci95"][1]
    assert figures["phases_per_iteration"] == 4  # data, d_step, data, g_step
    assert figures["null_step_cost_s"] >= 0
    bad = invoke("selftest", "overhead", "--suite", str(path), "--run", "nope")
    assert bad.exit_code == 2
