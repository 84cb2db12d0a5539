"""The inline launcher's default: every run in a process of its own (the rest of the test
suite trains in its own process, GANBENCH_IN_PROCESS=1, to save the imports)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from ganbench.launchers import inline
from ganbench.launchers.inline import IN_PROCESS_ENV, InlineConfig, InlineLauncher
from ganbench.results import RunStatus, RunStore
from tests.cli.test_commands import invoke, long_suite, start, wait_for
from tests.conftest import tiny_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def own_processes(monkeypatch):
    monkeypatch.delenv(IN_PROCESS_ENV, raising=False)


def summaries(folder: Path) -> dict[str, dict]:
    return {
        s["name"]: s for s in (json.loads(p.read_text()) for p in folder.glob("*/summary.json"))
    }


def two_runs(order: list[str]) -> dict:
    runs = {"small": {"name": "small"}, "large": {"name": "large", "batch": {"size": 128}}}
    suite = tiny_suite(budget={"iterations": 12}, log_every=4)
    return {**suite, "runs": [runs[name] for name in order]}


def test_runs_in_processes_of_their_own_have_the_same_peaks_in_either_order(
    own_processes, write_suite, tmp_path
) -> None:
    """What one run leaves behind never reaches the next: each run's peak RSS (the
    kernel's high-water mark of its process) is the same whichever runs first."""
    peaks = {}
    for order in (["small", "large"], ["large", "small"]):
        out = tmp_path / "-".join(order)
        path = write_suite({**two_runs(order), "output_dir": str(out)}, f"{order[0]}.yaml")
        result = invoke("train-suite", str(path))
        assert result.exit_code == 0, result.output
        for name, s in summaries(out).items():
            env = s["environment"]
            assert env["runs_before_in_process"] == 0 and env["pid"] != os.getpid()
            assert env["process_startup_s"] > 0 and s["peak_rss_method"] == "vmhwm"
            peaks.setdefault(name, []).append(s["peak_rss_bytes"])
        assert (out / "small-seed0" / inline.LOG_FILE).is_file()
    for name, (first, second) in peaks.items():
        assert first == pytest.approx(second, rel=0.01), name


def test_in_process_runs_say_what_came_before_them(write_suite, tmp_path) -> None:
    path = write_suite(two_runs(["small", "large"]))
    result = invoke("train-suite", str(path), "--in-process")
    assert result.exit_code == 0, result.output
    env = {n: s["environment"] for n, s in summaries(tmp_path / "out").items()}
    # This test process may have trained other tests' runs before: counted too.
    assert env["large"]["runs_before_in_process"] == env["small"]["runs_before_in_process"] + 1
    assert env["small"]["process_startup_s"] is None
    assert env["small"]["pid"] == env["large"]["pid"] == os.getpid()


def test_a_run_whose_process_dies_is_recorded_as_failed(own_processes, write_suite, monkeypatch):
    monkeypatch.setattr(inline, "WORKER", "ganbench.no_such_worker")
    path = write_suite(tiny_suite())
    result = invoke("train-suite", str(path))
    assert result.exit_code == 1, result.output
    (s,) = summaries(path.parent / "out").values()
    assert s["status"] == "failed"
    assert s["reason"].startswith("the run's process exited with code 1 before it wrote")
    log = (path.parent / "out" / "tiny-seed0" / inline.LOG_FILE).read_text()
    assert "No module named ganbench.no_such_worker" in log


def test_sigterm_reaches_the_runs_process_which_checkpoints(own_processes, write_suite) -> None:
    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)  # own_processes: its environment lacks GANBENCH_IN_PROCESS
    wait_for(store, 20, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143, proc.stdout.read().decode()
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == RunStatus.INTERRUPTED and "SIGTERM" in summary["reason"]
    assert summary["environment"]["pid"] != proc.pid
    assert store.load_checkpoint()["train"]["iteration"] == summary["iterations"]


def test_the_config_says_which(own_processes, monkeypatch) -> None:
    assert InlineConfig().in_process is False
    monkeypatch.setenv(IN_PROCESS_ENV, "1")
    assert InlineLauncher(InlineConfig()).cfg.in_process is True


def test_compile_caches_start_empty_unless_the_user_chose_them(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRITON_CACHE_DIR", "/data/mine")
    env = inline.fresh_compile_caches(tmp_path)
    assert env == {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}


def test_a_killed_suite_process_takes_its_runs_process_down_cleanly(own_processes, write_suite):
    """kill -9 of the suite's process: the run's process gets SIGTERM (it asked the
    kernel for it first thing), checkpoints and records itself interrupted."""
    import time

    path = long_suite(write_suite)
    store = RunStore(path.parent / "out" / "tiny-seed0")
    proc = start(path)
    wait_for(store, 20, proc)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 60
    while not store.summary.is_file():
        assert time.monotonic() < deadline, "the run's process did not stop and record itself"
        time.sleep(0.1)
    summary = json.loads(store.summary.read_text())
    assert summary["status"] == RunStatus.INTERRUPTED and "SIGTERM" in summary["reason"]
    assert store.load_checkpoint()["train"]["iteration"] == summary["iterations"]
