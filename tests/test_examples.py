"""examples/own-model/ as its README says to run it, shortened: the user's networks
trained by a suite under alternating and SRFB, the trained generator exported to .pt2,
TorchScript and ONNX by the example's script, the four timed in one latency command,
and loaded back by the example's second suite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ganbench.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-model"
SHORT = [
    "--set", "budget.iterations=3", "--set", "dataset.subset=256", "--set", "batch.size=16",
    "--set", "evaluation.metrics=[]", "--set", "evaluation.every_iterations=null",
    "--set", "checkpoint.every_iterations=null",
    "--set", "model.generator.width=4", "--set", "model.discriminator.width=4",
    "--set", "levers.channels_last=true",
]  # fmt: skip


def ganbench(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_the_own_model_example_runs_as_documented(tmp_path, monkeypatch) -> None:
    work = tmp_path / "own-model"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("reports", "exported"))
    monkeypatch.chdir(work)
    ganbench("train-suite", "suite.yaml", *SHORT)
    runs = work / "reports" / "own-model"
    for name in ("alternating", "srfb"):
        summary = json.loads((runs / f"{name}-seed0" / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["iterations"] == 3, summary
        assert summary["levers"]["channels_last"] and not summary["levers_skipped"]

    export = [sys.executable, "-m", "ownnets.export", str(runs / "alternating-seed0"), "exported"]
    done = subprocess.run(export, cwd=work, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"g.pt2", "g.ts", "g.onnx", "g_state.pt"} <= {
        p.name for p in (work / "exported").iterdir()
    }

    sources = ["ownnets.export:eager", "exported/g.pt2", "exported/g.ts", "exported/g.onnx"]
    args = [a for s in sources for a in ("--generator", s)]
    ganbench("latency", *args, "--batch-sizes", "1,4", "--repeats", "3", "--output", "lat")
    document = json.loads((work / "lat" / "latency.json").read_text())
    kinds = [g["file"]["kind"] for g in document["generators"]]
    assert kinds == ["function", "torch.export", "torchscript", "onnx"]
    assert [r["status"] for r in document["rows"]] == ["ok"] * 8, document["rows"]

    loads = ["--set", "evaluation.metrics=[]", "--set", "load.batch_sizes=[1,4]"]
    ganbench("train-suite", "pretrained.yaml", *loads, "--set", "load.min_time_s=0.05")
    for name in ("loaded-run", "loaded-pt2", "loaded-onnx"):
        summary = json.loads((runs / f"{name}-seed0" / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["strategy"] == "load", summary
