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
    t0 = time.perf_counter()
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
    elapsed = time.perf_counter() - t0
    collected = timer.collect()
    durations = [seconds for seconds, _ in collected]
    totals: dict[str, float] = {}
    for _, phases in collected:
        assert sum(phases.values()) == pytest.approx(_, rel=1e-9)
        for phase, seconds in phases.items():
            totals[phase] = totals.get(phase, 0.0) + seconds
    assert len(durations) == 3
    assert sum(totals.values()) == pytest.approx(sum(durations), rel=1e-9)
    assert sum(durations) <= elapsed  # iterations do not overlap, nor count anything twice
    # A sleep never returns early; on a busy machine it, and the code around it, may return
    # late by any amount: ``late`` is how much later than the 0.27 s slept it all ended. A
    # phase holds its own sleeps and at most all of that lateness, never another's sleeps.
    slept = {"data": 0.09, "d_step": 0.15, "other": 0.03}
    late = elapsed - sum(slept.values())
    for phase, seconds in slept.items():
        assert seconds <= totals[phase] <= seconds + late, phase
    # 0.09 / 0.27 = 1/3 on an idle machine, moved by the lateness at most this much:
    share = data_wait_share(totals)
    assert 0.09 / (0.27 + late) <= share <= (0.09 + late) / (0.27 + late)
    assert timer.last_phases == ["data", "d_step", "data"]


def test_labels_outside_an_iteration_are_ignored() -> None:
    timer = PhaseTimer(CPU)
    with timer("d_step"):
        time.sleep(0.001)
    assert timer.collect() == []
