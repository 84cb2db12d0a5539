"""A run's measurement in training: phases of slow loaders and discriminators, FLOPs
that add up across a resume, a profiled window, and every summary field documented."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore, RunSummary, read_events
from ganbench.run.probes import probe_iteration
from ganbench.run.session import DeviceBatches, build_session
from ganbench.run.train import train_run
from ganbench.strategies.oracle import GradientOracle
from ganbench.trackers.nvml import GpuMonitor
from tests.conftest import docs_text, mixture_run

CPU = torch.device("cpu")


class Paced:
    """Wraps ``fn`` so that every call first sleeps ``factor`` times as long as the run took
    since the previous call returned (at least ``floor`` seconds): a part of the step that
    is slower than all the rest of the run together, by that factor, however loaded the
    machine is (under load the rest slows down, and the sleeps grow with it)."""

    def __init__(self, fn, factor: float, floor: float) -> None:
        self.fn, self.factor, self.floor = fn, factor, floor
        self.calls: list[tuple[float, tuple]] = []  # (the sleep asked for, the arguments)
        self._returned: float | None = None

    def __call__(self, *args, **kwargs):
        since = 0.0 if self._returned is None else time.perf_counter() - self._returned
        self.calls.append((max(self.floor, self.factor * since), args))
        time.sleep(self.calls[-1][0])
        try:
            return self.fn(*args, **kwargs)
        finally:
            self._returned = time.perf_counter()


def test_a_slow_loader_makes_the_run_data_bound(tmp_path: Path, monkeypatch) -> None:
    loader = Paced(DeviceBatches.next, factor=3, floor=0.05)
    monkeypatch.setattr(DeviceBatches, "next", lambda self: loader(self))
    run = mixture_run(budget={"iterations": 12})
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert s.status == "finished", s.reason
    slept = [seconds for seconds, _ in loader.calls]
    assert len(slept) == 12 and s.phases["data"]["time_overall_s"] >= sum(slept)  # all in data
    # The steady figures: the 7 iterations after the 5 of warm-up.
    assert s.steady_iterations == 7 and s.phases["data"]["time_s"] >= sum(slept[5:])
    assert s.data_wait_share > 0.4 and s.data_bound is True
    assert {"d_step", "g_step", "other", "evaluation", "checkpoint"} <= set(s.phases)
    for suffix in ("", "_overall"):
        shares = [p[f"share{suffix}"] for p in s.phases.values()]
        assert sum(shares) == pytest.approx(1.0)


def test_a_slow_discriminator_shows_in_d_step_and_is_not_data_bound(tmp_path, monkeypatch):
    slow = Paced(GradientOracle.discriminator, factor=5, floor=0.03)
    monkeypatch.setattr(GradientOracle, "discriminator", lambda self, *a, **k: slow(self, *a, **k))
    run = mixture_run(budget={"iterations": 12}, strategy={"n_critic": 2})
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    phases = s.phases
    # Every sleep of a training step is in d_step (the FLOP probe's step on meta tensors
    # is not training).
    slept = [seconds for seconds, args in slow.calls if args[3].device.type != "meta"]
    assert len(slept) == 12 * 2 and phases["d_step"]["time_overall_s"] >= sum(slept)
    assert phases["d_step"]["share"] > 0.7
    assert phases["g_step"]["time_s"] < phases["d_step"]["time_s"] / 2
    assert s.data_bound is False
    # Warm-up iterations stay out of the iteration-time statistics.
    assert s.iter_time_count == 12 - 5 and s.iter_time_excluded_count == 5
    assert s.iter_time_p50_s >= 2 * 0.03


@pytest.mark.parametrize(
    ("strategy", "phases"),
    [
        ("srfb", {"data", "joint_step"}),
        ("extragradient", {"data", "extrapolation", "joint_step"}),
        ("svre", {"data", "extrapolation", "joint_step", "snapshot"}),
    ],
)
def test_each_strategy_labels_its_phases(tmp_path: Path, strategy: str, phases: set) -> None:
    s = train_run(mixture_run(strategy={"name": strategy}), RunStore(tmp_path / "r"), CPU)
    assert phases <= set(s.phases)
    assert not {"d_step", "g_step"} & set(s.phases)


def test_strategy_flops_follow_their_gradient_evaluations() -> None:
    """The tiny MLP (G 4-16-2, D 2-16-1), per sample, counting matmuls only:
    alternating: D step = G fwd 192 + 2 D fwd 96 + 2 D bwd (weights, layer-2 input) 128 = 640;
    G step = G fwd 192 + D fwd 96 + D bwd (inputs) 96 + G bwd 256 = 640 -> 1280.
    One joint pseudo-gradient = 192 + 2 * 96 + 2 * 128 + 96 + 256 = 992 (SRFB's step);
    extragradient takes two, SVRE four (two at the snapshot), and SVRE's refresh is one
    joint evaluation per example of the dataset."""
    b = 32
    flops = {}
    for name in ("alternating", "srfb", "extragradient", "svre"):
        session = build_session(mixture_run(strategy={"name": name}), CPU)
        flops[name] = probe_iteration(session, b)
    assert flops["alternating"].step == 1280 * b
    assert flops["srfb"].step == 992 * b
    assert flops["extragradient"].step == 2 * 992 * b
    assert flops["svre"].step == 4 * 992 * b
    assert flops["svre"].snapshot_pass == 992 * 512  # 512 examples in mixture_run
    assert flops["srfb"].snapshot_pass == 0


def test_flop_probe_leaves_the_run_untouched() -> None:
    session = build_session(mixture_run(strategy={"name": "svre"}), CPU)
    rng, params = torch.get_rng_state(), [p.clone() for p in session.G.parameters()]
    position = session.sampler.images_seen, session.sampler.epoch
    probe_iteration(session, 32)
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(params, session.G.parameters(), strict=True))
    assert (session.sampler.images_seen, session.sampler.epoch) == position
    assert session.strategy.counts.grad_evals == 0


def test_summary_flops_add_up_and_survive_a_resume(tmp_path: Path) -> None:
    run = mixture_run(strategy={"name": "svre"}, budget={"iterations": 20})
    whole = train_run(run, RunStore(tmp_path / "whole"), CPU)

    def crash(record: dict) -> None:
        if record["iteration"] == 12:
            raise RuntimeError("simulated crash")

    store = RunStore(tmp_path / "resumed")
    assert train_run(run, store, CPU, on_log=crash).status == "failed"
    resumed = train_run(run, store, CPU)
    passes = whole.full_batch_passes
    expected = 20 * 4 * 992 * 32 + passes * 992 * 512
    assert whole.flops_total == expected
    assert whole.flops_per_iteration == expected / 20
    assert resumed.full_batch_passes == passes and resumed.flops_total == expected
    # Steady iterations: 5-9 before the checkpoint at 10 (the last of them still open
    # when it was taken), then 15-19 after the resumed session's own warm-up.
    assert resumed.steady_iterations == 10 and resumed.steady_images == 10 * 32
    # The achieved rate is the steady iterations' (15 after warm-up) over their seconds.
    steady = whole.achieved_flops_per_s * whole.steady_s
    assert whole.steady_iterations == 15 and whole.steady_s < whole.train_s
    assert 15 * 4 * 992 * 32 * 0.999 <= steady <= (15 * 4 * 992 * 32 + passes * 992 * 512) * 1.001
    assert whole.mfu is None and whole.mfu_reason == "no peak FLOP/s for CPUs"
    # Phase totals carry over too: the resumed run has every phase of the whole one.
    assert set(resumed.phases) == set(whole.phases)
    assert resumed.generator_flops_per_image == 192


# ------------------------------------------------------------------ profiler


def test_profiled_run_writes_a_trace_with_phase_labels(tmp_path: Path) -> None:
    run = mixture_run(
        budget={"iterations": 10}, profile={"wait": 1, "warmup": 1, "active": 3, "row_limit": 7}
    )
    store = RunStore(tmp_path / "run")
    s = train_run(run, store, CPU)
    assert s.profile["complete"] is True
    trace = json.loads((store.profile_dir / "trace.json").read_text())
    names = {event.get("name") for event in trace["traceEvents"]}
    assert {"ganbench.data", "ganbench.d_step", "ganbench.g_step"} <= names
    steps = {n for n in names if n and n.startswith("ProfilerStep#")}
    assert len(steps) == 3  # the active iterations only

    import pandas as pd

    table = pd.read_csv(store.profile_dir / "top_ops.csv")
    assert 0 < len(table) <= 7
    assert {"operator", "calls", "self_cpu_s", "self_device_s", "self_share"} <= set(table)
    assert table["self_cpu_s"].is_monotonic_decreasing
    assert "aten::addmm" in set(table["operator"]) or "aten::mm" in set(table["operator"])
    # Warm-up (5) and the profiled window (iterations 2-5) stay out of the statistics.
    assert s.iter_time_excluded_count == 5 and s.iter_time_count == 5


# --------------------------------------------------------------------- docs


def test_every_summary_field_is_documented(tmp_path: Path) -> None:
    docs = docs_text()  # README.md and docs/*.md (the table is in docs/measurement.md)
    run = mixture_run(
        strategy={"name": "svre"},
        profile={"wait": 1, "warmup": 1, "active": 1},
        evaluation={"metrics": ["mixture"], "targets": {"modes_covered": 8}},
    )
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, CPU)
    nested = {f for phase in summary.phases.values() for f in phase}
    nested |= {"peak_cuda_alloc_bytes", "peak_cuda_reserved_bytes"}  # per phase on CUDA
    nested |= set(summary.profile)
    nested |= {f for q in summary.quality.values() for f in q}
    nested |= {f for t in summary.time_to_target.values() for f in t}
    nested |= set(summary.quality) | set(summary.metrics_protocol)
    (scored,) = [e for e in read_events(store.events) if e["event"] == "eval"]
    nested |= set(scored)
    # Every field a summary can have (the typed RunSummary's) and every one this run wrote.
    fields = set(summary.to_json_dict()) | set(RunSummary.model_fields) - {"skipped"}
    missing = sorted(f for f in fields | nested if f"`{f}`" not in docs)
    assert not missing, f"summary fields not in README.md or docs/: {missing}"
    gpu = GpuMonitor(CPU, 10).summary(images=1)
    assert not [f for f in asdict(gpu) if f"`{f}`" not in docs]


def test_the_profilers_export_is_outside_training_time(tmp_path: Path, monkeypatch) -> None:
    """A trace export that takes 0.8 s: in the wall time, not in train_s or steady_s."""
    from ganbench.trackers.profiler import RunProfiler

    write = RunProfiler._write

    def slow_write(self, prof):
        time.sleep(0.8)
        return write(self, prof)

    monkeypatch.setattr(RunProfiler, "_write", slow_write)
    run = mixture_run(budget={"iterations": 12}, profile={"wait": 1, "warmup": 1, "active": 2})
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert s.profile["complete"] is True
    assert s.wall_s > 0.8 > s.train_s
    assert s.steady_iterations == 12 - 5 - 0  # window 1-3 lies inside warm-up 0-4
