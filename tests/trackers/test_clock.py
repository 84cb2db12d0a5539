"""A run's clock: excluded windows leave training time (and with ``wall``, wall time too),
measured after the device is waited for; resumed totals are added.

A sleep never returns early, but on a busy machine it (and anything else) may return
late, by any amount. So the clock is checked against sleeps from below and against a
stopwatch read around it from above, never against a fixed allowance for lateness."""

from __future__ import annotations

import time

from ganbench.trackers.clock import RunClock


def test_an_excluded_window_is_wall_time_but_not_training_time() -> None:
    synced: list[float] = []
    clock = RunClock(sync=lambda: synced.append(time.perf_counter()))
    t0 = time.perf_counter()
    clock.start_loop()
    time.sleep(0.05)  # training
    with clock.excluded() as span:
        time.sleep(0.1)  # evaluation
    train_s = clock.train_s()
    since_loop_s = time.perf_counter() - t0
    assert synced, "the device is waited for before the window's clock starts"
    assert span.seconds >= 0.1 and train_s >= 0.05
    # The window is the loop's time that is not training: the slept 0.1 s is not in it.
    assert train_s + span.seconds <= since_loop_s
    assert clock.wall_s() >= train_s + span.seconds >= 0.15


def test_a_window_out_of_wall_time_too_before_the_loop_starts() -> None:
    t0 = time.perf_counter()
    clock = RunClock()
    with clock.excluded(wall=True) as span:
        time.sleep(0.1)  # the metrics' one-off set-up
    wall_s = clock.wall_s()
    assert span.seconds >= 0.1 and clock.train_s() == 0.0
    assert 0 <= wall_s <= time.perf_counter() - t0 - span.seconds  # the 0.1 s is not in it
    t1 = time.perf_counter()
    clock.start_loop()
    time.sleep(0.05)
    train_s = clock.train_s()
    assert 0.05 <= train_s <= time.perf_counter() - t1  # from the loop's start only


def test_a_resumed_clock_adds_the_earlier_sessions() -> None:
    t0 = time.perf_counter()
    clock = RunClock()
    clock.resume(train_s=100.0, wall_s=250.0)
    assert clock.train_s() == 100.0
    t1 = time.perf_counter()
    clock.start_loop()
    time.sleep(0.02)
    train_s = clock.train_s()
    assert 0.02 <= train_s - 100.0 <= time.perf_counter() - t1
    wall_s = clock.wall_s()
    assert 0.02 <= wall_s - 250.0 <= time.perf_counter() - t0
