"""Which launcher a suite uses: its ``launcher:`` section, ``--launcher``,
``--nproc-per-node`` as the torchrun shorthand, ``--set launcher.*``; every mistake
named with its field, exit 2, before any work."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.config import load_suite
from ganbench.errors import UserError
from ganbench.launchers import LAUNCHERS, choose_launcher
from ganbench.launchers.inline import InlineLauncher
from ganbench.launchers.torchrun import TorchrunLauncher
from tests.conftest import tiny_suite

CPU = torch.device("cpu")


def ddp_suite(**suite_fields) -> dict:
    suite = tiny_suite(levers={"parallel": "ddp"})
    suite["runs"] = [{"name": "r"}]
    return {**suite, **suite_fields}


def plan_table(write_suite, *args: str, **suite_fields) -> str:
    path = write_suite(ddp_suite(**suite_fields))
    result = CliRunner().invoke(app, ["train-suite", str(path), "--dry-run", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_every_launcher_is_registered() -> None:
    assert LAUNCHERS.names() == ["inline", "ray", "slurm", "torchrun"]


def test_inline_unless_something_says_otherwise(write_suite) -> None:
    assert "cpu start" in plan_table(write_suite)  # the ddp run trains in this process
    launcher = choose_launcher({"name": "inline"}, "s.yaml")
    assert isinstance(launcher, InlineLauncher) and launcher.ddp_processes(CPU) == 1


def test_the_suite_option_or_shorthand_picks_torchrun(write_suite) -> None:
    assert "cpu x2 (ddp)" in plan_table(write_suite, launcher="torchrun")  # 2 gloo on a CPU
    assert "cpu x4 (ddp)" in plan_table(
        write_suite, launcher={"name": "torchrun", "nproc_per_node": 4}
    )
    assert "cpu x2 (ddp)" in plan_table(write_suite, "--launcher", "torchrun")
    assert "cpu x4 (ddp)" in plan_table(write_suite, "--nproc-per-node", "4")
    assert "cpu x8 (ddp)" in plan_table(
        write_suite, "--set", "launcher.nproc_per_node=8", launcher="torchrun"
    )
    # Under ray (or slurm) a ddp run is one task launching torchrun with N processes.
    assert "cpu x2 (ddp)" in plan_table(write_suite, "--launcher", "ray")
    assert "cpu x4 (ddp)" in plan_table(write_suite, "--launcher", "ray", "--nproc-per-node", "4")
    # --launcher inline wins over the suite's torchrun.
    assert "cpu start" in plan_table(write_suite, "--launcher", "inline", launcher="torchrun")


@pytest.mark.parametrize(
    ("args", "suite_fields", "message"),
    [
        (
            ["--launcher", "slurmish"],
            {},
            "launcher: unknown 'slurmish' (choose: inline, ray, slurm, torchrun)",
        ),
        ([], {"launcher": {"name": "torchrun", "nproc_per_node": 0}}, "launcher.nproc_per_node:"),
        ([], {"launcher": {"name": "inline", "gpus": 2}}, "launcher.gpus: unknown field"),
        (["--set", "launcher.nproc_per_node=two"], {"launcher": "torchrun"}, "nproc_per_node"),
        (
            ["--cpus-per-run", "1"],
            {},
            "--cpus-per-run goes with the ray or slurm launcher, not inline",
        ),
        (["--detach"], {}, "--detach goes with the slurm launcher, not inline"),
        ([], {"launcher": {"name": "ray", "gpus_per_run": -1}}, "launcher.gpus_per_run:"),
        (
            [],
            {"launcher": {"name": "slurm", "cluster": "local", "time": "1 day"}},
            "launcher.time: a time limit as [D-]HH:MM[:SS] (e.g. 2-00:00:00) or minutes",
        ),
        (
            ["--launcher", "slurm", "--gpus-per-run", "0.5"],
            {"launcher": {"name": "slurm", "cluster": "local"}},
            "launcher.gpus_per_run:",
        ),
        (
            [],
            {"launcher": {"name": "slurm", "cluster": "local", "partiton": "gpu"}},
            "launcher.partiton: unknown field",
        ),
        (
            ["--launcher", "slurm"],
            {},
            "--launcher slurm: no Slurm here (srun not found); run train-suite on a login node",
        ),
    ],
)
def test_launcher_mistakes_exit_2_naming_the_field(write_suite, args, suite_fields, message):
    path = write_suite(ddp_suite(**suite_fields))
    result = CliRunner().invoke(app, ["train-suite", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (path.parent / "out").exists()


def test_choose_launcher_resolves_the_shorthand(write_suite) -> None:
    suite = load_suite(write_suite(ddp_suite()))
    launcher = choose_launcher(suite.launcher, suite.source, None, 3)
    assert isinstance(launcher, TorchrunLauncher) and launcher.ddp_processes(CPU) == 3
    one = choose_launcher(suite.launcher, suite.source, None, 1)
    assert isinstance(one, TorchrunLauncher) and one.ddp_processes(CPU) == 1
    with pytest.raises(UserError, match="unknown field"):
        choose_launcher({"name": "inline", "nproc_per_node": 2}, "s.yaml")


def test_nproc_per_node_goes_with_torchrun_only(write_suite) -> None:
    path = write_suite(ddp_suite())
    result = CliRunner().invoke(
        app, ["train-suite", str(path), "--launcher", "inline", "--nproc-per-node", "2"]
    )
    assert result.exit_code == 2
    assert "--nproc-per-node goes with the ray, slurm or torchrun launcher, not inline" in " ".join(
        result.output.split()
    )
    # One process per ddp run: the run trains in this process (no torchrun).
    assert "cpu start" in plan_table(write_suite, "--nproc-per-node", "1", launcher="torchrun")


def test_another_launcher_keeps_the_section_fields_it_has(write_suite) -> None:
    """``--launcher slurm --set launcher.cluster=local`` (the trial on one machine in
    docs/cluster.md), and a ray section's cpus_per_run carried over to slurm."""
    pytest.importorskip("submitit")
    suite = load_suite(
        write_suite(ddp_suite(launcher={"name": "ray", "cpus_per_run": 2, "address": "auto"})),
        ["launcher.cluster=local"],
    )
    chosen = choose_launcher(suite.launcher, suite.source, "slurm")
    assert chosen.cfg.cluster == "local" and chosen.cfg.cpus_per_run == 2
    inline = choose_launcher(suite.launcher, suite.source, "inline")
    assert isinstance(inline, InlineLauncher)
