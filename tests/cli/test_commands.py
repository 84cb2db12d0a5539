"""The command line: words the user sees, exit codes, and real processes killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.results import RunStore, read_events
from tests.conftest import tiny_suite

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train-suite", "profile", "selftest", "list", "data"):
        assert command in result.output


COMMANDS = [
    ["train-suite"],
    ["profile"],
    ["latency"],
    ["score"],
    ["report"],
    ["runs"],
    ["check"],
    ["list"],
    ["baseline", "save"],
    ["selftest", "overhead"],
    ["weights", "install"],
    ["data", "fetch"],
    ["suites"],
    ["init"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_python_types_and_no_negative_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for leak in ("<bool>", "list[", "--no-", "default: no-"):
        assert leak not in result.output, (command, leak)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-suite"], "error: Missing argument 'suite' (see: ganbench train-suite --help)"),
        (["check", "x", "--bogus"], "error: No such option: --bogus (see: ganbench check --help)"),
        (["latency", "--warmup", "0"], "error: Invalid value for '--warmup'"),
        (["bogus"], "error: No such command 'bogus' (see: ganbench --help)"),
        (["report", "/nonexistent"], "error: /nonexistent: no such suite folder"),
    ],
)
def test_usage_mistakes_are_one_error_line_like_every_other_error(args, message) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output


def test_list_shows_every_registry() -> None:
    result = invoke("list")
    assert result.exit_code == 0
    assert "strategies: alternating, extragradient, srfb, svre" in result.output
    assert "models: dcgan, mlp, python, sagan" in result.output
    assert "losses: bce, hinge, wgan-gp" in result.output
    assert invoke("list", "optimisers").exit_code == 2


BAD = {
    "unknown strategy": (
        {"strategy": "svrg"},
        "strategy: unknown 'svrg' (did you mean `svre`?) (choose: alternating",
    ),
    "delta out of range": (
        {"strategy": {"name": "srfb", "delta": 1.5}},
        "strategy.delta: Input should be less than or equal to 1",
    ),
    "negative batch": ({"batch": {"size": -1}}, "batch.size: Input should be greater than 0"),
    "unknown field": ({"lerning_rate": 1}, "lerning_rate: unknown field (allowed: name, seed"),
    "missing dataset": (
        {"dataset": {"name": "mnist", "root": "/nonexistent"}},
        "dataset.name: mnist not found: looked in /nonexistent/MNIST/raw",
    ),
    "missing cifar10": (
        {"dataset": {"name": "cifar10", "root": "/nonexistent"}, "model": "dcgan"},
        "put cifar-10-python.tar.gz",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_suites_give_one_clear_message_and_exit_2(case: str, write_suite) -> None:
    change, message = BAD[case]
    suite = tiny_suite()
    suite["runs"] = [{"name": "bad", **change}]
    path = write_suite(suite)
    result = invoke("train-suite", str(path))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (path.parent / "out").exists()  # nothing started


def test_bad_options_exit_2(write_suite) -> None:
    path = write_suite(tiny_suite())
    for args, message in (
        (["--seeds", "0,x"], "--seeds 0,x"),
        (["--set", "nofield"], "--set nofield: expected path=value"),
        (
            ["--set", "model.depth=0"],
            "--set model.depth=0: Input should be greater than or equal to 1",
        ),
        (["--only", "nothing"], "--only nothing: no run matches"),
    ):
        result = invoke("train-suite", str(path), *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_a_gpu_exits_2(write_suite) -> None:
    result = invoke("train-suite", str(write_suite(tiny_suite(device="cuda"))))
    assert result.exit_code == 2
    assert "device: cuda requested but no CUDA device is visible" in result.output


def test_dry_run_prints_the_plan_and_writes_nothing(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {"strategy": ["srfb", "svre"]}
    path = write_suite(suite)
    result = invoke("train-suite", str(path), "--dry-run", "--seeds", "0,1")
    assert result.exit_code == 0
    for run_id in ("srfb-seed0", "srfb-seed1", "svre-seed0", "svre-seed1"):
        assert run_id in result.output
    assert not (path.parent / "out").exists()


def test_train_suite_trains_and_says_where_the_results_are(write_suite) -> None:
    path = write_suite(tiny_suite())
    result = invoke("train-suite", str(path))
    assert result.exit_code == 0, result.output
    out = path.parent / "out"
    assert f"results: {out}" in " ".join(result.output.split())
    summary = json.loads((out / "tiny-seed0" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["iterations"] == 6
    assert (out / "runs.csv").read_text().startswith("run_id,")
    again = invoke("train-suite", str(path))
    assert "skip (already finished)" in " ".join(again.output.split())


def test_profile_writes_trace_and_table_beside_the_suite_results(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {"strategy": ["alternating", "srfb"]}
    path = write_suite(suite)
    command = [sys.executable, "-m", "ganbench", "profile", str(path), "--run", "srfb"]
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("KINETO_LOG_LEVEL", None)  # as a user's shell has it
    result = subprocess.run(
        [*command, "--steps", "1,1,2"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    # A CUDA build of torch without a GPU: kineto's false alarm is kept quiet.
    assert "gpuGetDeviceCount" not in result.stderr and "ERROR" not in result.stderr
    assert "CPUAllocator" not in result.stderr  # torch's once-a-process memory warning
    assert "top operators of srfb-seed0 over 2 iterations" in text
    assert "ganbench.joint_step" in text
    folder = path.parent / "out" / "profiles" / "srfb-seed0"
    assert json.loads((folder / "profile" / "trace.json").read_text())["traceEvents"]
    assert (folder / "profile" / "top_ops.csv").is_file()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["profile"]["complete"] is True
    assert not (path.parent / "out" / "srfb-seed0").exists()  # the suite's runs untouched


def test_profile_bad_input_exits_2(write_suite) -> None:
    path = write_suite(tiny_suite())
    for args, message in (
        (["--run", "nope"], "--run nope: no run matches (choose: tiny)"),
        (["--run", "tiny", "--steps", "1,x"], "--steps 1,x: expected wait,warmup,active"),
        (["--run", "tiny", "--steps", "1,1,0"], "with active >= 1"),
    ):
        result = invoke("profile", str(path), *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split())
    assert not (path.parent / "out").exists()


# ------------------------------------------------------------- real processes


def start(path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganbench", "train-suite", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


def wait_for(store: RunStore, iteration: int, proc: subprocess.Popen, limit_s: float = 60) -> int:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        done = [e["iteration"] for e in read_events(store.events) if e["event"] == "checkpoint"]
        if done and done[-1] >= iteration:
            return done[-1]
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at iteration {iteration} within {limit_s}s")


def long_suite(write_suite) -> Path:
    suite = tiny_suite(
        budget={"iterations": 1_000_000, "wall_seconds": 120},
        checkpoint={"every_iterations": 10, "every_seconds": None},
        model={"name": "mlp", "latent_dim": 8, "hidden": 256, "depth": 3},
        log_every=10,
    )
    return write_suite(suite)


def test_killed_run_resumes_from_its_checkpoint(write_suite) -> None:
    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)
    wait_for(store, 30, proc)
    proc.kill()  # SIGKILL: no chance to write anything more
    proc.wait(timeout=30)
    last_checkpoint = store.load_checkpoint()["train"]["iteration"]
    target = last_checkpoint + 15
    result = invoke("train-suite", str(path), "--set", f"budget.iterations={target}")
    assert result.exit_code == 0, result.output
    assert "resume" in result.output
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == "finished" and summary["iterations"] == target
    logged = [e["iteration"] for e in read_events(store.events) if e["event"] == "iteration"]
    assert logged == list(range(10, target + 1, 10)) + ([target] if target % 10 else [])


def test_ctrl_c_stops_cleanly_with_a_checkpoint(write_suite) -> None:
    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)
    wait_for(store, 20, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == "interrupted"
    assert store.load_checkpoint()["train"]["iteration"] == summary["iterations"]
    assert read_events(store.events)[-1]["event"] == "end"


def test_a_dataset_root_that_is_a_file_stops_before_any_work(write_suite, tmp_path) -> None:
    afile = tmp_path / "data.bin"
    afile.write_bytes(b"\0" * 16)
    suite = tiny_suite(dataset={"name": "fashion-mnist", "root": str(afile)})
    result = invoke("train-suite", str(write_suite(suite)))
    assert result.exit_code == 2, result.output
    assert f"dataset.root: {afile} is a file, not a folder" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_version_names_ganbench_torch_cuda_and_python() -> None:
    import platform

    from ganbench import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"ganbench {__version__}"
    assert lines[1].startswith(f"torch {torch.__version__} (")
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
    assert cuda in lines[1] and ("no device" in lines[1] or "device(s)" in lines[1])
    assert lines[2] == f"python {platform.python_version()}"


def test_a_stop_at_once_says_what_each_unfinished_run_lost(write_suite, monkeypatch) -> None:
    """A second Ctrl-C raises KeyboardInterrupt in train-suite: exit 130, and each run
    that had not ended says how many logged iterations its last checkpoint lacks."""
    from ganbench.launchers.base import Launcher
    from ganbench.results import EventLog

    def interrupted(self, suite, plans, observer, stop, rerun_unsteady=0):
        first = plans[0].store
        first.create()
        with EventLog(first.events) as events:
            events.write("start", iteration=0)
            for step in (10, 20, 30):
                events.write("iteration", iteration=step)
                if step == 20:
                    events.write("checkpoint", iteration=step)
        raise KeyboardInterrupt

    monkeypatch.setattr(Launcher, "run_suite", interrupted)
    result = invoke("train-suite", str(write_suite(tiny_suite())))
    assert result.exit_code == 130
    text = " ".join(result.output.split())
    assert "tiny-seed0: stopped at once; at least 10 iterations since its checkpoint at " in text
    assert "iteration 20 are lost (train-suite again resumes from there)" in text
