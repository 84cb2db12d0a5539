"""The ways logging goes wrong: an unknown tool or a missing extra is said before any
training (exit 2, naming the fix); a tool failing while training is one warning per run,
and training and ganbench's own files go on untouched."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import yaml

from ganbench.export.feed import Batch, RunInfo
from ganbench.export.live import LiveLog
from ganbench.export.sink import RunWriter, Sink
from ganbench.results import RunStore
from tests.conftest import tiny_suite
from tests.export.conftest import invoke


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


class Failing(Sink):
    """A tool that fails on its second write, and one that works."""

    name = "failing"

    def __init__(self, dest: str | None, replace: bool) -> None:
        super().__init__(dest, replace)
        self.runs: list[FailingRun] = []

    def open_run(self, info: RunInfo) -> RunWriter:
        self.runs.append(FailingRun(self.dest == "broken"))
        return self.runs[-1]


class FailingRun(RunWriter):
    def __init__(self, broken: bool) -> None:
        self.broken, self.writes, self.finished = broken, 0, None

    def write(self, batch: Batch) -> None:
        self.writes += 1
        if self.broken and self.writes > 1:
            raise OSError(28, "No space left on device")

    def finish(self, figures, status, trace) -> None:
        self.finished = status


def test_live_log_stops_only_the_failing_tool_for_that_run(tmp_path: Path) -> None:
    folders = []
    warnings: list[str] = []
    broken, fine = Failing("broken", False), Failing("fine", False)
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
    never_ended = [(3, None), (3, None)]  # closed, not finished
    assert [(run.writes, run.finished) for run in fine.runs] == never_ended


def test_the_overhead_selftest_times_the_loop_with_live_logging(tmp_path: Path) -> None:
    """The logging thread follows the timed run in the same process: the instrumented
    blocks write events, it writes them to the tool, and its CPU time is reported."""
    out = tmp_path / "overhead.json"
    args = ("--suite", str(tiny(tmp_path, runs=1)), "--run", "r0", "--rounds", "2")
    result = invoke("selftest", "overhead", *args, "--log", "tensorboard", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "live logging to tensorboard meanwhile" in " ".join(result.output.split())
    figures = json.loads(out.read_text())
    assert figures["live_log"] == ["tensorboard"]
    assert figures["live_log_cpu_s"] >= figures["live_log_once_cpu_s"] > 0  # opened it
    # at least the log point closing each of the 2 instrumented blocks: losses, speed ...
    assert figures["live_log_points"] >= 2 * 8


def test_a_place_a_tool_cannot_use_is_refused_before_training(tmp_path: Path) -> None:
    result = invoke("train-suite", str(tiny(tmp_path)), "--log", "mlflow=bogus://x")
    assert result.exit_code == 2
    assert "mlflow cannot write to bogus://x" in " ".join(result.output.split())
    assert not list((tmp_path / "out").glob("*/events.jsonl"))
