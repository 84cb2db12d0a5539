"""A configuration against a baseline, figure by figure: one rule for every verdict, and
the verdict read off the interval that is printed beside it.

- **The ratio** ``A / B`` and its 95 % interval, on the log scale:
  *paired by block* where both configurations ran interleaved (``order: interleaved``
  or ``random``) and at least two blocks hold a finished run of each: the mean of the
  blocks' log ratios, t with n - 1 degrees of freedom (a machine that slows down between
  blocks slows both runs of a block alike, so the drift cancels); otherwise *Welch*: the
  ratio of the two means, its log's standard error by the delta method
  (``sA^2 / (nA mA^2) + sB^2 / (nB mB^2)``), Welch-Satterthwaite degrees of freedom.
- **Many comparisons** (every configuration on every figure of a table) are adjusted
  with Benjamini-Hochberg: among m comparisons, the R smallest p-values with the R-th at
  most ``0.05 R / m`` are the differences found (at most 5 % of them expected to be
  wrong), and every interval is shown at level ``1 - 0.05 max(R, 1) / m`` (the
  false-coverage-rate intervals of Benjamini and Yekutieli, 2005), at which exactly the
  differences found exclude 1: the verdict and the printed interval agree.
- **The verdict**: ``equivalent`` when the interval lies inside the equivalence margin
  ``[1 - m, 1 + m]`` (default 3 % for speed, memory and cost figures, none for quality);
  else ``better`` or ``worse`` when it excludes 1; else ``no clear difference`` (also
  with one value on either side: no interval).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from scipy import stats

from ganbench.errors import UserError
from ganbench.report.collect import COST, MEMORY, SPEED, SuiteRuns
from ganbench.report.estimate import ALPHA, finished_runs, finite
from ganbench.report.survival import TargetComparison, compare_times, times_to_target

DEFAULT_MARGIN = 0.03  # speed, memory and cost figures: smaller differences do not matter
PAIRED_ORDERS = ("interleaved", "random")  # orders whose blocks ran side by side

VERDICTS = ("better", "worse", "equivalent", "no clear difference", "no data")


@dataclass(frozen=True)
class Sample:
    """A configuration's finished values of one figure, each with the block it ran in
    (None where its suite did not run interleaved)."""

    values: tuple[float, ...]
    blocks: tuple[int | None, ...]


@dataclass(frozen=True)
class Comparison:
    ratio: float  # NaN where either side has no value or a mean <= 0
    se: float  # of log(ratio); NaN without an interval, 0 when nothing varied
    df: float
    method: str  # "paired by block (3 pairs)", "Welch" or "" (no interval)
    direction: str  # "max": higher is better, "min": lower is better
    margin: float = 0.0
    alpha: float = ALPHA  # after adjust(): the level its interval is shown at
    family: int = 1  # how many comparisons it was adjusted with

    @property
    def testable(self) -> bool:
        return math.isfinite(self.ratio) and self.ratio > 0 and math.isfinite(self.se)

    @property
    def exact(self) -> bool:
        """Nothing varied on either side: the ratio has no uncertainty to adjust."""
        return self.testable and self.se == 0

    @property
    def p_value(self) -> float:
        """Two-sided, for a ratio of 1 (NaN when there is no interval)."""
        if not self.testable:
            return math.nan
        if self.se == 0:
            return 1.0 if self.ratio == 1 else 0.0
        return float(2 * stats.t.sf(abs(math.log(self.ratio)) / self.se, self.df))

    def interval(self) -> tuple[float, float]:
        """The ratio's interval at this comparison's (adjusted) level."""
        if not self.testable:
            return math.nan, math.nan
        if self.se == 0:
            return self.ratio, self.ratio
        spread = math.exp(float(stats.t.ppf(1 - self.alpha / 2, self.df)) * self.se)
        return self.ratio / spread, self.ratio * spread

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.ratio):
            return "no data"
        low, high = self.interval()
        if not math.isfinite(low):
            return "no clear difference"
        if 1 - self.margin <= low and high <= 1 + self.margin:
            return "equivalent"
        if low <= 1 <= high:
            return "no clear difference"
        return "better" if (low > 1) == (self.direction == "max") else "worse"


def compare(a: Sample, b: Sample, direction: str, margin: float = 0.0) -> Comparison:
    """``a`` against ``b``: paired by block where it can be, else Welch."""
    x, y = finite(a.values), finite(b.values)
    if not (len(x) and len(y)) or x.mean() <= 0 or y.mean() <= 0:
        return Comparison(math.nan, math.nan, math.nan, "", direction, margin)
    pairs = _pairs(a, b)
    if len(pairs) >= 2:
        d = np.log(pairs[:, 0]) - np.log(pairs[:, 1])
        se = float(d.std(ddof=1)) / math.sqrt(len(d))
        method = f"paired by block ({len(d)} pairs)"
        return Comparison(math.exp(d.mean()), se, len(d) - 1, method, direction, margin)
    r = float(x.mean() / y.mean())
    if len(x) < 2 or len(y) < 2:
        return Comparison(r, math.nan, math.nan, "", direction, margin)
    va = float(x.var(ddof=1)) / (len(x) * x.mean() ** 2)
    vb = float(y.var(ddof=1)) / (len(y) * y.mean() ** 2)
    se = math.sqrt(va + vb)
    df = welch_df(va, len(x), vb, len(y)) if se > 0 else math.inf
    return Comparison(r, se, df, "Welch", direction, margin)


def welch_df(va: float, na: int, vb: float, nb: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of two variance terms ``va`` and
    ``vb`` estimated from ``na`` and ``nb`` values."""
    return (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))


def _pairs(a: Sample, b: Sample) -> np.ndarray:
    """(value of a, value of b) per block both ran in, positive values only."""
    mine = {k: v for k, v in zip(a.blocks, a.values, strict=True) if _pairable(k, v)}
    theirs = {k: v for k, v in zip(b.blocks, b.values, strict=True) if _pairable(k, v)}
    shared = sorted(set(mine) & set(theirs))
    return np.asarray([(mine[k], theirs[k]) for k in shared], dtype=float).reshape(-1, 2)


def _pairable(block: int | None, value: float) -> bool:
    return block is not None and value is not None and math.isfinite(value) and value > 0


K = TypeVar("K")
C = TypeVar("C", "Comparison", TargetComparison)


def adjust(comparisons: Mapping[K, C], alpha: float = ALPHA) -> dict[K, C]:
    """Benjamini-Hochberg over ``comparisons`` (one table's): of the m testable ones
    (exact ones, where nothing varied, left out), the R with the smallest p-values such
    that the R-th is at most ``R alpha / m`` are the differences found; every interval
    is then shown at level ``1 - max(R, 1) alpha / m`` (Benjamini and Yekutieli's
    false-coverage-rate intervals), where exactly the differences found exclude 1."""
    tested = sorted(
        (k for k, c in comparisons.items() if c.testable and not c.exact),
        key=lambda k: comparisons[k].p_value,
    )
    m = len(tested)
    found = [i + 1 for i, k in enumerate(tested) if comparisons[k].p_value <= (i + 1) * alpha / m]
    level = max(found, default=1) * alpha / max(m, 1)
    adjusted = dict(comparisons)
    for key in tested:
        adjusted[key] = replace(comparisons[key], alpha=level, family=m)
    return adjusted


def default_margin(figure: str) -> float:
    """3 % for speed, memory and cost figures; none for quality."""
    return DEFAULT_MARGIN if figure in SPEED or figure in MEMORY or figure in COST else 0.0


def parse_margins(text: str | None, known: list[str]) -> dict[str, float]:
    """``images_per_s=5%,peak_rss_bytes=0.01`` (``--margin``): per-figure margins over
    the defaults."""
    margins = figure_fractions(text, "--margin", known)
    for name, value in margins.items():
        if value >= 1:
            raise UserError(f"--margin {name}: a margin is below 100 % (e.g. {name}=3%)")
    return margins


def figure_fractions(text: str | None, option: str, known: list[str]) -> dict[str, float]:
    """``figure=5%`` or ``figure=0.05`` items, comma-separated, as fractions by figure;
    a malformed item or an unknown figure is a UserError naming ``option``."""
    found: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, raw = item.strip().partition("=")
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(%?)\s*", raw)
        if not sep or match is None:
            raise UserError(f"{option} {item}: expected figure=5% or figure=0.05")
        if name not in known:
            raise UserError(f"{option} {name}: not a figure here (choose: {', '.join(known)})")
        found[name] = float(match.group(1)) / (100 if match.group(2) else 1)
    return found


class Samples(dict[tuple[str, str], Sample]):
    """(configuration, figure) -> Sample; empty where there is none."""

    def __missing__(self, key: tuple[str, str]) -> Sample:
        return Sample((), ())


def samples_all(suite: SuiteRuns) -> Samples:
    """Every configuration's finished values of every figure, with their blocks."""
    finished = finished_runs(suite.runs)
    blocks = [_block(r) for _, r in finished.iterrows()]
    found = Samples()
    for f in suite.figures():
        for c in dict.fromkeys(suite.runs["configuration"]):
            mine = (finished["configuration"] == c).to_numpy()
            values = tuple(float(v) for v in finished.loc[mine, f])
            found[(c, f)] = Sample(values, tuple(b for b, m in zip(blocks, mine, strict=True) if m))
    return found


def _block(run) -> int | None:
    """The block a run ran in, where its suite ran interleaved."""
    order, block = run.get("order"), run.get("order_block")
    if order not in PAIRED_ORDERS or block is None or block != block:  # NaN: not recorded
        return None
    return int(block)


@dataclass
class Comparisons:
    """Every (configuration, figure) comparison against one baseline, adjusted per
    family (the figures of one table), with the margins they were judged by."""

    baseline: str
    found: dict[tuple[str, str], Comparison | TargetComparison]

    def get(self, key: tuple[str, str]) -> Comparison | TargetComparison | None:
        return self.found.get(key)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a configuration of a suite, with the suite's samples."""

    suite: SuiteRuns
    samples: Samples
    name: str


def compare_all(
    suite: SuiteRuns,
    baseline: str,
    families: list[list[str]],
    margins: Mapping[str, float] | None = None,
) -> Comparisons:
    """Each configuration against ``baseline`` on each figure of ``families`` (lists of
    figures), adjusted within each family (a figure in none is not compared)."""
    samples = samples_all(suite)
    found: dict[tuple[str, str], Comparison | TargetComparison] = {}
    base = Side(suite, samples, baseline)
    others = [c for c in dict.fromkeys(suite.runs["configuration"]) if c != baseline]
    for family in families:
        raw = {
            (c, f): compare_sides(Side(suite, samples, c), base, f, margins or {})
            for f in family
            for c in others
        }
        twins = [c for c in others if _one_quantity(samples, c, baseline)]
        for c in twins:  # counted once: iterations/s is images/s over a constant
            raw.pop((c, "iterations_per_s"), None)
        found.update(adjust(raw))
        for c in twins:
            if (c, "images_per_s") in raw and "iterations_per_s" in family:
                found[(c, "iterations_per_s")] = found[(c, "images_per_s")]
    return Comparisons(baseline, found)


def _one_quantity(samples: Samples, name: str, baseline: str) -> bool:
    """Whether ``name``'s and the baseline's images/s are their iterations/s times one
    and the same batch size in every run (a fixed batch on both sides): then the two
    figures' ratios, intervals and verdicts are identical, one comparison."""
    ratios = [
        images / iterations
        for c in (name, baseline)
        for images, iterations in zip(
            samples[(c, "images_per_s")].values,
            samples[(c, "iterations_per_s")].values,
            strict=False,
        )
        if math.isfinite(images) and math.isfinite(iterations) and iterations > 0
    ]
    return bool(ratios) and max(ratios) - min(ratios) <= 1e-9 * max(ratios)


TARGET_TIME = re.compile(r"^time_to_target\.(.+)\.train_s$")


def compare_sides(
    a: Side, b: Side, figure: str, margins: Mapping[str, float]
) -> Comparison | TargetComparison:
    """``a`` against ``b`` on ``figure``: a time to a target by survival (the runs that
    never reached it count), any other figure by its ratio, paired by block only within
    one suite (two suites' blocks ran at different times)."""
    target = TARGET_TIME.match(figure)
    if target:
        value = target[1]
        return compare_times(
            times_to_target(a.suite.runs, a.name, value),
            times_to_target(b.suite.runs, b.name, value),
        )
    mine, theirs = a.samples[(a.name, figure)], b.samples[(b.name, figure)]
    if a.suite is not b.suite:
        mine, theirs = replace(mine, blocks=(None,) * len(mine.values)), theirs
    direction = {**b.suite.directions, **a.suite.directions}[figure]
    return compare(mine, theirs, direction, margins.get(figure, default_margin(figure)))
