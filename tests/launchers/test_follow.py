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
    """The worker's start-of-run cleanup removes every ``.*.tmp`` in the folder, the
    driver's half-written stop file's included (seen once in CI): the write is retried."""
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


def test_a_stop_into_a_missing_folder_still_fails(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        follow.request_stop(tmp_path / "gone", "SIGTERM")
