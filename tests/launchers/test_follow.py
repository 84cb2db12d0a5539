"""The stop file a driver writes while a worker starts the run in that folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganbench.launchers import follow
from ganbench.launchers.follow import STOP_FILE, request_stop, stop_requested
from ganbench.results import RunStore
from ganbench.results import store as store_module


def test_a_stop_survives_a_worker_clearing_leftovers_mid_write(tmp_path, monkeypatch) -> None:
    """The worker's start-of-run cleanup ran between the driver's write of its stop file
    and the rename (seen once in CI, when the cleanup removed every ``.*.tmp``): it
    removes only the run's own temp files, so the stop arrives on the first write."""
    run = RunStore(tmp_path / "run")
    run.create()
    real_replace, cleared = os.replace, []

    def replace_after_cleanup(src, dst) -> None:
        if not cleared and Path(dst).name == STOP_FILE:
            run.remove_leftovers()  # the worker starting the run, between write and rename
            cleared.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace_after_cleanup)
    request_stop(run.folder, "SIGTERM")
    assert cleared, "the cleanup did not run between the write and the rename"
    assert stop_requested(run.folder) == "SIGTERM"
    assert not list(run.folder.glob(".*.tmp"))


def test_the_cleanup_removes_the_run_s_own_leftovers_only(tmp_path) -> None:
    run = RunStore(tmp_path / "run")
    run.create()
    own = [f".{f.name}.k1ll3d.tmp" for f in (run.checkpoint, run.summary, run.config)]
    others = [".stop.request.x.tmp", ".slurm-job.json.y.tmp", ".run.lock.holder.z.tmp"]
    for name in own + others:
        (run.folder / name).write_text("partial")
    run.remove_leftovers()
    assert sorted(p.name for p in run.folder.glob(".*.tmp")) == sorted(others)


def test_a_stop_into_a_missing_folder_still_fails(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        follow.request_stop(tmp_path / "gone", "SIGTERM")
