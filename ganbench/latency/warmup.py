"""When warm-up ends: after a minimum count and time, once call times are steady, or at a
cap. The rule is a pure function of the durations so far, so a stub clock can test it."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ganbench.latency.settings import LatencySettings

STEADY_WINDOW = 5  # calls per median compared
STEADY_TOLERANCE = 0.10  # the last window's median within this fraction of the one before
WARMUP_MAX_CALLS = 100_000  # a cap on calls (a clock reading 0), beside warmup_max_s


@dataclass(frozen=True)
class WarmUp:
    """The warm-up calls' durations (the first, which compiles and allocates, included)
    and whether the last ones were steady when it ended."""

    times_s: list[float]
    steady: bool

    def fields(self) -> dict[str, float | int | bool]:
        return {
            "warmup_calls": len(self.times_s),
            "warmup_s": sum(self.times_s),
            "warmup_steady": self.steady,
        }


def is_steady(times_s: Sequence[float]) -> bool:
    """The median of the last ``STEADY_WINDOW`` durations is within ``STEADY_TOLERANCE`` of
    the median of the ``STEADY_WINDOW`` before them (False with fewer durations)."""
    if len(times_s) < 2 * STEADY_WINDOW:
        return False
    last = statistics.median(times_s[-STEADY_WINDOW:])
    before = statistics.median(times_s[-2 * STEADY_WINDOW : -STEADY_WINDOW])
    return abs(last - before) <= STEADY_TOLERANCE * before


def warmup_done(count: int, after_first_s: float, steady: bool, settings: LatencySettings) -> bool:
    """Whether warm-up ends after ``count`` calls (the first included), those after the
    first lasting ``after_first_s``, ``steady`` or not (``steady_so_far``): never before
    ``settings.warmup`` calls; then once the calls after the first last ``warmup_min_s``
    and are steady, or once they last ``warmup_max_s`` or number ``WARMUP_MAX_CALLS``."""
    if count < settings.warmup:
        return False
    if count >= WARMUP_MAX_CALLS or after_first_s >= settings.warmup_max_s:
        return True
    return after_first_s >= settings.warmup_min_s and steady


def steady_so_far(times_s: Sequence[float]) -> bool:
    """``is_steady`` on the calls after the first (reading the last few only)."""
    return is_steady(times_s[max(1, len(times_s) - 2 * STEADY_WINDOW) :])


def warm_up(time_call: Callable[[], float], first_s: float, settings: LatencySettings) -> WarmUp:
    """Call ``time_call`` (one timed call, its seconds) until ``warmup_done``, the first
    call (``first_s``, already made) counted."""
    times, after_first_s = [first_s], 0.0
    while not warmup_done(len(times), after_first_s, steady_so_far(times), settings):
        times.append(time_call())
        after_first_s += times[-1]
    return WarmUp(times, steady_so_far(times))
