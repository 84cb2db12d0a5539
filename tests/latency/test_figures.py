"""What each latency figure means, pinned on hand-computed cases: percentiles only with
enough calls, their order-statistic intervals, warm-up until steady, the block back to
back, and n shown beside the figures."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from rich.console import Console
from scipy.stats import binom
from torch import nn

from ganbench.cli.render_results import latency_cells, print_latency
from ganbench.latency.measure import Timed, measure_rows, prepare_generator, run_latency
from ganbench.latency.settings import LatencySettings
from ganbench.latency.sources import GeneratorSource, fresh_generator
from ganbench.latency.warmup import steady_so_far, warm_up, warmup_done
from ganbench.models import MODELS
from ganbench.report.latency_table import latency_table
from ganbench.trackers.clock import CallTimer
from ganbench.trackers.stats import (
    Percentile,
    interval_min_count,
    order_statistic_ranks,
    percentile_min_count,
)

CPU = torch.device("cpu")
# 100 call times, skewed: 90 fast, 9 slow, 1 very slow (sorted: x_1..x_90 = 1, x_91..x_99
# = 10, x_100 = 100). Linear interpolation at fraction q sits at position q * 99 (from 0).
SKEWED = [1.0] * 90 + [10.0] * 9 + [100.0]


class Scripted(CallTimer):
    """A CPU timer that runs each call but reports the next scripted duration."""

    def __init__(self, durations: list[float]) -> None:
        super().__init__(CPU)
        self.durations: Iterator[float] = iter(durations)

    def __call__(self, fn):
        return next(self.durations), fn()


class Zeros(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(z.shape[0], 1, 2, 2)


def zeros_source() -> GeneratorSource:
    config = MODELS.get("mlp").Config(latent_dim=4)
    return GeneratorSource(generator=Zeros(), model=config, shape=(1, 2, 2), origin="fresh")


def scripted_row(timed: list[float], block_s: float, batch: int = 8) -> dict:
    """One row whose first call takes 1 s, its timed calls ``timed``, its block
    ``block_s`` (warm-up: the first call only)."""
    settings = LatencySettings(batch_sizes=(batch,), warmup=1, warmup_max_s=0.0, repeats=len(timed))
    source = zeros_source()
    G, _ = prepare_generator(source, settings)
    timer = Scripted([1.0, *timed, block_s])
    (row,) = measure_rows([Timed("G", G, (4,))], settings, CPU, timer)
    return row


# ------------------------------------------------------------------ percentiles


def test_each_percentile_needs_one_call_expected_above_it() -> None:
    assert [percentile_min_count(p) for p in (50, 90, 99)] == [2, 10, 100]
    short = Percentile.of(SKEWED[:99], 99, noun="calls")
    assert short.value is None and short.interval is None
    assert short.reason == "needs >= 100 calls, had 99"
    assert Percentile.of(SKEWED, 99).value == pytest.approx(10.9)
    assert Percentile.of([3.0], 50, noun="calls").reason == "needs >= 2 calls, had 1"


def test_a_skewed_sample_gives_distinct_percentiles_with_their_intervals() -> None:
    """Hand-computed: p50 at position 49.5 is 1; p90 at 89.1 is 1 + 0.1 * (10 - 1) = 1.9;
    p99 at 98.01 is 10 + 0.01 * (100 - 10) = 10.9. Intervals: p50 ranks 40 and 61 (both
    1), p90 ranks 84 and 96 (1 and 10); p99 has none at 100 calls (it needs 368)."""
    row = scripted_row(SKEWED[::-1], block_s=5.0)
    assert row["latency_count"] == 100
    assert row["latency_p50_s"] == pytest.approx(1.0)
    assert row["latency_p90_s"] == pytest.approx(1.9)
    assert row["latency_p99_s"] == pytest.approx(10.9)
    assert row["latency_p90_s"] != row["latency_p50_s"] != row["latency_p99_s"]
    assert row["latency_p50_ci_s"] == [1.0, 1.0] and row["latency_p50_reason"] is None
    assert row["latency_p90_ci_s"] == [1.0, 10.0] and row["latency_p90_reason"] is None
    assert row["latency_p99_ci_s"] is None
    assert row["latency_p99_reason"] == "95% interval needs >= 368 calls, had 100"
    assert row["latency_mean_s"] == pytest.approx((90 + 90 + 100) / 100)


def test_order_statistic_ranks_bracket_the_quantile_with_95_percent() -> None:
    """n = 10, median: B ~ Binomial(10, 1/2); P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) =
    56/1024, so l = 2 and, by symmetry, u = 9: coverage 1 - 22/1024. n = 25 and 100 match
    the published tables of median intervals (8, 18) and (40, 61)."""
    assert order_statistic_ranks(10, 0.5) == (2, 9)
    assert binom.cdf(8, 10, 0.5) - binom.cdf(1, 10, 0.5) == pytest.approx(1 - 22 / 1024)
    assert order_statistic_ranks(25, 0.5) == (8, 18)
    assert order_statistic_ranks(100, 0.5) == (40, 61)
    low, high = order_statistic_ranks(100, 0.9)
    assert binom.cdf(low - 1, 100, 0.9) <= 0.025 < binom.cdf(low, 100, 0.9)
    assert binom.sf(high - 1, 100, 0.9) <= 0.025 < binom.sf(high - 2, 100, 0.9)
    assert order_statistic_ranks(5, 0.5) is None  # 0.5**5 > 0.025: no rank 1..5 will do
    for q, need in ((0.5, 6), (0.9, 36), (0.99, 368)):
        assert interval_min_count(q) == need
        assert order_statistic_ranks(need, q) is not None
        assert order_statistic_ranks(need - 1, q) is None
    interval = Percentile.of([float(v) for v in range(10, 0, -1)], 50).interval
    assert interval == (2.0, 9.0)  # the 2nd and 9th smallest


# ------------------------------------------------------------------ warm-up


def test_warm_up_goes_on_while_call_times_fall_and_stops_once_steady() -> None:
    """After the first call, 8 falling times then 2 ms each: the median of the last 5
    against the median of the 5 before first agrees when the earlier window holds three
    2 ms calls, at the 16th call after the first."""
    falling = [0.5, 0.25, 0.125, 0.0625, 0.03, 0.015, 0.008, 0.004]
    durations = iter([*falling, *[0.002] * 100])
    settings = LatencySettings(warmup=1, warmup_min_s=0.2, warmup_max_s=5.0)
    warm = warm_up(lambda: next(durations), 1.0, settings)
    assert len(warm.times_s) == 1 + 16 and warm.steady
    for made in range(1, 17):  # every earlier point: unsteady, so it went on
        times = warm.times_s[:made]
        assert not steady_so_far(times)
        assert not warmup_done(made, sum(times[1:]), steady_so_far(times), settings)
    assert warm.fields() == {
        "warmup_calls": 17,
        "warmup_s": pytest.approx(1.0 + sum(falling) + 8 * 0.002),
        "warmup_steady": True,
    }


def test_warm_up_honours_its_minimum_time_and_count_and_stops_at_its_cap() -> None:
    step = 2.0**-6  # 15.625 ms, exact in binary
    steady = LatencySettings(warmup=1, warmup_min_s=0.2, warmup_max_s=5.0)
    warm = warm_up(lambda: step, 1.0, steady)  # steady from 10 calls; 0.2 s at 13
    assert len(warm.times_s) == 1 + 13 and warm.steady
    counted = LatencySettings(warmup=30, warmup_min_s=0.2, warmup_max_s=0.0)
    assert len(warm_up(lambda: step, 1.0, counted).times_s) == 30  # the count comes first
    durations = (0.1 * 0.9**i for i in range(1000))  # never steady (0.9**5 = 0.59)
    capped = LatencySettings(warmup=1, warmup_min_s=0.2, warmup_max_s=0.5)
    warm = warm_up(lambda: next(durations), 1.0, capped)
    # 0.1 * (1 - 0.9**k) / 0.1 >= 0.5 first at k = 7
    assert len(warm.times_s) == 1 + 7 and not warm.steady


# ------------------------------------------------------------------ throughput and n


def test_the_block_runs_back_to_back_and_gives_its_own_throughput() -> None:
    row = scripted_row([0.01] * 40, block_s=0.05, batch=8)
    assert row["blocked_calls"] == math.ceil(40 / 4) == 10
    assert row["blocked_s"] == 0.05
    assert row["blocked_images_per_s"] == pytest.approx(8 * 10 / 0.05)  # 1,600
    assert row["images_per_s"] == pytest.approx(8 / 0.01)  # 800: one call at a time
    assert scripted_row([0.01] * 3, block_s=0.01)["blocked_calls"] == 2  # at least 2


def test_a_real_row_has_a_positive_blocked_throughput_and_shows_n(tmp_path: Path) -> None:
    source = fresh_generator("mlp", ["dataset.image_size=8", "dataset.channels=1"])
    settings = LatencySettings(batch_sizes=(1, 4), warmup=1, warmup_min_s=0.01, repeats=37)
    result = run_latency(source, settings, CPU, tmp_path)
    for row in result.rows:
        assert row["status"] == "ok" and row["latency_count"] == 37
        assert row["blocked_calls"] == 10 and row["blocked_images_per_s"] > 0
        assert row["latency_p99_reason"] == "needs >= 100 calls, had 37"
        assert row["warmup_calls"] >= 1 and row["warmup_s"] > 0
    out = io.StringIO()
    print_latency(Console(file=out, width=300), result, tmp_path)
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if " calls " in line)
    end = header.index(" calls ") + len(" calls")  # a right-aligned column ends here
    body = [line for line in lines if line.lstrip().startswith("fp32")]
    assert [line[:end].split()[-1] for line in body] == ["37", "37"]
    assert "blk img/s" in header
    assert "p99 -: fp32 compile off batch 4: needs >= 100 calls, had 37" in lines
    headers, cells = latency_cells(result.rows)  # --format md
    assert [c[headers.index("calls")] for c in cells] == ["37", "37"]
    doc = result.as_dict()
    table = latency_table(doc)  # the report's latency table
    assert [r[table.headers.index("calls")] for r in table.rows] == ["37", "37"]
    assert all(r[table.headers.index("images/s blocked")] != "-" for r in table.rows)
