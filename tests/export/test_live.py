"""The ways logging goes wrong: an unknown tool or a missing extra is said before any
training (exit 2, naming the fix); a tool failing while training is one warning per run,
and training and ganbench's own files go on untouched."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import psutil
import pytest
import yaml

from ganbench.export.live import LiveLog
from ganbench.export.process import LogProcess
from ganbench.results import RunStore
from tests.conftest import tiny_suite
from tests.export.conftest import invoke
from tests.export.fakes import Recording


def tiny(root: Path, runs: int = 2) -> Path:
    suite = tiny_suite(budget={"iterations": 8})
    suite.update(output_dir=str(root / "out"), runs=[{"name": f"r{i}"} for i in range(runs)])
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_an_unknown_tool_is_refused_before_training(tmp_path: Path) -> None:
    result = invoke("train-suite", str(tiny(tmp_path)), "--log", "tensorbord")
    assert result.exit_code == 2
    assert "unknown tool 'tensorbord'" in result.output and "`tensorboard`" in result.output
    assert not (tmp_path / "out").exists()
    bad = invoke("export", str(tmp_path), "--to", "neptune")
    assert bad.exit_code == 2 and "unknown log destination 'neptune'" in bad.output


def test_a_missing_extra_names_the_extra_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    result = invoke("train-suite", str(tiny(tmp_path)), "--log", "tensorboard,wandb")
    assert result.exit_code == 2
    assert "pip install 'ganbench[wandb]'" in result.output
    assert not (tmp_path / "out").exists()
    exported = invoke("export", str(tmp_path), "--to", "wandb")
    assert exported.exit_code == 2 and "ganbench[wandb]" in exported.output


def test_export_names_what_is_wrong_with_the_folder(tmp_path: Path) -> None:
    def said(folder: Path) -> str:
        result = invoke("export", str(folder), "--to", "tensorboard")
        assert result.exit_code == 2, result.output
        return " ".join(result.output.split())

    assert "no such suite folder" in said(tmp_path / "missing")
    (tmp_path / "a-seed0").mkdir()
    assert "no run in it has started" in said(tmp_path)
    (tmp_path / "a-seed0" / "events.jsonl").write_text("")
    assert f"is a run's folder: export its suite, {tmp_path}" in said(tmp_path / "a-seed0")


def test_a_tool_that_cannot_write_is_one_warning_per_run_and_training_goes_on(
    tmp_path: Path,
) -> None:
    """TensorBoard told to write under a file (as a full or read-only disk would fail):
    each run says so once, every run finishes, ganbench's files are whole."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    result = invoke("train-suite", str(tiny(tmp_path)), "--log", f"tensorboard={blocked}")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for run in ("r0-seed0", "r1-seed0"):
        assert text.count(f"tensorboard: logging {run} stopped") == 1
        summary = RunStore(tmp_path / "out" / run).read_summary()
        assert summary["status"] == "finished" and summary["iterations"] == 8
    assert "training and its files are not affected" in text


def test_live_log_stops_only_the_failing_tool_for_that_run(tmp_path: Path) -> None:
    folders = []
    warnings: list[str] = []
    broken, fine = Recording("broken", False), Recording("fine", False)
    live = LiveLog([broken, fine], folders, 60.0, warnings.append)
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        start = {"event": "start", "time": time.time(), "iteration": 0}
        (folder / "events.jsonl").write_text(json.dumps(start) + "\n")
        folders.append(folder)
    for step in range(1, 4):  # three polls, each with new events in both runs
        for folder in folders:
            with open(folder / "events.jsonl", "a") as f:
                f.write(json.dumps({"event": "iteration", "iteration": step, "d_loss": 1.0}))
                f.write("\n")
        live.poll()
    live.poll(final=True)
    assert len(warnings) == 2 and all("No space left on device" in w for w in warnings)
    assert {w.split()[2] for w in warnings} == {"a", "b"}
    assert [run.writes for run in broken.runs] == [2, 2]  # then off for that run
    never_ended = [(3, "open", True), (3, "open", True)]  # closed, not finished
    assert [(run.writes, run.status, run.closed) for run in fine.runs] == never_ended


def test_the_overhead_selftest_times_the_loop_with_live_logging(tmp_path: Path) -> None:
    """A logging process follows the timed run, as train-suite's process follows its runs:
    the instrumented blocks write events, it writes them to the tool, and its CPU time
    is reported."""
    out = tmp_path / "overhead.json"
    args = ("--suite", str(tiny(tmp_path, runs=1)), "--run", "r0", "--rounds", "2")
    result = invoke("selftest", "overhead", *args, "--log", "tensorboard", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "live logging to tensorboard from a process of its own" in " ".join(
        result.output.split()
    )
    figures = json.loads(out.read_text())
    assert figures["live_log"] == ["tensorboard"]
    assert figures["live_log_once_cpu_s"] > 0  # it opened the run in TensorBoard
    # at least the log point closing each of the 2 instrumented blocks: losses, speed ...
    assert figures["live_log_points"] >= 2 * 8


def test_a_place_a_tool_cannot_use_is_refused_before_training(tmp_path: Path) -> None:
    result = invoke("train-suite", str(tiny(tmp_path)), "--log", "mlflow=bogus://x")
    assert result.exit_code == 2
    assert "mlflow cannot write to bogus://x" in " ".join(result.output.split())
    assert not list((tmp_path / "out").glob("*/events.jsonl"))


def test_a_run_started_just_after_the_log_is_followed(tmp_path: Path) -> None:
    """A file's mtime comes from the kernel's coarse clock, a few ms behind time.time():
    a run whose start is written at once after the log began is still followed."""
    sink = Recording(None, False)
    run = tmp_path / "a-seed0"
    run.mkdir()
    events = run / "events.jsonl"
    live = LiveLog([sink], [run], 60.0, pytest.fail)
    events.write_text(json.dumps({"event": "start", "time": time.time(), "iteration": 0}) + "\n")
    old = live.since - 0.004  # as the coarse clock may stamp it
    os.utime(events, (old, old))
    live.poll()
    assert len(sink.runs) == 1


def _started_run(root: Path) -> Path:
    run = root / "a-seed0"
    run.mkdir()
    (run / "events.jsonl").write_text("")
    return run


def _start(run: Path) -> None:
    with open(run / "events.jsonl", "a") as f:
        f.write(json.dumps({"event": "start", "time": time.time(), "iteration": 0}) + "\n")


def _status_becomes(proc: psutil.Process, stopped: bool) -> bool:
    """Whether ``proc`` is (not) stopped within 5 s (a signal is delivered when the
    kernel schedules it)."""
    for _ in range(100):
        if (proc.status() == psutil.STATUS_STOPPED) == stopped:
            return True
        time.sleep(0.05)
    return False


def test_the_logging_process_stops_while_paused(tmp_path: Path) -> None:
    """The overhead self-test's logging process (and any process it started) is stopped
    during the bare blocks and runs again after; its CPU is counted from the first poll."""
    run = _started_run(tmp_path)
    dest = {"tensorboard": str(tmp_path / "tb")}
    with LogProcess(["tensorboard"], dest, run, 60.0) as live:
        _start(run)
        live.poll()
        child = psutil.Process(live._child.pid)
        with live.paused():
            assert _status_becomes(child, stopped=True)
        assert _status_becomes(child, stopped=False)
    assert live.failed is None and live.cpu_s is not None
    assert live.once_cpu_s > 0  # the run was opened in TensorBoard at the first poll
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_a_failed_timing_or_logging_leaves_no_logging_process(tmp_path: Path) -> None:
    """A timing that fails while the logging is stopped ends every logging process
    (none left stopped); a logging process that dies is a failure said, not raised."""
    run = _started_run(tmp_path)
    dest = {"tensorboard": str(tmp_path / "tb")}
    with pytest.raises(RuntimeError, match="the timing failed"):
        with LogProcess(["tensorboard"], dest, run, 60.0) as live:
            child = psutil.Process(live._child.pid)
            with live.paused():
                raise RuntimeError("the timing failed")
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    with LogProcess(["tensorboard"], dest, run, 60.0) as live:
        _start(run)
        live.poll()
        psutil.Process(live._child.pid).kill()
    assert "exit code -9" in live.failed and live.points is None


def test_the_logging_process_polls_by_its_running_time(monkeypatch) -> None:
    """A stop (the bare blocks) adds one tick at most to the time between polls: with the
    clock jumping 100 s between ticks (0.1 s each), a tick counts 0.2 s at most, so a
    poll every 1 s of running time comes every 5 ticks, not at every tick."""
    import ganbench.export.process as process

    class Live:
        polls = 0

        def poll(self) -> None:
            self.polls += 1

    live, clock = Live(), iter(range(0, 10**6, 100))
    monkeypatch.setattr(process.time, "monotonic", lambda: float(next(clock)))
    with process._paced(live, 1.0):
        time.sleep(2.5)  # about 25 ticks of 0.1 s
    assert 2 <= live.polls <= 8, live.polls  # without the cap: about 25
