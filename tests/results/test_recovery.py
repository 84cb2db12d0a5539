"""Damaged results files: each case gets a message and the documented recovery, never a
traceback, and nothing finished is deleted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore, read_events
from tests.cli.test_commands import invoke
from tests.conftest import tiny_suite


def trained(write_suite, **defaults) -> tuple[Path, RunStore]:
    """A finished 6-iteration run with a checkpoint every 2 iterations."""
    suite = tiny_suite(checkpoint={"every_iterations": 2, "every_seconds": None}, **defaults)
    path = write_suite(suite)
    result = invoke("train-suite", str(path))
    assert result.exit_code == 0, result.output
    return path, RunStore(path.parent / "out" / "tiny-seed0")


def train(path: Path, *args: str) -> str:
    result = invoke("train-suite", str(path), *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return " ".join(result.output.split()), result.exit_code


def iterations(store: RunStore) -> list[int]:
    return [e["iteration"] for e in read_events(store.events) if e["event"] == "iteration"]


def test_a_truncated_summary_is_rederived_without_training_again(write_suite) -> None:
    path, store = trained(write_suite)
    before = json.loads(store.summary.read_text())
    logged = iterations(store)
    store.summary.write_text(store.summary.read_text()[:40])
    (path.parent / "out" / "other").mkdir()  # a run folder with a damaged summary only
    (path.parent / "out" / "other" / "summary.json").write_text("{")
    output, code = train(path)
    assert code == 0, output
    assert "summary.json not valid JSON (" in output and "re-derived from the checkpoint" in output
    after = json.loads(store.summary.read_text())
    assert after["status"] == "finished" and after["iterations"] == before["iterations"]
    assert after["train_s"] == pytest.approx(before["train_s"], abs=0.05)
    assert iterations(store) == logged  # nothing trained twice
    evals = [e["iteration"] for e in read_events(store.events) if e["event"] == "eval"]
    assert evals == sorted(set(evals))  # the last evaluation is not repeated
    assert "tiny-seed0" in (path.parent / "out" / "runs.csv").read_text()


@pytest.mark.parametrize("damage", ["", "name: [unclosed", "- a list\n"])
def test_a_damaged_config_is_read_back_from_the_checkpoint(write_suite, damage) -> None:
    path, store = trained(write_suite)
    summary = store.summary.read_text()
    store.config.write_text(damage)
    output, code = train(path)
    assert code == 0, output
    assert "config.yaml" in output and "read back from the checkpoint" in output
    assert "already finished" in output
    assert store.summary.read_text() == summary  # kept, not retrained
    assert store.read_config()["name"] == "tiny"  # written back
    report = invoke("report", str(path.parent / "out"))
    assert report.exit_code == 0, report.output


def test_a_damaged_config_without_a_checkpoint_is_an_error_naming_the_file(write_suite) -> None:
    path, store = trained(write_suite)
    store.config.write_text("")
    store.checkpoint.unlink()
    store.previous_checkpoint.unlink()
    output, code = train(path)
    assert code == 2, output
    assert f"{store.config}: empty" in output and "--fresh" in output
    assert store.summary.is_file() and store.events.is_file()  # nothing deleted


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flip_a_byte(data: bytes) -> bytes:
    """One weight's byte changed: torch.load reads it without complaint, the CRC does not."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


@pytest.mark.parametrize("damage", [truncate, flip_a_byte])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(write_suite, damage) -> None:
    path, store = trained(write_suite)
    previous = torch.load(store.previous_checkpoint, weights_only=False)["train"]["iteration"]
    store.checkpoint.write_bytes(damage(store.checkpoint.read_bytes()))
    assert store.checkpoints() == [store.previous_checkpoint]
    loaded, older = store.load_checkpoint(), torch.load(store.previous_checkpoint)
    assert all(torch.equal(loaded["G"][k], v) for k, v in older["G"].items())
    output, code = train(path, "--set", "budget.iterations=10")
    assert code == 0, output
    assert "checkpoint.pt is damaged: from checkpoint.prev.pt" in output
    resumes = [e for e in read_events(store.events) if e["event"] == "resume"]
    assert resumes[-1]["iteration"] == previous
    assert iterations(store)[-1] == 10
    assert json.loads(store.summary.read_text())["status"] == "finished"


def test_a_torn_last_event_line_is_cut_before_appending(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with store.open_events() as events:
        events.write("start", iteration=0)
        events.write("eval", iteration=4)
    with open(store.events, "a", encoding="utf-8") as f:
        f.write('{"event": "iteration", "itera')  # a kill mid-write
    with store.open_events() as events:
        events.write("resume", iteration=2)
    lines = store.events.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["start", "eval", "resume"]
    assert [e["event"] for e in read_events(store.events)] == ["start", "resume"]


def test_a_failed_checkpoint_write_leaves_no_temp_file_and_keeps_two(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    class Unpicklable:
        def __reduce__(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.save_checkpoint({"x": Unpicklable()})
    assert list(tmp_path.iterdir()) == []
    store.save_checkpoint({"x": 1})
    store.save_checkpoint({"x": 2})
    assert torch.load(store.checkpoint)["x"] == 2
    assert torch.load(store.previous_checkpoint)["x"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def _fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_full_disk_fails_the_run_with_the_reason_and_stops_the_suite(write_suite, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        suite = tiny_suite(
            checkpoint={"every_iterations": 2, "every_seconds": None},
            model={"name": "mlp", "latent_dim": 8, "hidden": 256, "depth": 3},
        )
        suite["output_dir"] = str(disk / "out")
        suite["matrix"] = {"seed": [0, 1]}
        path = tmp_path / "full.yaml"
        path.write_text(json.dumps(suite))
        result = invoke("train-suite", str(path))
        output = " ".join(result.output.split())
        assert result.exit_code == 1, output
        assert "tiny-seed0 failed: cannot write results: No space left on device" in output
        assert "tiny-seed1" not in output.split("suite tiny")[-1]  # never started
        store = RunStore(disk / "out" / "tiny-seed0")
        assert not list(store.folder.glob(".*.tmp"))
        assert read_events(store.events)[0]["event"] == "start"  # what was written reads
        _fill(disk / "filler")
        report = invoke("report", str(disk / "out"))
        assert report.exit_code == 1 and isinstance(report.exception, SystemExit)
        assert "error: cannot write results: No space left on device" in " ".join(
            report.output.split()
        )
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_finished_run_without_config_or_checkpoint_is_never_deleted(write_suite) -> None:
    path, store = trained(write_suite)
    summary = store.summary.read_text()
    store.config.unlink()
    store.checkpoint.unlink()
    store.previous_checkpoint.unlink()
    output, code = train(path)
    assert code == 2, output
    assert f"{store.config}: missing, and there is no readable checkpoint" in output
    assert store.summary.read_text() == summary


@pytest.mark.parametrize("summary", ['{"status": "finished"}', '{"status": ["finished"]}', "[]"])
def test_a_summary_that_is_json_but_not_a_summary_is_rederived(write_suite, summary) -> None:
    path, store = trained(write_suite)
    store.summary.write_text(summary)
    output, code = train(path)
    assert code == 0, output
    assert "re-derived from the checkpoint" in output
    assert json.loads(store.summary.read_text())["status"] == "finished"
