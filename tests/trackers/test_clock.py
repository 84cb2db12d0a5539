"""A run's clock: excluded windows leave training time (and with ``wall``, wall time too),
measured after the device is waited for; resumed totals are added."""

from __future__ import annotations

import time

from ganbench.trackers.clock import RunClock

SLACK_S = 0.05  # a sleep never returns early; on a busy machine it may return late


def test_an_excluded_window_is_wall_time_but_not_training_time() -> None:
    synced: list[float] = []
    clock = RunClock(sync=lambda: synced.append(time.perf_counter()))
    clock.start_loop()
    time.sleep(0.05)  # training
    with clock.excluded() as span:
        time.sleep(0.1)  # evaluation
    assert synced, "the device is waited for before the window's clock starts"
    assert 0.1 <= span.seconds <= 0.1 + SLACK_S
    assert 0.05 <= clock.train_s() <= 0.05 + SLACK_S
    assert clock.wall_s() >= 0.15


def test_a_window_out_of_wall_time_too_before_the_loop_starts() -> None:
    clock = RunClock()
    with clock.excluded(wall=True):
        time.sleep(0.1)  # the metrics' one-off set-up
    assert clock.wall_s() < SLACK_S and clock.train_s() == 0.0
    clock.start_loop()
    time.sleep(0.05)
    assert 0.05 <= clock.train_s() <= 0.05 + SLACK_S


def test_a_resumed_clock_adds_the_earlier_sessions() -> None:
    clock = RunClock()
    clock.resume(train_s=100.0, wall_s=250.0)
    assert clock.train_s() == 100.0
    clock.start_loop()
    time.sleep(0.02)
    assert 100.02 <= clock.train_s() <= 100.02 + SLACK_S
    assert clock.wall_s() >= 250.02
