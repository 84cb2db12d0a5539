"""`ganbench selftest overhead`: the bare step against the instrumented loop, over whole
log intervals, so a cost paid once per ``log_every`` iterations is counted."""

from __future__ import annotations

import json
import time

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.config import choose_run, load_suite
from ganbench.run.log import IterationLog
from ganbench.selftest import overhead
from ganbench.selftest.overhead import block_iterations, block_ratios, measure_overhead
from tests.conftest import tiny_suite

CPU = torch.device("cpu")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_selftest_overhead_prints_the_total_time_ratio_and_the_null_step_cost(
    write_suite, tmp_path
):
    path = write_suite(tiny_suite())  # log_every 2
    out = tmp_path / "overhead.json"
    args = ("--suite", str(path), "--run", "tiny", "--rounds", "2", "--block", "3")
    result = invoke("selftest", "overhead", *args, "--output", str(out))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2 rounds x 2 blocks x 4 iterations (2 x log_every 2)" in text  # 3 rounded up
    assert "total time instrumented/bare (2 rounds x 4 it)" in text
    assert "median of the pairs' ratios (for comparison)" in text and "null-step cost" in text
    r = json.loads(out.read_text())
    assert (r["rounds"], r["block"], r["log_every"]) == (2, 4, 2)
    assert len(r["bare_block_s"]) == len(r["instrumented_block_s"]) == 2
    total = sum(r["instrumented_block_s"]) / sum(r["bare_block_s"])
    assert r["ratio_total"] == pytest.approx(total)
    assert r["overhead_pct"] == pytest.approx((total - 1) * 100)
    assert r["bare_iter_s"] == pytest.approx(sum(r["bare_block_s"]) / 8)
    assert r["phases_per_iteration"] == 4  # data, d_step, data, g_step
    assert r["null_step_cost_s"] >= 0
    bad = invoke("selftest", "overhead", "--suite", str(path), "--run", "nope")
    assert bad.exit_code == 2


def test_blocks_are_whole_log_intervals(write_suite) -> None:
    run = choose_run(load_suite(write_suite(tiny_suite(log_every=5)), []), "tiny")
    assert [block_iterations(run, b) for b in (None, 1, 5, 6, 11)] == [5, 5, 5, 10, 15]


def test_the_median_of_pairs_misses_a_cost_paid_once_per_interval_and_the_total_does() -> None:
    """Single-iteration pairs, a 50 % cost on every tenth instrumented one (a log flush):
    the median of the pairs' ratios sees nothing, the ratio of totals sees 5 %."""
    bare = [1.0] * 200
    instrumented = [1.5 if i % 10 == 9 else 1.0 for i in range(200)]
    r = block_ratios(bare, instrumented)
    assert r.ratio_median_pairs == 1.0 and r.ratio_median_pairs_ci95 == (1.0, 1.0)
    assert r.ratio_total == pytest.approx(1.05)
    low, high = r.ratio_total_ci95
    assert 1.0 < low < 1.05 < high < 1.1  # rounds resampled: the share of costly ones varies
    assert (r.ratio_pairs_min, r.ratio_pairs_max) == (1.0, 1.5)


FLUSH_SLEEP_S = 0.05


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared machine, two would wait on each other and on
    other processes, in spikes larger than the cost looked for."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_cost_at_every_log_point_moves_the_overhead(
    write_suite, tmp_path, monkeypatch, one_thread
):
    """50 ms slept at each log flush (every 2 iterations) is 25 ms per iteration on top of
    a step of a few ms: the overhead must rise by most of that. (As large as that so that
    a shared machine's pauses, up to a few hundred ms, cannot hide it.)"""
    run = choose_run(load_suite(write_suite(tiny_suite()), []), "tiny")
    monkeypatch.setattr(overhead, "NULL_ITERATIONS", 10)  # the null loop flushes too

    def measure(folder: str):
        return measure_overhead(run, CPU, rounds=12, block=None, workdir=tmp_path / folder)

    plain = measure("plain")
    flush = IterationLog.flush

    def slow_flush(self: IterationLog) -> None:
        time.sleep(FLUSH_SLEEP_S)
        flush(self)

    monkeypatch.setattr(IterationLog, "flush", slow_flush)
    slowed = measure("slowed")
    assert slowed.block == plain.block == run.log_every == 2
    injected_pct = FLUSH_SLEEP_S / run.log_every / slowed.bare_iter_s * 100
    rise = slowed.overhead_pct - plain.overhead_pct
    assert rise > 0.5 * injected_pct, (plain.overhead_pct, slowed.overhead_pct, injected_pct)
    # Every instrumented block holds one log point: each paid the sleep once.
    assert min(slowed.instrumented_block_s) > FLUSH_SLEEP_S
