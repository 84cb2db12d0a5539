"""Change points on constructed series (issue 34's acceptance criteria): a step is found at
its commit with its size, noise and spikes are not steps, two steps are two, a small step is
found within a few points, and NaN points and short series are handled.

Series are lognormal noise around 50 (an iterations/s), seeded. The search works on the
log scale and scales its penalty by the series' own noise, so its answers do not depend on
the level and depend on the noise only through the ratio of step to noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ganbench.history.changes import find_changes, welch


def noisy(n: int, sd: float, seed: int) -> np.ndarray:
    """``n`` points around 50 with lognormal noise of log-scale standard deviation ``sd``."""
    return 50.0 * np.exp(np.random.default_rng(seed).normal(0.0, sd, n))


def stepped(n: int, sd: float, seed: int, at: int, factor: float) -> np.ndarray:
    values = noisy(n, sd, seed)
    values[at:] *= factor
    return values


@pytest.mark.parametrize(
    ("factor", "direction", "kind"),
    [
        (1.10, "max", "improvement"),
        (1.10, "min", "regression"),
        (0.90, "max", "regression"),
        (0.90, "min", "improvement"),
    ],
)
def test_a_10_percent_step_is_found_at_its_commit(factor, direction, kind):
    (change,) = find_changes(stepped(40, 0.02, 0, at=20, factor=factor), direction)
    assert change.index == 20
    assert change.kind == kind
    assert change.low < factor < change.high
    assert change.low < change.ratio < change.high
    assert abs(change.ratio / factor - 1) < 0.02
    assert change.p_value < 1e-10


def test_a_10_percent_step_over_many_seeds():
    """Measured over 2,000 seeds: the single change exactly at the step 98 % (rise) and 99 %
    (drop) of the time (else one point off: the boundary point's noise reached the other
    level), the 95 % interval holding the true ratio 95 %."""
    exact = covered = 0
    for seed in range(100):
        changes = find_changes(stepped(40, 0.02, seed, at=20, factor=1.10), "max")
        exact += [c.index for c in changes] == [20]
        covered += len(changes) == 1 and changes[0].low < 1.10 < changes[0].high
    assert exact >= 95
    assert covered >= 88


def test_noise_only_series_give_no_change():
    """Measured: 37 of 20,000 noise-only series of 50 points (0.19 %) get a change point, at
    2 % noise and at 5 % alike (the same seeds give the same answer at either: the method is
    scale-free); seeds 0-199 at 2 % give none, seeds 1000-1099 at 5 % one."""
    flagged = sum(bool(find_changes(noisy(50, 0.02, seed), "max")) for seed in range(200))
    flagged += sum(bool(find_changes(noisy(50, 0.05, seed), "min")) for seed in range(1000, 1100))
    assert flagged <= 2  # of 300 series


def test_a_single_spike_is_not_a_change():
    """A 30 % spike, up or down, at every position (ends included) of five noise series.
    Measured over 200 series: 45 of 16,000 spiked series (0.3 %) get a change point, about
    the noise-only rate."""
    for seed in range(5):
        for at in range(40):
            for factor in (1.3, 0.7):
                values = noisy(40, 0.02, seed)
                values[at] *= factor
                assert find_changes(values, "max") == [], (seed, at, factor)


def test_two_separate_spikes_are_not_changes():
    """Pairs of 30 % spikes (up, or up and down), two or more points apart, in three noise
    series. Measured over 200 series: 25 of 11,400 spiked series (0.2 %) get a change
    point."""
    for seed in range(3):
        for first in range(0, 40, 3):
            for second in range(first + 2, 40, 5):
                values = noisy(40, 0.02, seed)
                values[first] *= 1.3
                values[second] *= 0.7 if second % 2 else 1.3
                assert find_changes(values, "max") == [], (seed, first, second)


def test_two_steps_are_both_found():
    """+10 % at 15 and -8 % at 30; measured over 1,000 seeds: both within one point 99.5 %,
    both exact 94 %."""
    values = stepped(45, 0.02, 0, at=15, factor=1.10)
    values[30:] *= 0.92
    rise, fall = find_changes(values, "max")
    assert (rise.index, rise.kind) == (15, "improvement")
    assert (fall.index, fall.kind) == (30, "regression")
    assert rise.low < 1.10 < rise.high
    assert fall.low < 0.92 < fall.high
    found = 0
    for seed in range(1, 51):
        values = stepped(45, 0.02, seed, at=15, factor=1.10)
        values[30:] *= 0.92
        indices = [c.index for c in find_changes(values, "max")]
        found += len(indices) == 2 and abs(indices[0] - 15) <= 1 and abs(indices[1] - 30) <= 1
    assert found >= 48


def test_a_5_percent_step_is_found_with_8_points_after_it():
    """A 5 % slowdown (lower is better: a time) at 2 % noise, 20 points before and 8 after,
    reported as a regression within two commits of the step. Measured over 4,000 seeds:
    91 % (exactly at the step 70 %; a 2.5-sigma step's position is uncertain by a point or
    two); with 4 points after 48 %, 6: 80 %, 12: 96 %, 20: 97.5 %. Points arriving one by
    one, it is first found at the 4th point after the step (median), 90 % by the 8th."""
    found = 0
    for seed in range(100):
        changes = find_changes(stepped(28, 0.02, seed, at=20, factor=1.05), "min")
        found += any(c.kind == "regression" and abs(c.index - 20) <= 2 for c in changes)
    assert found >= 80  # 90 with these seeds


def test_nan_points_are_skipped_and_indices_are_the_originals():
    values = stepped(44, 0.02, 0, at=20, factor=1.10)
    values[[3, 11, 27, 40]] = math.nan
    values[35] = -1.0  # not positive: no log, skipped like a missing figure
    values[8] = math.inf
    (change,) = find_changes(values, "max")
    assert change.index == 20
    values[20] = math.nan  # the new level's first point missing: the next is its first
    (change,) = find_changes(values, "max")
    assert change.index == 21


@pytest.mark.parametrize(
    "values",
    [
        [],
        [math.nan] * 10,
        [1.0, 1.0, 1.0, 2.0, 2.0],  # 5 points: two segments of min_size 3 need 6
        [1.0, math.nan, 1.0, 1.0, math.nan, 2.0, math.nan, 2.0, math.nan, math.nan],
    ],
)
def test_short_series_give_no_change(values):
    assert find_changes(values, "max") == []


def test_six_usable_points_are_enough():
    values = [1.0, 1.0, math.nan, 1.0, 2.0, math.nan, 2.0, 2.0]
    assert [c.index for c in find_changes(values, "max")] == [4]
    assert find_changes(values, "max", min_size=4) == []


def test_an_exact_step_in_a_constant_figure():
    """A figure that does not vary (a memory size): no noise to scale by, yet the step is
    found, exact."""
    values = [2.0e9] * 20 + [2.2e9] * 20
    (change,) = find_changes(values, "min")
    assert (change.index, change.kind, change.p_value) == (20, "regression", 0.0)
    assert change.low == pytest.approx(1.1) and change.high == pytest.approx(1.1)
    assert find_changes([2.0e9] * 40, "min") == []


def test_min_effect_and_direction():
    values = stepped(40, 0.02, 0, at=20, factor=1.10)
    assert find_changes(values, "max", min_effect=0.2) == []
    with pytest.raises(ValueError, match="direction"):
        find_changes(values, "higher")


def test_welch_matches_scipy():
    rng = np.random.default_rng(0)
    before, after = rng.normal(0.0, 0.02, 7), rng.normal(0.03, 0.05, 4)
    reference = stats.ttest_ind(after, before, equal_var=False)
    interval = reference.confidence_interval(0.95)
    expected = [math.exp(after.mean() - before.mean()), math.exp(interval.low)]
    expected += [math.exp(interval.high), reference.pvalue]
    assert welch(before, after) == pytest.approx(expected, rel=1e-9)
