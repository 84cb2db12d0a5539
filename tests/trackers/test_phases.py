"""Phase timers against sleeps of known length."""

from __future__ import annotations

import time

import pytest
import torch

from ganbench.run.summary import data_wait_share
from ganbench.trackers.phases import PhaseTimer

CPU = torch.device("cpu")

# ---------------------------------------------------------------- phase timer


def test_sleeps_land_in_their_phases_with_their_shares() -> None:
    timer = PhaseTimer(CPU)
    for _ in range(3):
        timer.begin_iteration()
        with timer("data"):
            time.sleep(0.02)
        with timer("d_step"):
            time.sleep(0.05)
            with timer("data"):  # nested: charged to data only, not twice
                time.sleep(0.01)
        time.sleep(0.01)  # in no phase
        timer.end_iteration()
    durations = timer.collect()
    totals = timer.totals_s
    assert len(durations) == 3
    assert sum(totals.values()) == pytest.approx(sum(durations), rel=1e-9)
    # A sleep never returns early; on a busy machine it may return late (slack 50 ms).
    for phase, slept in (("data", 0.09), ("d_step", 0.15), ("other", 0.03)):
        assert slept <= totals[phase] <= slept + 0.05, phase
    assert data_wait_share(totals) == pytest.approx(0.09 / 0.27, abs=0.08)
    assert timer.last_phases == ["data", "d_step", "data"]


def test_labels_outside_an_iteration_are_ignored() -> None:
    timer = PhaseTimer(CPU)
    with timer("d_step"):
        time.sleep(0.001)
    assert timer.collect() == [] and timer.totals_s == {}
