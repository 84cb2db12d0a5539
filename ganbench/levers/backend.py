"""Process-wide backend flags (cuDNN autotuning, TF32): set for one run, restored after it,
so the runs of a suite never inherit each other's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def restored_backend_flags() -> Iterator[None]:
    """Whatever the block sets, cuDNN benchmark and the TF32 flags are as before after it."""
    saved = (
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
    )
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved[0]
        torch.backends.cudnn.allow_tf32 = saved[1]
        torch.backends.cuda.matmul.allow_tf32 = saved[2]


def set_backend_flags(
    cudnn_benchmark: bool, tf32: bool | None, device: torch.device, skipped: dict[str, str]
) -> None:
    """cuDNN autotuning per shape and TF32 matmuls/convolutions (``tf32: None`` keeps
    PyTorch's defaults); CUDA only, else each is named in ``skipped`` with the reason."""
    cuda = device.type == "cuda"
    if cudnn_benchmark:
        if cuda:
            torch.backends.cudnn.benchmark = True
        else:
            skipped["cudnn_benchmark"] = f"needs CUDA (cuDNN); the run is on {device}"
    if tf32 is not None:
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        else:
            skipped["tf32"] = f"needs a CUDA GPU (Ampere or later); on {device}"
