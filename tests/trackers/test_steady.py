"""The steady window on a clock the test moves: what is left out, and what the rest took."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore
from ganbench.run.summary import DATA_BOUND_SHARE, data_bound
from ganbench.run.train import train_run
from ganbench.strategies.alternating import Alternating
from ganbench.trackers.stats import IterationTimes
from ganbench.trackers.steady import SteadyWindow
from tests.conftest import mixture_run

CPU = torch.device("cpu")


class Loop:
    """A loop of iterations on a fake clock: each iteration takes the seconds given."""

    def __init__(self, warmup: int = 2, settle: int = 2) -> None:
        self.now, self.batch, self.compiled, self.syncs = 0.0, 32, 0, 0
        self.window = SteadyWindow(
            train_s=lambda: self.now,
            sync=self.sync,
            batch_size=lambda: self.batch,
            start=0,
            warmup=warmup,
            settle=settle,
            compiles=lambda: self.compiled,
        )

    def sync(self) -> None:
        self.syncs += 1

    def run(self, seconds: list[float], compile_at: int | None = None) -> SteadyWindow:
        for i, s in enumerate(seconds):
            self.window.begin_iteration(i)
            self.now += s
            if i == compile_at:
                self.compiled += 1
            self.window.end_iteration(i + 1, self.batch)
        self.window.close()
        return self.window


def test_a_slow_first_iteration_leaves_the_steady_rate_unchanged() -> None:
    fast = Loop().run([0.1] * 12)
    slow = Loop().run([5.0] + [0.1] * 11)
    assert fast.steady_iterations == slow.steady_iterations == 10  # 2 of warm-up out
    assert slow.steady_s == pytest.approx(fast.steady_s) == pytest.approx(1.0)
    assert slow.steady_images / slow.steady_s == pytest.approx(320.0)


def test_a_batch_size_change_leaves_its_settling_iterations_out() -> None:
    loop = Loop(warmup=2, settle=3)
    window = loop.window
    seconds = [1.0] * 2 + [0.1] * 4 + [9.0, 2.0, 0.5] + [0.2] * 3
    for i, s in enumerate(seconds):
        if i == 6:
            loop.batch = 64  # the growth step: new shapes from here
        window.begin_iteration(i)
        loop.now += s
        window.end_iteration(i + 1, loop.batch)
    window.close()
    assert [i for i in range(12) if window.is_left_out(i)] == [0, 1, 6, 7, 8]
    assert window.steady_iterations == 4 + 3
    assert window.steady_s == pytest.approx(0.4 + 0.6)
    assert window.steady_images == 4 * 32 + 3 * 64
    # The device is waited for where the window closes and opens again, not elsewhere.
    assert loop.syncs == 4  # warm-up ends, the change, settled again, and the close


def test_a_detected_compilation_is_left_out_with_the_iterations_after_it() -> None:
    seconds = [0.1] * 5 + [7.0] + [0.1] * 6
    window = Loop(warmup=2, settle=2).run(seconds, compile_at=5)
    assert [i for i in range(12) if window.is_left_out(i)] == [0, 1, 5, 6, 7]
    assert window.steady_iterations == 7 and window.steady_s == pytest.approx(0.7)


def test_a_checkpoint_inside_an_iteration_counts_it_up_to_the_window() -> None:
    loop = Loop(warmup=1)
    window = loop.run([0.1] * 3)  # closed: iterations 1 and 2 counted
    window.begin_iteration(3)
    loop.now += 0.5
    window.end_iteration(4, 32)
    with window.excluded("checkpoint"):
        loop.now += 9.0  # the checkpoint's own time: not the iteration's
        saved = window.state_dict()["steady"]
    assert saved["iterations"] == 3 and saved["seconds"] == pytest.approx(0.2 + 0.5)


def test_an_iteration_cut_short_is_not_counted() -> None:
    loop = Loop(warmup=0)
    window = loop.window
    window.begin_iteration(0)
    loop.now += 1.0  # a second Ctrl-C inside the step: no end_iteration
    window.close()
    assert window.steady_iterations == 0 and window.state_dict()["steady"]["iterations"] == 0


def test_a_graph_compiled_outside_iterations_is_not_blamed_on_the_next() -> None:
    loop = Loop(warmup=0, settle=2)
    window = loop.window
    for i in range(4):
        if i == 2:
            loop.compiled += 1  # the evaluation compiled G's eval graph between iterations
        window.begin_iteration(i)
        loop.now += 0.1
        window.end_iteration(i + 1, 32)
    window.close()
    assert window.steady_iterations == 4


def test_steady_totals_survive_a_resume() -> None:
    first = Loop().run([0.1] * 6)
    again = Loop()
    again.window.load_state_dict(first.state_dict())
    assert again.window.steady_iterations == 4 and again.window.steady_s == pytest.approx(0.4)
    assert again.window.is_left_out(1)


def test_a_run_with_a_slow_first_step_keeps_it_out_of_its_steady_rate(tmp_path, monkeypatch):
    """A real run: a 0.6 s stall in iteration 0 is in the overall rate, not the steady one."""
    step = Alternating.step
    calls = []

    def stalled(self):
        if next(self.G.parameters()).device.type != "meta":  # not the FLOP probe's copy
            calls.append(1)
            if len(calls) == 1:
                time.sleep(0.6)
        return step(self)

    monkeypatch.setattr(Alternating, "step", stalled)
    s = train_run(mixture_run(budget={"iterations": 20}), RunStore(tmp_path / "r"), CPU)
    assert s.status == "finished" and s.steady_iterations == 15
    assert s.train_s > 0.6 > s.steady_s
    assert s.images_per_s == pytest.approx(s.steady_images / s.steady_s)
    assert s.images_per_s_overall == pytest.approx(s.images_seen / s.train_s)
    assert s.first_iter_time_s >= 0.6


def test_growth_leaves_the_iterations_after_each_change_out(tmp_path: Path) -> None:
    run = mixture_run(
        budget={"iterations": 20},
        batch={
            "size": 16,
            "milestones": [{"iteration": 8, "size": 32}, {"iteration": 16, "size": 64}],
        },
        measure={"warmup_iterations": 2},
    )
    s = train_run(run, RunStore(tmp_path / "r"), CPU)
    assert s.status == "finished", s.reason
    # Warm-up 0-1, then 2 settling iterations after the changes at 8 and 16.
    assert s.iter_time_excluded_count == 2 + 2 + 2 and s.steady_iterations == 14
    assert s.steady_images == 6 * 16 + 6 * 32 + 2 * 64


def test_the_data_bound_threshold_is_a_fifth() -> None:
    assert DATA_BOUND_SHARE == 0.2
    assert data_bound(0.1999) is False and data_bound(0.2) is True and data_bound(None) is None


def test_percentiles_are_each_their_own() -> None:
    times = IterationTimes.from_values([float(v) for v in range(1, 101)])
    assert (times.p50_s, times.p90_s, times.p99_s) == pytest.approx((50.5, 90.1, 99.01))
    assert times.count == 100 and times.mean_s == pytest.approx(50.5)
