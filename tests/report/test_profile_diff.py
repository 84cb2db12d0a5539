"""An alert with a cause: when a configuration is called worse and both sides profiled it,
the check lists the operators whose self time changed most and the phase shares. The
constructed case: real torch.profiler windows of a network whose convolution is made
sixteen times wider on the checked side."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ganbench.report.check import check, save_baseline
from ganbench.report.profile_diff import configuration_profile
from ganbench.results import write_suite_meta
from ganbench.trackers.profiler import top_operators
from tests.report.test_report import make_run

ACTIVE = 4  # profiled iterations


def profiled_table(width: int) -> object:
    """The top-operators table of ``ACTIVE`` forward and backward passes of a small
    network whose middle convolution has ``width`` output channels."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, width, 3, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1),
    )  # fmt: skip
    x = torch.randn(8, 3, 32, 32)
    for _ in range(2):  # warm-up: the first passes choose kernels and allocate
        net(x).sum().backward()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(ACTIVE):
            net(x).sum().backward()
    return top_operators(prof.key_averages(), 30, cuda=False)


def suite(root: Path, width: int, speed: float) -> Path:
    root.mkdir(parents=True)
    table = profiled_table(width)
    for seed in range(3):
        folder = make_run(
            root, "a", seed, speed * (1 + seed / 100),
            profile={"top_ops": "profile/top_ops.csv", "active": ACTIVE, "complete": True},
            phases={"d_step": {"share": 0.5 if width == 16 else 0.7},
                    "g_step": {"share": 0.5 if width == 16 else 0.3}},
        )  # fmt: skip
        (folder / "profile").mkdir()
        table.to_csv(folder / "profile" / "top_ops.csv", index=False)
    write_suite_meta(root, "s", Path("suite.yaml"), "a", [])
    return root


def test_a_slower_configuration_names_the_operator_that_slowed(tmp_path):
    save_baseline(suite(tmp_path / "base", 16, 1000.0), tmp_path / "baseline.json")
    stored = json.loads((tmp_path / "baseline.json").read_text())
    assert stored["configurations"]["a"]["profile"]["runs"] == 3
    result = check(tmp_path / "baseline.json", suite(tmp_path / "wide", 256, 600.0))
    assert [v.verdict for v in result.verdicts if v.figure == "images_per_s"] == ["regression"]
    operators, phases = result.causes
    top = operators.rows[0]
    assert "conv" in top[0], operators.rows  # the widened convolution, forward or backward
    assert float(top[3]) > 0  # ms per iteration more than before
    assert operators.headers[:4] == ["operator", "ms/it before", "ms/it now", "change ms/it"]
    assert len(operators.rows) == 10
    assert phases.rows == [["d_step", "50.0%", "70.0%"], ["g_step", "50.0%", "30.0%"]]
    assert "the operators whose self time changed most" in result.markdown("check")


def test_no_cause_without_a_profile_on_both_sides_or_without_a_worse_verdict(tmp_path):
    base = suite(tmp_path / "base", 16, 1000.0)
    save_baseline(base, tmp_path / "baseline.json")
    assert check(tmp_path / "baseline.json", suite(tmp_path / "same", 16, 1000.0)).causes == []
    plain = tmp_path / "plain"
    for seed in range(3):
        make_run(plain, "a", seed, 600.0 * (1 + seed / 100))
    write_suite_meta(plain, "s", Path("suite.yaml"), "a", [])
    assert configuration_profile(plain, "a") is None
    assert check(tmp_path / "baseline.json", plain).causes == []
