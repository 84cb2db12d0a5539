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

# Dense peak TFLOP/s by GPU and compute precision (NVIDIA datasheets). Matched by
# substring of the device name, first match wins (so L40S precedes L4, H100 PCIe H100).
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    ("H100", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    ("L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.1, "fp16": 362.1}),
    ("L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    ("A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}),
    ("V100", {"fp32": 15.7, "fp16": 125.0}),
    ("T4", {"fp32": 8.1, "fp16": 65.0}),
)


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


def compute_precision(device: torch.device, dtype: torch.dtype = torch.float32) -> str | None:
    """The precision whose peak an fp32 run is measured against: cuDNN convolutions run
    in TF32 when ``torch.backends.cudnn.allow_tf32`` (PyTorch's default) is on."""
    if device.type != "cuda":
        return None
    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float16:
        return "fp16"
    tf32 = torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32
    return "tf32" if tf32 else "fp32"


def peak_flops(gpu_name: str | None, precision: str | None) -> float | None:
    """Dense peak FLOP/s of a known GPU at ``precision``, else None."""
    if not gpu_name or not precision:
        return None
    for key, peaks in PEAK_TFLOPS:
        if key in gpu_name:
            tflops = peaks.get(precision)
            return tflops * 1e12 if tflops is not None else None
    return None


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
    ) -> None:
        self.probe, self.probe_generator, self.passes = probe, probe_generator, passes
        self.total = 0
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
            self.total += flops.step + (passes - self._passes) * flops.snapshot_pass
            self._passes = passes

    def state_dict(self) -> dict[str, Any]:
        return {
            "flops_total": self.total,
            "flops_reason": self.reason,
            "generator_flops_per_image": self.generator_flops,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = state.get("flops_total", 0)
        # A count switched off in any session stays off: the total would be partial.
        self.reason = state.get("flops_reason") or self.reason
        self.generator_flops = state.get("generator_flops_per_image")

    def summary(
        self, iterations: int, train_s: float, device: torch.device, dtype: torch.dtype, world: int
    ) -> ComputeUse:
        """``world``: devices the run trained on (the group's FLOPs against all their peaks)."""
        precision = compute_precision(device, dtype)
        gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
        peak = peak_flops(gpu_name, precision)
        if peak is not None:
            peak *= world
        ok = self.reason is None and iterations > 0
        achieved = self.total / train_s if ok and train_s > 0 else None
        if self.reason is not None:
            mfu_reason = self.reason
        elif device.type != "cuda":
            mfu_reason = "no peak FLOP/s for CPUs"
        elif peak is None:
            mfu_reason = f"no peak FLOP/s known for {gpu_name} at {precision}"
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
