"""Measurement trackers on work whose cost is known: sleeps, allocations, closed-form FLOPs,
a profiler trace, NVML absent or simulated, and the instrumented training loop."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganbench.results import RunStore, read_events
from ganbench.session import DeviceBatches, build_session
from ganbench.strategies.base import GradientOracle
from ganbench.trackers import nvml as gpu_module
from ganbench.trackers.environment import capture_environment
from ganbench.trackers.flops import count_flops, peak_flops, probe_iteration
from ganbench.trackers.memory import MemoryTracker
from ganbench.trackers.nvml import GpuMonitor
from ganbench.trackers.phases import PhaseTimer, data_wait_share
from ganbench.train import train_run
from tests.conftest import mixture_run

CPU = torch.device("cpu")

# ---------------------------------------------------------------- phase timer


def test_sleeps_land_in_their_phases_with_their_shares() -> None:
    timer = PhaseTimer(CPU)
    for _ in range(3):
        timer.begin_iteration()
        with timer("data"):
            time.sleep(0.02)
        with timer("d_step"):
            time.sleep(0.05)
            with timer("data"):  # nested: charged to data only, not twice
                time.sleep(0.01)
        time.sleep(0.01)  # in no phase
        timer.end_iteration()
    durations = timer.collect()
    totals = timer.totals_s
    assert len(durations) == 3
    assert sum(totals.values()) == pytest.approx(sum(durations), rel=1e-9)
    # A sleep never returns early; on a busy machine it may return late (slack 50 ms).
    for phase, slept in (("data", 0.09), ("d_step", 0.15), ("other", 0.03)):
        assert slept <= totals[phase] <= slept + 0.05, phase
    assert data_wait_share(totals) == pytest.approx(0.09 / 0.27, abs=0.08)
    assert timer.last_phases == ["data", "d_step", "data"]


def test_labels_outside_an_iteration_are_ignored() -> None:
    timer = PhaseTimer(CPU)
    with timer("d_step"):
        time.sleep(0.001)
    assert timer.collect() == [] and timer.totals_s == {}


def _slow(fn, seconds: float):
    def wrapped(*args, **kwargs):
        time.sleep(seconds)
        return fn(*args, **kwargs)

    return wrapped


def test_a_slow_loader_makes_the_run_data_bound(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(DeviceBatches, "next", _slow(DeviceBatches.next, 0.05))
    run = mixture_run(budget={"iterations": 12})
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert s["status"] == "finished", s["reason"]
    assert s["phases"]["data"]["time_s"] >= 12 * 0.05  # every sleep is in data
    assert s["data_wait_share"] > 0.4 and s["data_bound"] is True
    assert {"d_step", "g_step", "other", "evaluation", "checkpoint"} <= set(s["phases"])
    shares = [p["share"] for p in s["phases"].values()]
    assert sum(shares) == pytest.approx(1.0)


def test_a_slow_discriminator_shows_in_d_step_and_is_not_data_bound(tmp_path, monkeypatch):
    slow = _slow(GradientOracle.discriminator, 0.03)
    monkeypatch.setattr(GradientOracle, "discriminator", slow)
    run = mixture_run(budget={"iterations": 12}, strategy={"n_critic": 2})
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    phases = s["phases"]
    assert phases["d_step"]["time_s"] >= 12 * 2 * 0.03  # every sleep is in d_step
    assert phases["d_step"]["share"] > 0.7
    assert phases["g_step"]["time_s"] < phases["d_step"]["time_s"] / 2
    assert s["data_bound"] is False
    # Warm-up iterations stay out of the iteration-time statistics.
    assert s["iter_time_count"] == 12 - 5 and s["iter_time_excluded_count"] == 5
    assert s["iter_time_p50_s"] >= 0.06


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
    assert phases <= set(s["phases"])
    assert not {"d_step", "g_step"} & set(s["phases"])


# -------------------------------------------------------------------- memory


def test_a_tensor_of_known_size_raises_the_rss_peak() -> None:
    tracker = MemoryTracker(CPU)
    before = tracker.sample()
    block = torch.ones(64 * 2**20 // 4 * 3)  # 192 MiB, written so the pages are resident
    tracker.sample()
    del block
    assert tracker.peak_rss_bytes - before >= 150 * 2**20
    summary = tracker.summary()
    assert summary["peak_rss_bytes"] == tracker.peak_rss_bytes
    assert summary["peak_cuda_alloc_bytes"] is None  # CPU run: null, not zero


# --------------------------------------------------------------------- FLOPs


def test_linear_and_conv_flops_equal_the_closed_form() -> None:
    b, n_in, n_out = 8, 32, 16
    linear = nn.Linear(n_in, n_out)
    x = torch.randn(b, n_in, requires_grad=True)
    assert count_flops(lambda: linear(x)) == 2 * b * n_in * n_out
    # Backward: one matmul for the input's gradient, one for the weight's.
    assert count_flops(lambda: linear(x).sum().backward()) == 3 * 2 * b * n_in * n_out

    conv = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
    image = torch.randn(2, 3, 16, 16)
    h_out = w_out = 8
    assert count_flops(lambda: conv(image)) == 2 * 2 * 8 * h_out * w_out * 3 * 3 * 3


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
    assert train_run(run, store, CPU, on_log=crash)["status"] == "failed"
    resumed = train_run(run, store, CPU)
    passes = whole["full_batch_passes"]
    expected = 20 * 4 * 992 * 32 + passes * 992 * 512
    assert whole["flops_total"] == expected
    assert whole["flops_per_iteration"] == expected / 20
    assert resumed["full_batch_passes"] == passes and resumed["flops_total"] == expected
    assert whole["achieved_flops_per_s"] == pytest.approx(expected / whole["train_s"])
    assert whole["mfu"] is None and whole["mfu_reason"] == "no peak FLOP/s for CPUs"
    # Phase totals carry over too: the resumed run has every phase of the whole one.
    assert set(resumed["phases"]) == set(whole["phases"])
    assert resumed["generator_flops_per_image"] == 192


def test_peak_table_matches_names_and_precisions() -> None:
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4e12)
    assert peak_flops("NVIDIA H100 PCIe", "tf32") == pytest.approx(378e12)
    assert peak_flops("NVIDIA L40S", "fp32") == pytest.approx(91.6e12)
    assert peak_flops("NVIDIA L4", "fp32") == pytest.approx(30.3e12)
    assert peak_flops("Tesla V100-SXM2-16GB", "tf32") is None  # Volta has no TF32
    assert peak_flops("Some Future GPU", "bf16") is None
    assert peak_flops(None, None) is None


# ------------------------------------------------------------------ profiler


def test_profiled_run_writes_a_trace_with_phase_labels(tmp_path: Path) -> None:
    run = mixture_run(
        budget={"iterations": 10}, profile={"wait": 1, "warmup": 1, "active": 3, "row_limit": 7}
    )
    store = RunStore(tmp_path / "run")
    s = train_run(run, store, CPU)
    assert s["profile"]["complete"] is True
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
    assert s["iter_time_excluded_count"] == 5 and s["iter_time_count"] == 5


# ---------------------------------------------------------------------- NVML


def test_no_nvml_gives_null_fields_with_a_reason() -> None:
    monitor = GpuMonitor(CPU, 10)
    monitor.start()
    monitor.stop()
    s = monitor.summary(images=100)
    assert s["gpu_monitor_reason"] == "not a CUDA run"
    assert s["energy_j"] is None and s["gpu_util_mean_pct"] is None

    class Broken:
        def nvmlInit(self) -> None:
            raise OSError("NVML Shared Library Not Found")

    monitor = GpuMonitor(torch.device("cuda"), 10, nvml=Broken())
    monitor.start()
    monitor.stop()
    s = monitor.summary(images=100)
    assert s["gpu_monitor_reason"].startswith("NVML unavailable: OSError")
    assert s["energy_j_per_image"] is None


class FakeNvml:
    """NVML as a driver answers it: utilisation alternating 40/80 %, 250 W, an energy
    counter that advances 1 J per call, throttling for power on every other sample."""

    NVML_CLOCK_SM = 0
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, energy: bool = True) -> None:
        self.calls, self.energy_mj, self.has_energy = 0, 1_000_000, energy

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetUtilizationRates(self, h):
        self.calls += 1
        return SimpleNamespace(gpu=40 if self.calls % 2 else 80, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=2 * 2**30)

    def nvmlDeviceGetPowerUsage(self, h):
        return 250_000

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1980 if self.calls % 2 else 1755

    def nvmlDeviceGetTemperature(self, h, kind):
        return 60 + self.calls

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4 if self.calls % 2 == 0 else 0x0

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        import os

        return [SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * 2**30)]

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.has_energy:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        self.energy_mj += 1000
        return self.energy_mj


def test_sampler_aggregates_nvml_readings_and_subtracts_excluded_energy(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: "handle")
    fake = FakeNvml()
    monitor = GpuMonitor(torch.device("cuda"), 200, tmp_path / "gpu.csv", nvml=fake)
    monitor.start()  # energy read 1
    time.sleep(0.2)
    with monitor.excluded():  # reads 2 and 3: 1 J excluded
        pass
    monitor.stop()  # read 4: counter moved 3 J, 1 J of it excluded
    s = monitor.summary(images=400)
    assert s["gpu_monitor_reason"] is None and s["gpu_samples"] >= 2
    assert s["energy_method"] == "counter"
    assert s["energy_j"] == pytest.approx(2.0) and s["energy_j_per_image"] == pytest.approx(0.005)
    assert 40 <= s["gpu_util_mean_pct"] <= 80 and s["power_mean_w"] == pytest.approx(250)
    assert s["sm_clock_min_mhz"] == 1755 and s["sm_clock_max_mhz"] == 1980
    assert s["gpu_process_mem_max_bytes"] == 3 * 2**30
    assert 0.2 < s["throttle_reason_share"]["sw_power_cap"] < 0.8
    rows = (tmp_path / "gpu.csv").read_text().splitlines()
    assert rows[0].startswith("time_s,gpu_util_pct") and len(rows) == s["gpu_samples"] + 1


def test_without_an_energy_counter_power_is_integrated(monkeypatch) -> None:
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: "handle")
    monitor = GpuMonitor(torch.device("cuda"), 100, nvml=FakeNvml(energy=False))
    monitor.start()
    t0 = time.perf_counter()
    time.sleep(0.5)
    monitor.stop()
    elapsed = time.perf_counter() - t0
    s = monitor.summary(images=10)
    assert s["energy_method"] == "power_integral"
    assert "energy" in s["gpu_unsupported_queries"]
    # 250 W over the sampled span (first to last sample, a little under the elapsed time).
    assert 250 * (elapsed - 0.2) <= s["energy_j"] <= 250 * elapsed


# --------------------------------------------------------------- environment


def test_environment_names_versions_hardware_precision_and_seed() -> None:
    env = capture_environment(CPU, seed=7)
    assert env["seed"] == 7 and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_count"] >= 1
    assert env["gpu_name"] is None and env["driver"] is None
    for key in ("cudnn_allow_tf32", "matmul_allow_tf32", "float32_matmul_precision"):
        assert key in env


# ------------------------------------------------------------------- README


def test_every_summary_field_is_documented_in_the_readme(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    run = mixture_run(
        strategy={"name": "svre"},
        profile={"wait": 1, "warmup": 1, "active": 1},
        evaluation={"metrics": ["mixture"], "targets": {"modes_covered": 8}},
    )
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, CPU)
    nested = {f for phase in summary["phases"].values() for f in phase}
    nested |= {"peak_cuda_alloc_bytes", "peak_cuda_reserved_bytes"}  # per phase on CUDA
    nested |= set(summary["profile"])
    nested |= {f for q in summary["quality"].values() for f in q}
    nested |= {f for t in summary["time_to_target"].values() for f in t}
    nested |= set(summary["quality"]) | set(summary["metrics_protocol"])
    (scored,) = [e for e in read_events(store.events) if e["event"] == "eval"]
    nested |= set(scored)
    missing = sorted(f for f in set(summary) | nested if f"`{f}`" not in readme)
    assert not missing, f"summary fields not documented in README.md: {missing}"
    gpu = GpuMonitor(CPU, 10).summary(images=1)
    assert not [f for f in gpu if f"`{f}`" not in readme]
