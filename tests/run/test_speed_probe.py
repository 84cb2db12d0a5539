"""The machine-speed probe: recorded in the summary with its identity, kept out of training
time and iteration times, off when asked, its samples kept across a resume; and the rule
that says which runs' machines were off their suite's speed."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import torch

from ganbench.results import RunStatus, RunStore
from ganbench.results.summary import unsteady_machines
from ganbench.run.speed_probe import ReferenceWorkload
from ganbench.run.train import train_run
from tests.conftest import mixture_run

CPU = torch.device("cpu")


def test_the_probe_is_recorded_with_its_identity(tmp_path: Path) -> None:
    run = mixture_run(budget={"iterations": 12}, measure={"speed_probe_every_s": 0.3})
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    speed = summary.machine_speed
    assert summary.status == RunStatus.FINISHED
    assert speed["device"] == "cpu" and speed["every_s"] == 0.3
    threads = torch.get_num_threads()
    assert (
        speed["workload"] == f"speed-probe v1: 48 x matmul 512x512 float32, {threads} torch threads"
    )
    samples = speed["samples"]
    assert speed["count"] == len(samples) >= 1  # the one before the first iteration at least
    seconds = [s["seconds"] for s in samples]
    assert speed["median_s"] == statistics.median(seconds) > 0
    assert speed["min_s"] == min(seconds) and speed["max_s"] == max(seconds)
    assert speed["total_s"] >= sum(seconds)  # the window: operands made, one untimed product
    assert [s["unix_s"] for s in samples] == sorted(s["unix_s"] for s in samples)
    assert 0 < samples[0]["wall_s"] <= summary.wall_s
    assert summary.train_s + speed["total_s"] <= summary.wall_s


def test_the_probe_is_not_training_time(tmp_path: Path, monkeypatch) -> None:
    """A probe that takes 0.4 s before every iteration: in the wall time, in no
    iteration's time and not in train_s or steady_s."""

    def slow(self: ReferenceWorkload) -> float:
        time.sleep(0.4)
        return 0.4

    monkeypatch.setattr(ReferenceWorkload, "seconds", slow)
    run = mixture_run(
        budget={"iterations": 5},
        measure={"speed_probe_every_s": 0.001, "warmup_iterations": 0},
        checkpoint={"every_iterations": None, "every_seconds": None},
    )
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    probes = summary.machine_speed["count"]
    assert probes == 5  # before the first iteration, then before each of the other four
    assert summary.machine_speed["median_s"] == 0.4
    assert summary.train_s < summary.wall_s - 0.4 * probes
    assert summary.steady_s <= summary.train_s
    assert summary.iter_time_p50_s < 0.4


def test_the_probe_waits_while_the_profiler_records(tmp_path: Path, monkeypatch) -> None:
    """Probes due at every iteration: none inside the profiler's window (4 iterations), so
    its trace and top operators are training's alone."""
    monkeypatch.setattr(ReferenceWorkload, "seconds", lambda self: 0.001)
    run = mixture_run(
        budget={"iterations": 8},
        measure={"speed_probe_every_s": 1e-6},
        profile={"wait": 1, "warmup": 1, "active": 2},
    )
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, CPU)
    assert summary.profile["complete"] is True
    assert summary.machine_speed["count"] == 1 + (8 - 4)
    assert "speed_probe" not in (store.profile_dir / "trace.json").read_text()


def test_the_probe_can_be_off(tmp_path: Path) -> None:
    run = mixture_run(budget={"iterations": 3}, measure={"speed_probe_every_s": None})
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert summary.status == RunStatus.FINISHED and summary.machine_speed is None


def test_the_samples_survive_a_resume(tmp_path: Path, monkeypatch) -> None:
    values = iter([0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    monkeypatch.setattr(ReferenceWorkload, "seconds", lambda self: next(values))
    run = mixture_run(budget={"iterations": 10}, measure={"speed_probe_every_s": 1000})
    store = RunStore(tmp_path / "run")
    asked = iter(range(100))
    stopped = train_run(run, store, CPU, should_stop=lambda: next(asked) >= 4 and "test")
    assert stopped.status == RunStatus.INTERRUPTED
    assert [s["seconds"] for s in stopped.machine_speed["samples"]] == [0.01]
    resumed = train_run(run, store, CPU)
    assert resumed.status == RunStatus.FINISHED
    assert [s["seconds"] for s in resumed.machine_speed["samples"]] == [0.01, 0.02]
    assert resumed.machine_speed["median_s"] == pytest.approx(0.015)


# --------------------------------------------------------------------- the rule

WORK = "speed-probe v1: 48 x matmul 512x512 float32, 2 torch threads"


def speed(*seconds: float, workload: str = WORK) -> dict:
    samples = [
        {"unix_s": 1000.0 + i, "wall_s": float(i), "seconds": s} for i, s in enumerate(seconds)
    ]
    return {
        "workload": workload,
        "device": "cpu",
        "median_s": statistics.median(seconds),
        "samples": samples,
    }


def test_a_run_whose_median_is_off_is_flagged() -> None:
    speeds = {"a": speed(0.070), "b": speed(0.071), "c": speed(0.069), "d": speed(0.2)}
    flagged = unsteady_machines(speeds)
    assert list(flagged) == ["d"]
    assert "2.84x the suite's median (200 ms vs 70 ms)" in flagged["d"]
    assert "slower" in flagged["d"]
    assert unsteady_machines(speeds, tolerance=3.0) == {}


def test_a_load_over_part_of_a_run_flags_it_and_one_stray_sample_does_not() -> None:
    partly = speed(*[0.07] * 4, 0.2, 0.3)  # median 0.07: a third of the samples off
    stray = speed(*[0.07] * 9, 0.5)
    flagged = unsteady_machines({"a": speed(0.07), "partly": partly, "stray": stray})
    assert list(flagged) == ["partly"]
    assert "2 of its 6 machine-speed probes were more than 10% off" in flagged["partly"]


def test_only_comparable_probes_are_compared() -> None:
    speeds = {
        "a": speed(0.07),
        "b": speed(0.07),
        "other": speed(0.5, workload="speed-probe v1: 1024 x matmul 1024x1024 float32, TF32 off"),
        "none": None,
        "failed early": {},
    }
    assert unsteady_machines(speeds) == {}
