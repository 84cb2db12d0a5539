"""Where the data live and in which memory layout: channels_last (NHWC) for models and
real batches, and the whole dataset in GPU memory (``data_on_device``)."""

from __future__ import annotations

import dataclasses

import torch

from ganbench.data.base import Data


def to_channels_last(tensor: torch.Tensor) -> torch.Tensor:
    """A 4-D tensor in NHWC memory format (other tensors as they are)."""
    if tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def place_data(data: Data, device: torch.device, skipped: dict[str, str]) -> Data:
    """The dataset in GPU memory (as stored: uint8 images) if it takes at most half of the
    free memory; otherwise left where it is, with the reason in ``skipped``."""
    need = data.values.nbytes
    free, _ = torch.cuda.mem_get_info(device)
    if need > free // 2:
        skipped["data_on_device"] = (
            f"the dataset takes {need / 2**20:.0f} MiB, more than half of the "
            f"{free / 2**20:.0f} MiB free on {device}"
        )
        return data
    return dataclasses.replace(data, values=data.values.to(device))
