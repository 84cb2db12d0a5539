"""CUDA paths: run where a GPU is visible (marked gpu, skipped elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import mixture_run

pytestmark = pytest.mark.gpu


def sagan_on_cuda(**overrides):
    return mixture_run(
        dataset={"name": "synthetic", "num_samples": 512, "image_size": 32, "channels": 3},
        model={"name": "sagan", "width": 0.5},
        loss={"name": "hinge"},
        batch={"size": 64},
        device="cuda",
        log_every=5,
        **overrides,
    )


@pytest.mark.parametrize("strategy", ["alternating", "srfb", "svre"])
def test_sagan_trains_on_cuda_with_cuda_timing_and_memory(tmp_path: Path, strategy: str) -> None:
    run = sagan_on_cuda(strategy={"name": strategy})
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, torch.device("cuda"))
    assert summary.status == "finished", summary.reason
    assert summary.iter_time_count == 15 and summary.iter_time_p50_s > 0  # 5 warm-up
    assert summary.peak_cuda_alloc_bytes > 0
    assert summary.peak_cuda_reserved_bytes >= summary.peak_cuda_alloc_bytes
    assert summary.environment["gpu_name"]
    # CUDA-event times are device times of the step: they cannot exceed training time.
    assert summary.iter_time_mean_s * summary.iter_time_count <= summary.train_s * 1.05


def test_resume_on_cuda_reaches_the_budget(tmp_path: Path) -> None:
    run = sagan_on_cuda(strategy={"name": "srfb"})
    store = RunStore(tmp_path / "run")

    def crash(record: dict) -> None:
        if record["iteration"] == 15:
            raise RuntimeError("simulated crash")

    assert train_run(run, store, torch.device("cuda"), on_log=crash).status == "failed"
    summary = train_run(run, store, torch.device("cuda"))
    assert summary.status == "finished" and summary.iterations == 20
    logged = [e["iteration"] for e in read_events(store.events) if e["event"] == "iteration"]
    assert logged == [5, 10, 15, 20]


def test_cuda_phases_memory_nvml_flops_and_profiler(tmp_path: Path) -> None:
    run = sagan_on_cuda(
        strategy={"name": "svre"},
        budget={"iterations": 30},
        profile={"wait": 6, "warmup": 1, "active": 2},
    )
    store = RunStore(tmp_path / "run")
    s = train_run(run, store, torch.device("cuda"))
    assert s.status == "finished", s.reason
    phases = s.phases
    assert {"data", "extrapolation", "joint_step", "snapshot"} <= set(phases)
    in_iterations = sum(
        phases[p]["time_s"] for p in phases if p not in ("evaluation", "checkpoint")
    )
    assert 0 < in_iterations <= s.steady_s * 1.05  # device time within steady time
    assert phases["joint_step"]["peak_cuda_alloc_bytes"] > 0  # probed after warm-up
    assert s.warmup_peak_cuda_alloc_bytes > 0 and s.peak_cuda_alloc_bytes > 0
    assert s.peak_cuda_alloc_all_bytes >= s.peak_cuda_alloc_bytes  # evaluation included
    # Warm-up (iterations 0-4) and the profiler's window (6-8) are not steady.
    assert s.steady_iterations == 30 - 5 - 3 and s.steady_s < s.train_s
    assert s.flops_total > 0 and s.achieved_flops_per_s > 0
    trace = (store.profile_dir / "trace.json").read_text()
    assert "ganbench.snapshot" in trace or "ganbench.joint_step" in trace
    import pandas as pd

    table = pd.read_csv(store.profile_dir / "top_ops.csv")
    assert table["self_device_s"].sum() > 0


def test_nvml_samples_every_gpu_and_measures_energy(tmp_path: Path) -> None:
    from ganbench.trackers.nvml import load_nvml

    try:
        load_nvml().nvmlInit()
    except Exception as err:  # noqa: BLE001  (a container without the driver's NVML)
        pytest.skip(f"NVML unavailable here: {type(err).__name__}: {err}")
    run = sagan_on_cuda(budget={"iterations": 60}, measure={"gpu_sample_hz": 50})
    store = RunStore(tmp_path / "run")
    s = train_run(run, store, torch.device("cuda"))
    assert s.status == "finished", s.reason
    assert s.gpu_monitor_reason is None and s.gpu_count == 1 and len(s.gpus) == 1
    assert s.gpu_samples > 0 and s.power_mean_w > 0 and s.gpu_sample_hz > 0
    assert s.gpu_sample_hz_target == 50
    assert (store.folder / "gpu_samples.csv").is_file()
    assert s.energy_method in ("counter", "power_integral") and s.energy_j > 0
    assert s.energy_j_per_image == pytest.approx(s.energy_j / s.images_seen)
    assert s.gpus[0]["energy_j"] == pytest.approx(s.energy_j)


def test_mfu_of_a_known_matmul_is_its_hand_count_over_time_and_peak() -> None:
    """2 n^3 FLOPs per n x n matmul: counted so, and the MFU the tracker reports is that
    count times the calls, over their seconds, over the table's peak for this GPU."""
    import time

    from ganbench.trackers.flops import FlopsTracker, IterationFlops, count_flops, find_peak

    cuda, n, calls = torch.device("cuda"), 4096, 50
    a = torch.randn(n, n, device=cuda, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=cuda, dtype=torch.bfloat16)
    hand = 2 * n**3
    assert count_flops(lambda: a @ b) == hand
    tracker = FlopsTracker(lambda size: IterationFlops(size, hand, 0), lambda: 0.0, lambda: 0)
    tracker.prepare(1)
    a @ b  # cuBLAS's first call picks its kernel
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(calls):
        a @ b
        tracker.end_iteration(i + 1, 1)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    use = tracker.summary(calls, seconds, cuda, torch.bfloat16, world=1)
    props = torch.cuda.get_device_properties(cuda)
    capability = (props.major, props.minor)
    peak, reason = find_peak(props.name, capability, props.multi_processor_count, "bf16")
    if peak is None:
        pytest.skip(f"this GPU's peak is not in the table: {reason}")
    assert use.mfu_precision == "bf16" and use.peak_flops_per_s == peak
    assert use.mfu == pytest.approx(hand * calls / seconds / peak, rel=1e-9)
    assert 0.05 < use.mfu < 1  # a large bf16 matmul runs near its tensor-core peak


def test_gpu_metrics_agree_with_the_cpu() -> None:
    import numpy as np

    from ganbench.metrics import stats
    from ganbench.metrics.mixture import mode_scores

    cuda = torch.device("cuda")
    gen = np.random.default_rng(0)
    a, b = gen.normal(size=(3000, 64)), gen.normal(size=(3000, 64)) * 1.3 + 0.2
    (m1, s1), (m2, s2) = stats.gaussian_stats(a), stats.gaussian_stats(b)
    on_gpu, how = stats.frechet_distance(m1, s1, m2, s2, cuda)
    on_cpu, _ = stats.frechet_distance(m1, s1, m2, s2)
    assert how.startswith("torch.linalg.eigh") and on_gpu == pytest.approx(on_cpu, rel=1e-8)
    kid_gpu = stats.kernel_inception_distance(a, b, subsets=5, subset_size=500, device=cuda)
    kid_cpu = stats.kernel_inception_distance(a, b, subsets=5, subset_size=500)
    assert kid_gpu == pytest.approx(kid_cpu, rel=1e-9)
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    points = torch.tensor([[0.0, 0.01], [2.0, 0.0], [5.0, 5.0]], device=cuda)
    assert mode_scores(points, centres.to(cuda), 0.1)["modes_covered"] == 2


def test_latency_on_cuda_times_with_events_and_records_a_real_oom() -> None:
    from torch.utils.benchmark import Timer

    from ganbench.latency.measure import Timed, measure_rows, prepare_generator
    from ganbench.latency.settings import LatencySettings
    from ganbench.latency.sources import fresh_generator
    from ganbench.trackers.clock import CallTimer

    cuda = torch.device("cuda")
    source = fresh_generator("sagan")
    # 2**20 images need terabytes of attention maps: a real out-of-memory error, then the
    # next batch size still runs.
    settings = LatencySettings(
        batch_sizes=(2**20, 1, 1024), precisions=("fp32", "bf16"), warmup=3, min_time_s=0.5
    )
    G, _ = prepare_generator(source, settings)
    rows = list(measure_rows([Timed("G", G, (128,))], settings, cuda, CallTimer(cuda)))
    assert [r["status"] for r in rows] == ["oom", "ok", "ok"] * 2, [r["reason"] for r in rows]
    for row in (r for r in rows if r["status"] == "ok"):
        assert row["timer"] == "cuda_event" and row["timer_resolution_s"] == 0.5e-6
        assert row["peak_cuda_alloc_bytes"] > row["weights_bytes"]
        assert row["peak_cuda_reserved_bytes"] >= row["peak_cuda_alloc_bytes"]
        assert row["output_finite"] is True
    # At 1,024 images the kernels dominate launch overhead, which Timer's back-to-back
    # calls hide and per-call latency includes.
    z = torch.randn(1024, 128, device=cuda)
    ours = [
        r["latency_p50_s"] for r in rows if r["batch_size"] == 1024 and r["precision"] == "fp32"
    ]
    model = G.to(cuda)
    timer = Timer("with torch.inference_mode(): G(z)", globals={"G": model, "z": z, "torch": torch})
    theirs = timer.blocked_autorange(min_run_time=0.5).median
    assert ours[0] == pytest.approx(theirs, rel=0.10)


def test_cuda_levers_apply_and_train(tmp_path: Path) -> None:
    """amp-fp16 with loss scaling, channels_last, cudnn_benchmark, tf32, data_on_device and
    compile together on the thesis SAGAN; nothing skipped, bf16 too."""
    levers = {
        "precision": "amp-fp16",
        "channels_last": True,
        "cudnn_benchmark": True,
        "tf32": True,
        "data_on_device": True,
        "compile": "default",
    }
    for strategy in ("alternating", "srfb"):
        run = sagan_on_cuda(strategy={"name": strategy}, levers=levers, budget={"iterations": 20})
        summary = train_run(run, RunStore(tmp_path / strategy), torch.device("cuda"))
        assert summary.status == "finished", summary.reason
        assert summary.levers_skipped == {}
        assert set(summary.loss_scale) == {"g", "d"}
    run = sagan_on_cuda(levers={"precision": "amp-bf16"}, budget={"iterations": 10})
    summary = train_run(run, RunStore(tmp_path / "bf16"), torch.device("cuda"))
    assert summary.status == "finished" and summary.levers_skipped == {}


def test_cuda_graph_replay_gives_the_eager_output() -> None:
    from ganbench.latency.measure import prepare_generator
    from ganbench.latency.settings import LatencySettings
    from ganbench.latency.sources import fresh_generator
    from ganbench.levers.compile import GraphedGenerator

    cuda = torch.device("cuda")
    source = fresh_generator("sagan")
    G, _ = prepare_generator(source, LatencySettings(batch_sizes=(8,)))
    G, latent = G.to(cuda), source.model.latent_dim
    graphed = GraphedGenerator(G)
    with torch.inference_mode():
        for _ in range(2):
            z = torch.randn(8, latent, device=cuda)
            torch.testing.assert_close(graphed(z), G(z), rtol=1e-4, atol=1e-4)
