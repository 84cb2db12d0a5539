"""The MFU denominator: peaks matched by exact name or by (capability, SM count), and the
precision an fp32 run is measured against, as pure functions of what a GPU reports."""

from __future__ import annotations

import pytest
import torch

from ganbench.trackers.flops import PEAKS, find_peak, peak_flops, precision_for

# ----------------------------------------------------------------------- peaks


def test_a_name_that_contains_another_gpus_name_never_gets_its_peak() -> None:
    """Substring matching gave the L40 the L4's peak and the RTX A1000 the A100's."""
    l40, _ = find_peak("NVIDIA L40", (8, 9), 142, "bf16")
    l4, _ = find_peak("NVIDIA L4", (8, 9), 58, "bf16")
    assert l40 == pytest.approx(181.0e12) and l4 == pytest.approx(121.0e12)
    a1000, reason = find_peak("NVIDIA RTX A1000", (8, 6), 16, "tf32")
    assert a1000 is None
    assert reason == "no peak FLOP/s known for NVIDIA RTX A1000 (compute capability 8.6, 16 SMs)"
    assert peak_flops("NVIDIA A10G", "bf16", (8, 6), 80) is None  # not the A10's 125
    assert peak_flops("NVIDIA A100-SXM4-80GB", "tf32", (8, 0), 108) == pytest.approx(156e12)


def test_h100_variants_have_their_own_peaks() -> None:
    sxm = peak_flops("NVIDIA H100 80GB HBM3", "bf16", (9, 0), 132)
    pcie = peak_flops("NVIDIA H100 PCIe", "bf16", (9, 0), 114)
    nvl = peak_flops("NVIDIA H100 NVL", "bf16", (9, 0), 132)
    assert (sxm, pcie, nvl) == pytest.approx((989.4e12, 756.0e12, 835.5e12))
    assert peak_flops("NVIDIA H200", "tf32", (9, 0), 132) == pytest.approx(494.7e12)
    # Without capability and SM count (the GPU kit's table check): the name alone.
    assert peak_flops("NVIDIA H100 PCIe", "tf32") == pytest.approx(378e12)


def test_the_second_key_matches_only_unambiguous_chips() -> None:
    """An A100 under another board name gets the A100's peak; a Hopper with 132 SMs that
    the table does not name could be an SXM or the slower NVL, so it gets none."""
    assert peak_flops("NVIDIA PG509-210", "bf16", (8, 0), 108) == pytest.approx(312e12)
    peak, reason = find_peak("NVIDIA H100 SXM5 94GB", (9, 0), 132, "bf16")
    assert peak is None and "NVIDIA H100 SXM5 94GB (compute capability 9.0, 132 SMs)" in reason


def test_a_named_gpu_reporting_other_hardware_gets_no_peak() -> None:
    """A MIG slice or a cut-down board under a known name: not its entry's peak."""
    peak, reason = find_peak("NVIDIA A100-SXM4-40GB", (8, 0), 14, "tf32")
    assert peak is None
    assert "compute capability 8.0, 14 SMs" in reason and "with 108 SMs" in reason


def test_unknown_gpus_and_missing_precisions_say_so() -> None:
    peak, reason = find_peak("Some Future GPU", (12, 0), 200, "bf16")
    assert peak is None
    assert reason == "no peak FLOP/s known for Some Future GPU (compute capability 12.0, 200 SMs)"
    peak, reason = find_peak("Tesla V100-SXM2-16GB", (7, 0), 80, "bf16")
    assert peak is None and reason.startswith("no bf16 peak FLOP/s for Tesla V100-SXM2-16GB")
    assert find_peak(None, None, None, None)[0] is None


def test_the_table_has_one_entry_per_name_and_every_precision_from_ampere_on() -> None:
    names = [p.name for p in PEAKS]
    assert len(names) == len(set(names))
    for peak in PEAKS:
        expected = {"fp32", "fp16"} | ({"tf32", "bf16"} if peak.capability >= (8, 0) else set())
        assert set(peak.tflops) == expected, peak.name
        # Tensor cores beat the fp32 pipes; TF32 never beats 16-bit.
        assert peak.tflops["fp16"] > peak.tflops["fp32"], peak.name
        assert peak.tflops.get("tf32", 0) <= peak.tflops.get("bf16", peak.tflops["fp16"])


# ------------------------------------------------------------------ precision


def test_an_fp32_run_counts_as_tf32_only_where_the_gpu_has_tf32() -> None:
    fp32 = torch.float32
    assert precision_for(fp32, (7, 0), tf32_enabled=True) == "fp32"  # V100: no TF32
    assert precision_for(fp32, (7, 5), tf32_enabled=True) == "fp32"  # T4
    assert precision_for(fp32, (8, 0), tf32_enabled=True) == "tf32"
    assert precision_for(fp32, (9, 0), tf32_enabled=False) == "fp32"
    assert precision_for(torch.bfloat16, (8, 6), tf32_enabled=True) == "bf16"
    assert precision_for(torch.float16, (7, 0), tf32_enabled=True) == "fp16"
    assert precision_for(fp32, None, tf32_enabled=True) is None  # not a GPU


def test_a_v100_fp32_run_is_measured_against_the_fp32_peak() -> None:
    """Before, TF32 was chosen on Volta too and its MFU was always empty."""
    precision = precision_for(torch.float32, (7, 0), tf32_enabled=True)
    assert peak_flops("Tesla V100-SXM2-16GB", precision, (7, 0), 80) == pytest.approx(15.7e12)
    assert peak_flops("Tesla T4", precision, (7, 5), 40) == pytest.approx(8.1e12)


# -------------------------------------------------------------------- summary


def fake_gpu(monkeypatch, name: str, capability: tuple[int, int], sm_count: int) -> None:
    """torch.cuda as a GPU of this name, capability and SM count reports itself."""
    props = type("Props", (), {"name": name, "major": capability[0], "minor": capability[1]})
    props.multi_processor_count = sm_count
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)


def summary_on(monkeypatch, name: str, capability: tuple[int, int], sm_count: int):
    from ganbench.trackers.flops import FlopsTracker, IterationFlops

    fake_gpu(monkeypatch, name, capability, sm_count)
    tracker = FlopsTracker(lambda size: IterationFlops(size, 10**12, 0), lambda: 1.0, lambda: 0)
    tracker.prepare(64)
    for i in range(10):
        tracker.end_iteration(i + 1, 64)
    return tracker.summary(10, 1.0, torch.device("cuda", 0), torch.float32, world=1)


def test_the_summary_measures_against_the_device_it_ran_on(monkeypatch) -> None:
    """10 TFLOP in 1 s: the L40's TF32 peak (90.5), not the L4's (60); the V100's fp32."""
    l40 = summary_on(monkeypatch, "NVIDIA L40", (8, 9), 142)
    assert l40.mfu_precision == "tf32" and l40.mfu == pytest.approx(10 / 90.5)
    v100 = summary_on(monkeypatch, "Tesla V100-SXM2-32GB", (7, 0), 80)
    assert v100.mfu_precision == "fp32" and v100.mfu == pytest.approx(10 / 15.7)
    unknown = summary_on(monkeypatch, "NVIDIA RTX A1000", (8, 6), 16)
    assert unknown.mfu is None and unknown.peak_flops_per_s is None
    assert unknown.mfu_reason == (
        "no peak FLOP/s known for NVIDIA RTX A1000 (compute capability 8.6, 16 SMs)"
    )
    assert unknown.achieved_flops_per_s == pytest.approx(10e12)
