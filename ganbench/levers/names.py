"""The levers' vocabulary, importing nothing heavy: the precisions and compile modes a run
or ``ganbench latency`` may name (``fp16``/``bf16`` are aliases)."""

from __future__ import annotations

import typing
from typing import Literal

Precision = Literal["fp32", "amp-fp16", "amp-bf16"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
ALIASES = {"fp16": "amp-fp16", "bf16": "amp-bf16"}

CompileMode = Literal[
    "off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
]
COMPILE_MODES: tuple[str, ...] = typing.get_args(CompileMode)
CUDA_GRAPHS = "cuda-graphs"  # generation only: eager kernels captured once per batch size
GENERATION_COMPILE_MODES = (*COMPILE_MODES, CUDA_GRAPHS)
