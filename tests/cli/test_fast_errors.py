"""A usage or input mistake is answered before torch, torchvision, matplotlib, ray or
pandas is imported (they take seconds to import on a busy machine): each command runs in
a fresh interpreter, and what it imported is read from ``sys.modules`` after it exited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision", "matplotlib", "ray", "pandas")
PROBE = f"""
import json, sys
from ganbench.cli import app
try:
    app(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def run_cli(*args: str, cwd: Path) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


MISTAKES = [
    (("train-suite", "nonexist.yaml"), "nonexist.yaml: suite file not found"),
    (("train-suite", "broken.yaml"), "broken.yaml: line 2, column 1: invalid YAML"),
    (("train-suite", "quick", "--set", "budget"), "--set budget: expected path=value"),
    (("train-suite", "quick", "--seeds", "a,b"), "--seeds a,b: expected non-negative"),
    (("profile", "nonexist.yaml", "--run", "x"), "nonexist.yaml: suite file not found"),
    (("profile", "quick", "--run", "x", "--steps", "1"), "--steps 1: expected wait,warmup"),
    (("selftest", "overhead", "--suite", "nonexist"), "nonexist: suite file not found"),
    (("selftest", "metric-time", "--device", "tpu"), "--device tpu: choose one of"),
    (("report", "/nonexistent"), "/nonexistent: no such suite folder"),
    (("latency", "--batch-sizes", "x"), "--batch-sizes x: expected positive integers"),
    (("latency", "--precision", "fp8"), "--precision fp8: unknown fp8"),
    (("latency", "--device", "tpu"), "--device tpu: choose one of auto, cpu, cuda"),
]


@pytest.mark.parametrize(("args", "said"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_mistake_is_said_before_heavy_imports(tmp_path: Path, args, said) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\n- runs\n")
    result, stderr = run_cli(*args, cwd=tmp_path)
    assert result["code"] == 2, stderr
    assert said in " ".join(stderr.split())
    assert result["heavy"] == [], f"imported before the mistake was said: {result['heavy']}"


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    """The same probe on a command that does its work imports torch (the test above
    would pass for nothing if the probe could not see it)."""
    result, stderr = run_cli("train-suite", "quick", "--dry-run", cwd=tmp_path)
    assert result["code"] == 0, stderr
    assert "torch" in result["heavy"]
