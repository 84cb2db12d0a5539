"""A run's ``levers:`` section, and what the run's device made of it.

``applied_levers`` applies a run's levers for the duration of a block: each one the device
cannot apply is skipped and named in ``AppliedLevers.skipped`` with the reason (the
summary's ``levers_skipped``); backend flags and compile settings are restored after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import Field, PositiveInt

from ganbench.levers.backend import restored_backend_flags, set_backend_flags
from ganbench.levers.compile import CompileMode, compile_settings, dynamo
from ganbench.levers.distributed import LOCAL, Replicas, data_parallel
from ganbench.levers.layout import to_channels_last
from ganbench.levers.precision import DTYPES, LossScaler, Precision, unsupported_precision
from ganbench.registry import Section

Parallel = Literal["none", "dp", "ddp"]


class LeversConfig(Section):
    precision: Precision = Field("fp32", description="fp32, amp-fp16 or amp-bf16 (autocast)")
    channels_last: bool = Field(False, description="NHWC memory format for models and batches")
    grad_accumulation: PositiveInt = Field(
        1, le=1024, description="micro-batches per optimiser step (same effective batch)"
    )
    cudnn_benchmark: bool = Field(False, description="cuDNN autotuning per shape (CUDA)")
    tf32: bool | None = Field(None, description="TF32 matmuls/convolutions; null: defaults")
    compile: CompileMode = Field("off", description="torch.compile mode for the networks")
    data_on_device: bool = Field(False, description="whole dataset in GPU memory (uint8)")
    parallel: Parallel = Field(
        "none", description="dp: nn.DataParallel; ddp: processes (--launcher torchrun)"
    )


@dataclass
class AppliedLevers:
    """What a run trains with, after the device had its say."""

    autocast_dtype: torch.dtype | None = None
    loss_scaling: bool = False  # fp16: a LossScaler per network
    channels_last: bool = False
    compile_mode: str | None = None
    data_on_device: bool = False
    data_parallel: bool = False
    skipped: dict[str, str] = field(default_factory=dict)

    def scalers(self) -> dict[str, LossScaler] | None:
        return {"g": LossScaler(), "d": LossScaler()} if self.loss_scaling else None

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
        return to_channels_last(tensor) if self.channels_last else tensor


@contextlib.contextmanager
def applied_levers(
    cfg: LeversConfig, device: torch.device, image_data: bool, replicas: Replicas = LOCAL
) -> Iterator[AppliedLevers]:
    """Apply a run's levers for the duration of the block; restore the backend flags."""
    applied = AppliedLevers()
    with contextlib.ExitStack() as scope:
        scope.enter_context(restored_backend_flags())
        _precision(cfg.precision, device, applied)
        if cfg.channels_last:
            if image_data:
                applied.channels_last = True
            else:
                applied.skipped["channels_last"] = "the data are not images (no 4-D tensors)"
        set_backend_flags(cfg.cudnn_benchmark, cfg.tf32, device, applied.skipped)
        if cfg.compile != "off":
            if dynamo().is_dynamo_supported():
                scope.enter_context(compile_settings())
                applied.compile_mode = cfg.compile
            else:
                applied.skipped["compile"] = "torch.compile does not support this Python"
        if cfg.data_on_device:
            if device.type == "cuda":
                applied.data_on_device = True  # if it fits: decided when the data are loaded
            else:
                applied.skipped["data_on_device"] = "needs CUDA; on the CPU the data are there"
        applied.data_parallel = data_parallel(cfg.parallel, device, replicas, applied.skipped)
        yield applied


def _precision(precision: str, device: torch.device, applied: AppliedLevers) -> None:
    reason = unsupported_precision(precision, device)
    if reason is not None:
        applied.skipped["precision"] = reason
    elif precision != "fp32":
        applied.autocast_dtype = DTYPES[precision]
        applied.loss_scaling = precision == "amp-fp16"
