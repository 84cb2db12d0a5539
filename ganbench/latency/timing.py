"""The timed calls of one row: one at a time (each synchronised) until a count, or until a
minimum time and count with a time cap; then one block back to back, synchronised once."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ganbench.latency.settings import LatencySettings
from ganbench.trackers.clock import CallTimer
from ganbench.trackers.stats import percentile_min_count

# With --min-time: never fewer timed calls than p99 needs, unless max_time_s comes first.
MIN_REPEATS = percentile_min_count(99)
BLOCK_SHARE = 4  # the block: a quarter as many calls as were timed one at a time ...
MIN_BLOCK_CALLS = 2  # ... and at least this many


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's garbage collector off, as timeit does: a collection inside one call is
    noise, not its cost."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def enough_calls(count: int, total_s: float, settings: LatencySettings) -> bool:
    """Whether timing one call at a time stops: at ``repeats`` calls; else at
    ``MIN_REPEATS`` calls lasting ``min_time_s``, or once they last ``max_time_s`` (never
    less than ``min_time_s``) however few."""
    if settings.repeats is not None:
        return count >= settings.repeats
    min_time_s = settings.min_time_s or 0.0
    if total_s >= max(settings.max_time_s, min_time_s):
        return True
    return count >= MIN_REPEATS and total_s >= min_time_s


def timed_calls(
    call: Callable[[], Any],
    timer: CallTimer,
    settings: LatencySettings,
    after_each: Callable[[], None] = lambda: None,
) -> list[float]:
    """Seconds of each call, timed one at a time until ``enough_calls``."""
    times: list[float] = []
    total_s = 0.0
    while not enough_calls(len(times), total_s, settings):
        times.append(timer(call)[0])  # the output is dropped before the next call
        total_s += times[-1]
        after_each()
    return times


def block_size(count: int) -> int:
    """Calls in the block after ``count`` calls timed one at a time."""
    return max(MIN_BLOCK_CALLS, math.ceil(count / BLOCK_SHARE))


def blocked_seconds(call: Callable[[], Any], timer: CallTimer, calls: int) -> float:
    """Seconds of ``calls`` calls back to back, one clock read (one CUDA synchronisation)
    at the end: the device may run one call while the host queues the next."""

    def block() -> None:
        for _ in range(calls):
            call()  # each output dropped at once

    return timer(block)[0]
