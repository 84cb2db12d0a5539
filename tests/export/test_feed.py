"""A run folder as the tools see it, written by hand: a crash and a resume, a run trained
again in its folder, GPU samples placed at their iterations."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ganbench.export.feed import Batch, Point, RunFeed, run_info
from ganbench.export.live import LiveLog
from tests.export.fakes import Recording


def event(folder: Path, kind: str, at: float, **fields) -> None:
    with open(folder / "events.jsonl", "a") as f:
        f.write(json.dumps({"event": kind, "time": at, **fields}) + "\n")


def iterations(folder: Path, steps: range, at: float, loss: float) -> None:
    for step in steps:
        event(folder, "iteration", at + step, iteration=step, d_loss=loss, g_loss=loss,
              iter_time_s=0.1, batch_size=32, train_s=step / 10)  # fmt: skip


def summary(folder: Path, status: str, at: float) -> None:
    (folder / "summary.json").write_text(json.dumps({"status": status, "images_per_s": 9.0}))
    os.utime(folder / "summary.json", (at, at))


def crashed_then_resumed(folder: Path, now: float) -> None:
    """Attempt 1 logs 5..20, checkpoints at 10, is interrupted; attempt 2 resumes from 10
    and logs 15 and 20 again (loss 2.0 instead of 1.0), then finishes."""
    folder.mkdir()
    event(folder, "start", now - 100, iteration=0)
    iterations(folder, range(5, 25, 5), now - 100, 1.0)
    event(folder, "end", now - 70, status="interrupted", iteration=20)
    summary(folder, "interrupted", now - 69)
    event(folder, "resume", now, iteration=10)
    iterations(folder, range(15, 25, 5), now, 2.0)


def losses(points: list[Point]) -> list[tuple[int, float]]:
    return sorted((p.step, p.value) for p in points if p.name == "loss/d")


def test_a_resumed_run_reads_as_one_run_with_the_newer_points(tmp_path: Path) -> None:
    run = tmp_path / "a-seed0"
    crashed_then_resumed(run, time.time())
    feed = RunFeed(run)
    batch = feed.poll()
    assert losses(batch.points) == [(5, 1.0), (10, 1.0), (15, 2.0), (20, 2.0)]
    assert batch.ended is None and batch.resumed_at == 10  # the first end was superseded
    assert feed.summary() is None  # the interrupted attempt's, not this one's
    event(run, "end", time.time(), status="finished", iteration=20)
    summary(run, "finished", time.time())
    assert feed.poll().ended == "finished" and feed.summary()["status"] == "finished"


def test_live_logging_of_a_resumed_run_waits_for_its_own_end(tmp_path: Path) -> None:
    """train-suite started again: the run resumes after the log started; its interrupted
    first attempt (and that attempt's summary) do not end it in the tools."""
    sink = Recording(None, False)
    run = tmp_path / "a-seed0"
    live = LiveLog([sink], [run], 60.0, pytest.fail)
    crashed_then_resumed(run, time.time())
    live.poll()
    (writer,) = sink.runs
    assert writer.status == "open" and losses(writer.points)[-1] == (20, 2.0)
    event(run, "end", time.time(), status="finished", iteration=20)
    live.poll()
    assert writer.status == "open"  # its summary is not written yet
    summary(run, "finished", time.time())
    live.poll()
    assert writer.status == "finished" and writer.closed


def test_a_run_trained_again_in_its_folder_is_a_new_run(tmp_path: Path) -> None:
    """--rerun-unsteady moves a run aside and trains it again in the same folder."""
    sink = Recording(None, False)
    run = tmp_path / "a-seed0"
    live = LiveLog([sink], [run], 60.0, pytest.fail)
    now = time.time()
    run.mkdir()
    event(run, "start", now, iteration=0)
    iterations(run, range(5, 15, 5), now, 1.0)
    event(run, "end", now + 20, status="finished", iteration=10)
    summary(run, "finished", now + 21)
    live.poll()
    shutil.move(run, tmp_path / "replaced")
    run.mkdir()
    event(run, "start", now + 30, iteration=0)
    iterations(run, range(5, 10, 5), now + 30, 3.0)
    live.poll(final=True)
    first, second = sink.runs
    assert (first.status, second.status) == ("finished", "open")
    assert second.closed and losses(second.points) == [(5, 3.0)]
    assert first.info.key != second.info.key == run_info(run).key


def test_gpu_samples_go_to_the_iteration_logged_by_their_time(tmp_path: Path) -> None:
    """By unix time; a sample in the part a resume superseded is left out."""
    run = tmp_path / "a-seed0"
    now = time.time()
    crashed_then_resumed(run, now)
    rows = [(now - 94, 100.0), (now - 81, 200.0), (now - 75, 999.0), (now + 16, 300.0)]
    lines = ["time_s,unix_s,power_w,gpu"] + [f"0,{at},{w},0" for at, w in rows]
    (run / "gpu_samples.csv").write_text("\n".join(lines) + "\n")
    power = [(p.step, p.value) for p in RunFeed(run).poll().points if p.name == "power/w"]
    # 5 at now-95, 10 at now-90 (the checkpoint), then superseded until the resume at now;
    # 15 again at now+15
    assert power == [(5, 100.0), (15, 300.0)]


def test_tensorboard_keeps_the_checkpoints_points_and_drops_the_superseded(
    tmp_path: Path,
) -> None:
    """Live, TensorBoard already has attempt 1's points when the resume arrives: the
    restart marker makes its reader drop those after the checkpoint, not the checkpoint's."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ganbench.export.to_tensorboard import TensorBoardSink

    run = tmp_path / "a-seed0"
    crashed_then_resumed(run, time.time())
    info = run_info(run)
    writer = TensorBoardSink(str(tmp_path / "tb"), replace=False).open_run(info)
    writer.write(Batch(points=[Point("loss/d", 1.0, step, 0.0) for step in (5, 10, 15, 20)]))
    again = [Point("loss/d", 2.0, step, 0.0) for step in (15, 20)]
    writer.write(Batch(points=again, resumed_at=10))
    writer.close()
    reader = EventAccumulator(str(tmp_path / "tb" / info.suite / "a-seed0"))
    reader.Reload()
    got = [(e.step, e.value) for e in reader.Scalars("loss/d")]
    assert got == [(5, 1.0), (10, 1.0), (15, 2.0), (20, 2.0)]
