"""Precision: the one vocabulary of compute precisions (training and latency share it),
what a run's device allows, and dynamic loss scaling for fp16.

Names: ``fp32``, ``amp-fp16``, ``amp-bf16``; ``fp16`` and ``bf16`` are accepted as
aliases (latency's spellings before the vocabulary was shared). In training, ``amp-*``
runs every forward pass and loss under ``torch.autocast`` with fp32 weights, gradients
and optimiser state; in latency a precision is the dtype the generator computes in, its
weights cast to it (inference keeps no fp32 master copy).
"""

from __future__ import annotations

from typing import Any

import torch

from ganbench.errors import UserError
from ganbench.levers.names import ALIASES, PRECISIONS, Precision  # noqa: F401

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "amp-fp16": torch.float16,
    "amp-bf16": torch.bfloat16,
}


def canonical_precision(name: str, option: str = "precision") -> str:
    """The vocabulary's name for ``name`` (an alias resolved); UserError when unknown."""
    name = ALIASES.get(name, name)
    if name not in DTYPES:
        choices = ", ".join([*PRECISIONS, *ALIASES])
        raise UserError(f"{option}: unknown precision {name!r} (choose: {choices})")
    return name


def unsupported_precision(precision: str, device: torch.device) -> str | None:
    """Why ``device`` cannot compute in ``precision`` (fp16 on a CPU, bf16 on an old GPU),
    or None."""
    if precision == "amp-fp16" and device.type != "cuda":
        return (
            f"amp-fp16 on the {device.type.upper()} is a CUDA lever: most CPUs have no fp16 "
            "arithmetic and PyTorch emulates it slowly (amp-bf16 is the CPU's mixed precision)"
        )
    if precision == "amp-bf16" and device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return "amp-bf16: this GPU has no native bf16"
    return None


class LossScaler:
    """Dynamic loss scaling for one network, by torch.amp.GradScaler's rule and defaults:
    start at 2**16, halve on a step whose gradients overflowed (that step is skipped),
    double after ``growth_interval`` finite steps in a row."""

    def __init__(
        self,
        scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
    ) -> None:
        self.scale = scale
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0  # finite steps since the last change of scale
        self.skipped = 0  # steps skipped for overflow over the run

    def unscale(self, grads: list[torch.Tensor]) -> None:
        """Gradients of ``loss * scale`` -> gradients of ``loss`` (in place)."""
        if self.scale != 1.0:
            torch._foreach_mul_(grads, 1.0 / self.scale)

    def update(self, grads: list[torch.Tensor]) -> bool:
        """Whether the (unscaled) gradients are finite; moves the scale accordingly."""
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if not finite:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            self.skipped += 1
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
        return finite

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.good_steps = state["scale"], state["good_steps"]
        self.skipped = state["skipped"]
