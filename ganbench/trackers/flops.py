"""FLOPs of training and generation, achieved FLOP/s and MFU.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls,
convolutions, attention, with their backward passes; element-wise work and optimiser
updates are not counted, as in the usual MFU convention). A run's probes
(``ganbench.run.probes``) count one iteration on shape-only copies of its models on the
``meta`` device; ``FlopsTracker`` charges every iteration that count, and every SVRE
snapshot refresh (a full pass, counted separately) its own.

MFU = achieved FLOP/s / peak FLOP/s of the GPU for the precision the run computes in.
Peaks are dense (no sparsity) datasheet figures; an unknown GPU or a CPU run gives null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganbench.trackers.base import Tracker

META = torch.device("meta")

Peaks = dict[str, float]  # TFLOP/s by compute precision: fp32, tf32, bf16, fp16


def _dense(fp32: float, tf32: float | None, bf16: float | None, fp16: float) -> Peaks:
    named = {"fp32": fp32, "tf32": tf32, "bf16": bf16, "fp16": fp16}
    return {precision: tflops for precision, tflops in named.items() if tflops is not None}


@dataclass(frozen=True)
class GpuPeak:
    """A GPU as ``torch.cuda.get_device_name`` names it, the compute capability and SM
    count it reports, and its dense peak TFLOP/s by precision."""

    name: str
    capability: tuple[int, int]
    sm_count: int
    tflops: Peaks


# Dense peaks (no 2:4 sparsity) from NVIDIA's datasheets and architecture whitepapers;
# where a datasheet prints only the sparse figure ("1,979*") it is halved. fp32 is the
# non-tensor rate; tf32, bf16 and fp16 the tensor-core rate with fp32 accumulation (what
# PyTorch uses; GeForce parts run it at half their fp16-accumulate rate). Volta and Turing
# have no TF32 or BF16 tensor cores, hence no such entry. Only exact names count ("NVIDIA
# L40" is not "NVIDIA L4"); a name missing here (A10G: no NVIDIA datasheet) has no MFU.
_HOPPER_SXM = _dense(67.0, 494.7, 989.4, 989.4)  # datasheet: 67, 989*, 1,979*
_HOPPER_NVL = _dense(60.0, 417.5, 835.5, 835.5)  # datasheet: 60, 835*, 1,671*
_A100 = _dense(19.5, 156.0, 312.0, 312.0)  # datasheet: 19.5, 156 | 312*, 312 | 624*
_V100_SXM2 = _dense(15.7, None, None, 125.0)
_V100_PCIE = _dense(14.0, None, None, 112.0)
PEAKS: tuple[GpuPeak, ...] = (
    GpuPeak("NVIDIA H100 80GB HBM3", (9, 0), 132, _HOPPER_SXM),  # SXM5
    GpuPeak("NVIDIA H100 PCIe", (9, 0), 114, _dense(51.2, 378.0, 756.0, 756.0)),
    GpuPeak("NVIDIA H100 NVL", (9, 0), 132, _HOPPER_NVL),
    GpuPeak("NVIDIA H200", (9, 0), 132, _HOPPER_SXM),
    GpuPeak("NVIDIA H200 NVL", (9, 0), 132, _HOPPER_NVL),
    GpuPeak("NVIDIA GH200 480GB", (9, 0), 132, _HOPPER_SXM),
    GpuPeak("NVIDIA A100-SXM4-80GB", (8, 0), 108, _A100),
    GpuPeak("NVIDIA A100-SXM4-40GB", (8, 0), 108, _A100),
    GpuPeak("NVIDIA A100-PCIE-40GB", (8, 0), 108, _A100),
    GpuPeak("NVIDIA A100 80GB PCIe", (8, 0), 108, _A100),
    GpuPeak("NVIDIA A30", (8, 0), 56, _dense(10.3, 82.0, 165.0, 165.0)),
    GpuPeak("NVIDIA A40", (8, 6), 84, _dense(37.4, 74.8, 149.7, 149.7)),
    GpuPeak("NVIDIA A10", (8, 6), 72, _dense(31.2, 62.5, 125.0, 125.0)),
    GpuPeak("NVIDIA RTX A6000", (8, 6), 84, _dense(38.7, 77.4, 154.8, 154.8)),
    GpuPeak("NVIDIA GeForce RTX 3090", (8, 6), 82, _dense(35.6, 35.6, 71.0, 71.0)),
    GpuPeak("NVIDIA L40S", (8, 9), 142, _dense(91.6, 183.0, 362.1, 362.1)),
    GpuPeak("NVIDIA L40", (8, 9), 142, _dense(90.5, 90.5, 181.0, 181.0)),
    GpuPeak("NVIDIA L4", (8, 9), 58, _dense(30.3, 60.0, 121.0, 121.0)),
    GpuPeak("NVIDIA GeForce RTX 4090", (8, 9), 128, _dense(82.6, 82.6, 165.2, 165.2)),
    GpuPeak("Tesla V100-SXM2-16GB", (7, 0), 80, _V100_SXM2),
    GpuPeak("Tesla V100-SXM2-32GB", (7, 0), 80, _V100_SXM2),
    GpuPeak("Tesla V100-PCIE-16GB", (7, 0), 80, _V100_PCIE),
    GpuPeak("Tesla V100-PCIE-32GB", (7, 0), 80, _V100_PCIE),
    GpuPeak("Tesla V100S-PCIE-32GB", (7, 0), 80, _dense(16.4, None, None, 130.0)),
    GpuPeak("Tesla T4", (7, 5), 40, _dense(8.1, None, None, 65.0)),
)
PEAKS_BY_NAME = {peak.name: peak for peak in PEAKS}
# The second key, for a name the table lacks: (compute capability, SM count) of a chip
# whose every product with that many SMs has the same peaks: A100 boards that name
# themselves otherwise ("NVIDIA PG509-210", "NVIDIA A100-SXM-80GB") and the A800; the H800
# PCIe. Ambiguous pairs are left out: (9.0, 132) is H100 SXM and the lower-clocked H100
# NVL, (8.9, 142) L40 and L40S, (8.6, 84) A40 and RTX A6000.
PEAKS_BY_CHIP: dict[tuple[tuple[int, int], int], Peaks] = {
    ((8, 0), 108): _A100,
    ((9, 0), 114): PEAKS_BY_NAME["NVIDIA H100 PCIe"].tflops,
}
TF32_SINCE = (8, 0)  # Ampere: the first tensor cores with TF32


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks do not work
    under ``torch.autograd.grad`` (which every strategy uses); we only need the total."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FlopCounter(FlopCounterMode):
    """FlopCounterMode without per-module attribution (total only)."""

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _GlobalOnly()


def count_flops(fn: Callable[[], Any]) -> int:
    with FlopCounter() as counter:
        fn()
    return counter.get_total_flops()


@dataclass(frozen=True)
class IterationFlops:
    """FLOPs of one ``step()`` at one batch size (snapshot refreshes excluded) and of one
    SVRE snapshot refresh (0 for other strategies)."""

    batch_size: int
    step: int
    snapshot_pass: int


def precision_for(
    dtype: torch.dtype, capability: tuple[int, int] | None, tf32_enabled: bool
) -> str | None:
    """The precision whose peak a run computing in ``dtype`` is measured against, on a GPU
    of compute ``capability`` (None: not a GPU, no precision). An fp32 run counts as TF32
    only where the GPU has TF32 tensor cores (8.0 and later) and PyTorch lets cuDNN or
    matmuls use them (``tf32_enabled``); on Volta and Turing it is measured against fp32."""
    if capability is None:
        return None
    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float16:
        return "fp16"
    return "tf32" if tf32_enabled and tuple(capability) >= TF32_SINCE else "fp32"


def compute_precision(device: torch.device, dtype: torch.dtype = torch.float32) -> str | None:
    """``precision_for`` this device: cuDNN convolutions run in TF32 when
    ``torch.backends.cudnn.allow_tf32`` (PyTorch's default) is on, matmuls when
    ``torch.backends.cuda.matmul.allow_tf32`` is."""
    if device.type != "cuda":
        return None
    tf32 = torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32
    return precision_for(dtype, torch.cuda.get_device_capability(device), tf32)


def find_peak(
    name: str | None,
    capability: tuple[int, int] | None,
    sm_count: int | None,
    precision: str | None,
) -> tuple[float | None, str | None]:
    """Dense peak FLOP/s of a GPU at ``precision``: by its exact name, else by (compute
    capability, SM count) where that pair has one peak; else None and the reason, naming
    the GPU. A named GPU whose capability or SM count is not its entry's (a MIG slice, a
    cut-down board) gets none either."""
    cc = ".".join(map(str, capability)) if capability else "?"
    gpu = f"{name or 'an unnamed GPU'} (compute capability {cc}, {sm_count or '?'} SMs)"
    entry = PEAKS_BY_NAME.get((name or "").strip())
    if entry is not None:
        if (capability and tuple(capability) != entry.capability) or (
            sm_count and sm_count != entry.sm_count
        ):
            entry_cc = ".".join(map(str, entry.capability))
            return None, (
                f"no peak FLOP/s for {gpu}: the table's {entry.name} is compute capability "
                f"{entry_cc} with {entry.sm_count} SMs"
            )
        peaks = entry.tflops
    elif capability and sm_count and (tuple(capability), sm_count) in PEAKS_BY_CHIP:
        peaks = PEAKS_BY_CHIP[(tuple(capability), sm_count)]
    else:
        return None, f"no peak FLOP/s known for {gpu}"
    tflops = peaks.get(precision or "")
    if tflops is None:
        return None, f"no {precision} peak FLOP/s for {gpu}"
    return tflops * 1e12, None


def peak_flops(
    gpu_name: str | None,
    precision: str | None,
    capability: tuple[int, int] | None = None,
    sm_count: int | None = None,
) -> float | None:
    """Dense peak FLOP/s of a known GPU at ``precision``, else None (``find_peak``)."""
    return find_peak(gpu_name, capability, sm_count, precision)[0]


@dataclass(frozen=True)
class ComputeUse:
    """FLOPs of training and of one generated image, the rate achieved and, on a known
    GPU, model-FLOPs utilisation (None with the reason where it cannot be had)."""

    flops_total: int | None
    flops_per_iteration: float | None
    generator_flops_per_image: float | None
    achieved_flops_per_s: float | None
    peak_flops_per_s: float | None
    mfu_precision: str | None
    mfu: float | None
    mfu_reason: str | None


class FlopsTracker(Tracker):
    """Training FLOPs: each new batch size is counted once by ``probe`` (its cost is not
    training time: the caller runs ``prepare`` in an excluded window), then every
    iteration adds its count, and every full pass (``passes()`` going up) its own."""

    def __init__(
        self,
        probe: Callable[[int], IterationFlops],
        probe_generator: Callable[[], float],
        passes: Callable[[], int],
        off_reason: str | None = None,
        steady: Callable[[int], bool] = lambda iteration: True,
    ) -> None:
        """``steady(i)``: whether iteration ``i`` counts towards the steady figures (the
        achieved FLOP/s and MFU are those of the steady iterations)."""
        self.probe, self.probe_generator, self.passes = probe, probe_generator, passes
        self.steady = steady
        self.total = 0
        self.steady_total = 0
        self.reason = off_reason  # why there is no count (off, or the probe failed)
        self.generator_flops: float | None = None
        self._by_size: dict[int, IterationFlops] = {}
        self._passes = passes()

    def needs(self, batch_size: int) -> bool:
        """Whether ``prepare(batch_size)`` has work to do."""
        return self.reason is None and batch_size not in self._by_size

    def prepare(self, batch_size: int) -> None:
        """Count one iteration at ``batch_size`` (and one generated image, once)."""
        try:
            self._by_size[batch_size] = self.probe(batch_size)
            if self.generator_flops is None:
                self.generator_flops = self.probe_generator()
        except Exception as err:  # noqa: BLE001  (a model the meta device cannot run)
            self.reason = f"FLOP count failed: {type(err).__name__}: {err}"

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        if self.reason is None:
            flops = self._by_size[batch_size]
            passes = self.passes()
            done = flops.step + (passes - self._passes) * flops.snapshot_pass
            self.total += done
            if self.steady(iteration - 1):
                self.steady_total += done
            self._passes = passes

    def state_dict(self) -> dict[str, Any]:
        return {
            "flops_total": self.total,
            "flops_steady": self.steady_total,
            "flops_reason": self.reason,
            "generator_flops_per_image": self.generator_flops,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = state.get("flops_total", 0)
        self.steady_total = state.get("flops_steady", 0)
        # A count switched off in any session stays off: the total would be partial.
        self.reason = state.get("flops_reason") or self.reason
        self.generator_flops = state.get("generator_flops_per_image")

    def summary(
        self, iterations: int, train_s: float, device: torch.device, dtype: torch.dtype, world: int
    ) -> ComputeUse:
        """``train_s``: the steady iterations' training seconds, whose FLOPs give the
        achieved rate; ``world``: GPUs the run trained on (the group's FLOPs against all
        their peaks)."""
        precision = compute_precision(device, dtype)
        peak, peak_reason = None, None
        if device.type == "cuda":
            props = torch.cuda.get_device_properties(device)
            capability = (props.major, props.minor)
            sm_count = props.multi_processor_count
            peak, peak_reason = find_peak(props.name, capability, sm_count, precision)
        if peak is not None:
            peak *= world
        ok = self.reason is None and iterations > 0
        achieved = self.steady_total / train_s if ok and train_s > 0 else None
        if self.reason is not None:
            mfu_reason = self.reason
        elif device.type != "cuda":
            mfu_reason = "no peak FLOP/s for CPUs"
        elif peak is None:
            mfu_reason = peak_reason
        else:
            mfu_reason = None
        return ComputeUse(
            flops_total=self.total if ok else None,
            flops_per_iteration=self.total / iterations if ok else None,
            generator_flops_per_image=self.generator_flops,
            achieved_flops_per_s=achieved,
            peak_flops_per_s=peak,
            mfu_precision=precision,
            mfu=achieved / peak if achieved is not None and peak else None,
            mfu_reason=mfu_reason,
        )
