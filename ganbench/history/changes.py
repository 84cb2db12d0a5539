"""Change points in one series: where a figure's level moved, found in two stages.

1. **Search**: PELT (ruptures) with the ``l2`` cost on the log of the values, so a step is a
   ratio and a 10 % step weighs the same at any level. ``min_size`` points per segment (3)
   keep a single spike, or two, from forming a level of their own; every commit may start
   one (``jump=1``). The penalty per change is ``penalty_scale * sigma**2 * log(n)``
   (BIC-like, ``penalty_scale`` 5), ``sigma`` the noise of one point estimated robustly
   from the first differences (``noise_sigma``): the steps being searched for and the odd
   spike do not inflate it, so they cannot hide themselves.
2. **Validation**: each candidate is a Welch t-test of the segments either side (log
   scale); one whose p-value is not below ``alpha`` (0.01) over the number of candidates
   (Bonferroni), or whose ratio is within ``min_effect`` (0: off) of 1, is dropped, the
   weakest first, and its neighbours are tested again against the merged segment. What
   survives is reported with the ratio of the geometric means either side, its 95 % Welch
   interval and its (unadjusted) p-value.

The penalty is what keeps noise quiet; the test drops the candidates that only a local
burst of noise (a spike next to a short segment) made. On lognormal noise (measured,
``tests/history/test_changes.py``): about 1 in 500 noise-only series of 50 points gets a
change point, at any noise level (both stages are scale-free); a 10 % step at 2 % noise is
found at its commit about 98 % of the time; a 5 % step at 2 % noise is found (within two
commits) with 8 points after it about 91 % of the time.

ruptures, not Apache Otava's E-Divisive means: ruptures is maintained, small and needs only
numpy and scipy, while Otava pins numpy==2.2.0 and pulls BigQuery and Slack clients.

Points that are NaN, infinite or not positive (a missing or failed figure) are skipped;
indices are those of the values given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import ruptures as rpt
from scipy import stats

from ganbench.history.series import Change

MIN_SIZE = 3  # points per segment: a spike (or two) cannot stand as a level of its own
PENALTY_SCALE = 5.0  # times sigma**2 log(n): about 1 noise-only series in 500 gets a change
ALPHA = 0.01  # the validation's level, over the candidates (Bonferroni)
CONFIDENCE = 0.95  # of the reported interval
MAD_TO_SD = 1.4826  # a normal variable's standard deviation over its median |deviation|
TRIM = 3.0  # noise differences beyond 3 standard deviations are left out: steps, spikes
# The variance of a standard normal variable within +-TRIM: trimming shrinks it by this.
TRIMMED_VARIANCE = 1 - 2 * TRIM * stats.norm.pdf(TRIM) / (2 * stats.norm.cdf(TRIM) - 1)


def find_changes(
    values: Sequence[float],
    direction: str,
    *,
    min_size: int = MIN_SIZE,
    penalty_scale: float = PENALTY_SCALE,
    alpha: float = ALPHA,
    min_effect: float = 0.0,
) -> list[Change]:
    """The change points of ``values`` (one series' point values in commit order, positive),
    in order; ``direction`` "max" (higher is better) or "min" says which moves are
    regressions. ``min_effect``: a relative change (0.005 = 0.5 %) below which none is
    reported. Fewer than ``2 * min_size`` usable points give none."""
    if direction not in ("max", "min"):
        raise ValueError(f"direction {direction!r}: choose 'max' or 'min'")
    if min_size < 2:
        raise ValueError(f"min_size {min_size}: a segment needs 2 points for its spread")
    index, logs = usable_logs(values)
    if len(logs) < 2 * min_size:
        return []
    penalty = penalty_scale * noise_sigma(logs) ** 2 * math.log(len(logs))
    candidates = search(logs, min_size, penalty)
    kept = validate(logs, candidates, alpha / max(len(candidates), 1), min_effect)
    return [_change(int(index[b]), *test, direction) for b, test in kept]


def usable_logs(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the finite positive values, and their natural logs."""
    array = np.asarray(values, dtype=float)
    index = np.flatnonzero(np.isfinite(array) & (array > 0))
    return index, np.log(array[index])


def noise_sigma(logs: np.ndarray) -> float:
    """The noise's standard deviation from the first differences (a difference of two
    independent points has sqrt(2) times the spread of one), robustly: a first guess from
    their median absolute value, then the root mean square of those within ``TRIM`` of
    those guesses (corrected for the trimming). A step moves one difference and a spike
    two, which both ignore; the second is about as steady as a plain standard deviation.
    Where most differences are zero (a figure that rarely moves) the plain root mean
    square."""
    diffs = np.diff(logs)
    if len(diffs) == 0:
        return 0.0
    guess = MAD_TO_SD * float(np.median(np.abs(diffs)))
    if guess == 0:  # most points equal their neighbour (a memory size): trim nothing
        return math.sqrt(float(np.mean(diffs**2)) / 2)
    kept = diffs[np.abs(diffs) <= TRIM * guess]
    return math.sqrt(float(np.mean(kept**2)) / TRIMMED_VARIANCE / 2)


def search(logs: np.ndarray, min_size: int, penalty: float) -> list[int]:
    """PELT's change points with the ``l2`` cost: the first position of each new level."""
    if penalty <= 0:  # no noise at all (constant pieces): any positive penalty will do
        penalty = 1e-12
    # KernelCPD with the linear kernel is PELT with the l2 cost (the same change points),
    # in ruptures' C code: hundreds of times faster than rpt.Pelt(model="l2").
    algo = rpt.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(logs)
    return [int(b) for b in algo.predict(pen=penalty)[:-1]]  # the last is the series' end


def validate(
    logs: np.ndarray, candidates: list[int], level: float, min_effect: float
) -> list[tuple[int, tuple[float, float, float, float]]]:
    """The candidates whose Welch test against their neighbouring segments has a p-value
    below ``level`` and a ratio at least ``min_effect`` from 1, each with its test (see
    ``welch``). The weakest failing candidate goes first, then the others are tested
    again: dropping one merges two segments, which changes its neighbours' tests."""
    breaks = list(candidates)
    while breaks:
        edges = [0, *breaks, len(logs)]
        triples = zip(edges, edges[1:], edges[2:], strict=False)  # each break and its neighbours
        tests = [welch(logs[a:b], logs[b:c]) for a, b, c in triples]
        failing = [
            (p, i)
            for i, (ratio, _, _, p) in enumerate(tests)
            if not p < level or abs(ratio - 1) < min_effect
        ]
        if not failing:
            return list(zip(breaks, tests, strict=True))
        breaks.pop(max(failing)[1])
    return []


def welch(before: np.ndarray, after: np.ndarray) -> tuple[float, float, float, float]:
    """Welch's t-test of two segments of logs (as ``scipy.stats.ttest_ind(after, before,
    equal_var=False)``, written out: that call costs a millisecond): the ratio of their
    geometric means (after over before), its ``CONFIDENCE`` interval and the two-sided
    p-value. Two constant segments: p 0 when they differ, 1 when not, the ratio exact."""
    diff = float(after.mean() - before.mean())
    a, b = _mean_variance(before), _mean_variance(after)
    se = math.sqrt(a + b)
    if se == 0:
        return math.exp(diff), math.exp(diff), math.exp(diff), float(abs(diff) < 1e-12)
    df = (a + b) ** 2 / (a**2 / (len(before) - 1) + b**2 / (len(after) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    p = 2 * float(stats.t.sf(abs(diff) / se, df))
    return math.exp(diff), math.exp(diff - half), math.exp(diff + half), p


def _mean_variance(logs: np.ndarray) -> float:
    """The variance of a segment's mean; exactly 0 for a constant one (numpy's var need not
    be, by rounding)."""
    return 0.0 if np.ptp(logs) == 0 else float(logs.var(ddof=1)) / len(logs)


def _change(index: int, ratio: float, low: float, high: float, p: float, direction: str) -> Change:
    worse = ratio < 1 if direction == "max" else ratio > 1
    return Change(index, ratio, low, high, p, "regression" if worse else "improvement")
