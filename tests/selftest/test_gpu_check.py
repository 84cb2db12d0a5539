"""`ganbench selftest gpu` (`make gpu-check`): the no-GPU answer, every step walked at its
smallest on the CPU, and the time-boxing that keeps one step from eating the check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.selftest import gpu_check
from ganbench.selftest.gpu_check import CheckOptions, Figure, StepContext, run_check
from ganbench.selftest.gpu_report import check_markdown, write_check
from ganbench.selftest.gpu_steps import STEPS
from tests.conftest import ROOT


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU answer needs no GPU")
def test_without_cuda_it_says_what_it_would_run_and_exits_0(tmp_path: Path) -> None:
    result = invoke("selftest", "gpu", "--output", str(tmp_path / "check"))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no CUDA device here: nothing measured" in text
    assert all(step.title in text for step in STEPS)
    assert not (tmp_path / "check").exists()
    refused = invoke("selftest", "gpu", "--device", "cuda")
    assert refused.exit_code == 2 and "no CUDA device" in refused.output


@pytest.mark.slow
def test_dry_run_walks_every_step_on_the_cpu(tmp_path: Path, monkeypatch) -> None:
    """Every step's commands run at their smallest; figures come back from their files."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "check"
    result = invoke("selftest", "gpu", "--device", "cpu", "--dry-run", "--output", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads((out / "gpu_check.json").read_text())
    steps = {s["name"]: s for s in document["steps"]}
    assert list(steps) == [s.name for s in STEPS]
    problems = {n: s["error"] for n, s in steps.items() if s["status"] not in ("ok", "skipped")}
    assert not problems, problems
    assert steps["nvml"]["status"] == "skipped" and "no CUDA" in steps["nvml"]["note"]
    figures = {f["name"]: f for s in document["steps"] for f in s["figures"]}
    assert figures["gpu tests collected"]["value"] > 0
    assert figures["overhead (paired blocks)"]["target"] == "<= 1 %"
    assert figures["fp32: images/s (steady)"]["value"] > 0
    assert figures["channels-last: images/s (incl. warm-up, compile)"]["value"] > 0
    assert figures["SRFB it/s at batch 64"]["value"] > 0
    assert figures["generate at 2: fp32 off"]["value"] > 0
    assert figures["generate at 2: fp32 off channels-last"]["value"] > 0
    assert figures["fid: per evaluation of 20"]["value"] > 0
    assert figures["is: per evaluation of 20"]["value"] > 0
    parity = [f for name, f in figures.items() if name.startswith("srfb: ganbench / hand-")]
    assert len(parity) == 1 and parity[0]["value"] > 0 and parity[0]["target"] == "<= 1.02x"
    assert (out / "speedups" / "suite" / "report.md").is_file()
    text = (out / "gpu_check.md").read_text()
    assert "dry run" in text and "| overhead |" in text and "## Commands" in text
    assert "| <= 1 % | - |" in text  # a dry run's figures are not held to the targets
    assert "selftest metric-time" in text and "--dry-run" in text  # every lever resolved


class Sleeper:
    """A child that outlives its budget but writes what it has on SIGTERM."""

    name, title, budget_s = "sleeper", "sleeps past its budget", 3.5

    def run(self, context: StepContext) -> None:
        script = (
            "import signal, sys, time, pathlib\n"
            "def stop(*_):\n"
            f"    pathlib.Path({str(context.folder / 'partial.json')!r}).write_text('7')\n"
            "    sys.exit(143)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "time.sleep(60)\n"
        )
        context.call([sys.executable, "-c", script])

    def figures(self, context: StepContext):
        yield Figure("kept on SIGTERM", int((context.folder / "partial.json").read_text()))


class Failing:
    name, title, budget_s = "failing", "exits 3", 30.0

    def run(self, context: StepContext) -> None:
        context.call([sys.executable, "-c", "print('broken here'); raise SystemExit(3)"])

    def figures(self, context: StepContext):
        raise FileNotFoundError("nothing written")


class Never:
    name, title, budget_s = "never", "after the budget", 30.0

    def run(self, context: StepContext) -> None:
        raise AssertionError("a step past the check's budget ran")

    def figures(self, context: StepContext):
        return []


def test_steps_are_time_boxed_and_one_failure_costs_that_step_only(
    tmp_path: Path, monkeypatch
) -> None:
    """The sleeper's child is stopped 0.5 s (the grace) before its 3.5 s budget ends,
    which leaves under 5 s of the check's 8: the last step is skipped."""
    monkeypatch.setattr(gpu_check, "TERM_GRACE_S", 0.5)
    options = CheckOptions(tmp_path / "out", device="cpu", budget_s=8.0, root=tmp_path)
    result = run_check(options, [Failing(), Sleeper(), Never()], progress=lambda _: None)
    failing, sleeper, never = result.steps
    assert failing.status == "failed" and "exit 3" in failing.error
    assert "broken here" in failing.error and "figures unreadable" in failing.note
    assert sleeper.status == "timed out" and 3 <= sleeper.seconds < 10
    assert [(f.name, f.value) for f in sleeper.figures] == [("kept on SIGTERM", 7)]
    assert never.status == "skipped" and "budget (8 s) is spent" in never.note
    path = write_check(result, options.output)
    text = path.read_text()
    assert "| sleeper | kept on SIGTERM | 7 |" in text
    assert "### failing (failed)" in text and "broken here" in text
    assert text == check_markdown(result)
    assert result.exit_code == 1  # a failed or timed-out step fails the command
    assert json.loads((options.output / "gpu_check.json").read_text())["steps"][2]["status"] == (
        "skipped"
    )
