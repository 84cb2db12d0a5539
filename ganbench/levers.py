"""Implementation levers: settings that change how fast a run trains (and how much memory
it needs), not the algorithm. ``levers:`` in a run; each one that cannot apply on the
run's device is skipped, and the summary says which and why (``levers_skipped``).

- ``precision: amp-bf16`` runs every forward pass and loss under ``torch.autocast`` in
  bfloat16; parameters, gradients and optimiser state stay float32, and bf16 needs no
  loss scaling. (fp16 with a GradScaler per network is not built yet.)
- ``channels_last``: models and real batches in NHWC memory format (4-D tensors only).
- ``grad_accumulation: k``: every batch is processed as k micro-batches whose gradients
  are summed with weights micro/batch before one optimiser step: the same estimate for
  per-example losses with 1/k of the activations in memory (batch-norm statistics are
  per micro-batch, as on k devices). Every scheduled batch size must divide by k.
- ``cudnn_benchmark``: cuDNN picks the fastest convolution algorithm per shape (CUDA).
- ``tf32``: TensorFloat-32 for matmuls and cuDNN convolutions on (true) or off (false);
  null keeps PyTorch's defaults (cuDNN on, matmul off). CUDA only.

The backend flags are process-wide: ``applied_levers`` sets them for one run and puts
the previous values back afterwards, so runs of a suite never inherit each other's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import Field, PositiveInt

from ganbench.schema import Section

Precision = Literal["fp32", "amp-bf16"]


class LeversConfig(Section):
    precision: Precision = Field("fp32", description="fp32, or amp-bf16 (autocast)")
    channels_last: bool = Field(False, description="NHWC memory format for models and batches")
    grad_accumulation: PositiveInt = Field(
        1, le=1024, description="micro-batches per optimiser step (same effective batch)"
    )
    cudnn_benchmark: bool = Field(False, description="cuDNN autotuning per shape (CUDA)")
    tf32: bool | None = Field(None, description="TF32 matmuls/convolutions; null: defaults")


@dataclass
class AppliedLevers:
    """What a run trains with, after the device had its say."""

    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    skipped: dict[str, str] = field(default_factory=dict)

    def autocast(self, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
        """A fresh autocast context per forward pass (or a no-op)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext
        dtype = self.autocast_dtype
        return lambda: torch.autocast(device.type, dtype=dtype)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.autocast_dtype or torch.float32

    def to_memory_format(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.channels_last and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor


@contextlib.contextmanager
def applied_levers(
    cfg: LeversConfig, device: torch.device, image_data: bool
) -> Iterator[AppliedLevers]:
    """Apply a run's levers for the duration of the block; restore the backend flags."""
    cuda = device.type == "cuda"
    applied = AppliedLevers()
    saved = _backend_flags()
    try:
        if cfg.precision == "amp-bf16":
            if cuda and not torch.cuda.is_bf16_supported(including_emulation=False):
                applied.skipped["precision"] = "amp-bf16: this GPU has no native bf16"
            else:
                applied.autocast_dtype = torch.bfloat16
        if cfg.channels_last:
            if image_data:
                applied.channels_last = True
            else:
                applied.skipped["channels_last"] = "the data are not images (no 4-D tensors)"
        if cfg.cudnn_benchmark:
            if cuda:
                torch.backends.cudnn.benchmark = True
            else:
                applied.skipped["cudnn_benchmark"] = f"needs CUDA (cuDNN); the run is on {device}"
        if cfg.tf32 is not None:
            if cuda:
                torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
                torch.backends.cudnn.allow_tf32 = cfg.tf32
            else:
                applied.skipped["tf32"] = f"needs a CUDA GPU (Ampere or later); on {device}"
        yield applied
    finally:
        _restore(saved)


def _backend_flags() -> dict[str, Any]:
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
    }


def _restore(saved: dict[str, Any]) -> None:
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
    torch.backends.cudnn.allow_tf32 = saved["cudnn_tf32"]
    torch.backends.cuda.matmul.allow_tf32 = saved["matmul_tf32"]
