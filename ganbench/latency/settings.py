"""What `ganbench latency` measures and how: every precision x compile mode x batch size,
warm-up (a minimum count and time, then until steady, capped), repeats or a minimum time
(capped). Precisions and compile modes use the levers'
vocabulary (``levers.names``); ``fp16``/``bf16`` are aliases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ganbench.errors import UserError
from ganbench.levers.names import ALIASES, GENERATION_COMPILE_MODES, PRECISIONS


@dataclass(frozen=True)
class LatencySettings:
    """What is measured and how; every combination of precision x compile x batch size."""

    batch_sizes: tuple[int, ...] = (1, 32, 256)
    precisions: tuple[str, ...] = ("fp32",)
    compile_modes: tuple[str, ...] = ("off",)
    channels_last: bool = False
    warmup: int = 5  # the fewest warm-up calls (the first included)
    warmup_min_s: float = 0.2  # warm-up calls after the first last at least this long ...
    warmup_max_s: float = 5.0  # ... and, unsteady, no longer than this (the count first)
    repeats: int | None = None
    min_time_s: float | None = 2.0
    max_time_s: float = 20.0  # with min_time_s: timed calls stop here, however few
    threads: int | None = None
    include_sampling: bool = False
    fold_spectral_norm: bool = True

    def __post_init__(self) -> None:
        # One name per precision (the levers' vocabulary): fp16 and bf16 are aliases.
        canonical = tuple(dict.fromkeys(ALIASES.get(p, p) for p in self.precisions))
        object.__setattr__(self, "precisions", canonical)

    def combinations(self) -> list[tuple[str, str, int]]:
        return [
            (p, c, b) for p in self.precisions for c in self.compile_modes for b in self.batch_sizes
        ]

    @classmethod
    def from_options(
        cls,
        batch_sizes: str = "1,32,256",
        precision: str = "fp32",
        compile_modes: str = "off",
        repeats: int | None = None,
        min_time_s: float | None = None,
        max_time_s: float | None = None,
        **rest: Any,
    ) -> LatencySettings:
        """Settings from the command line's text; UserError names the option at fault."""
        if repeats is not None and min_time_s is not None:
            raise UserError("--repeats and --min-time: choose one (a fixed count or a duration)")
        if repeats is not None and max_time_s is not None:
            raise UserError("--repeats and --max-time: --max-time caps --min-time's calls only")
        if max_time_s is not None:
            rest["max_time_s"] = max_time_s
        return cls(
            batch_sizes=parse_batch_sizes(batch_sizes),
            precisions=parse_choices("--precision", precision, (*PRECISIONS, *ALIASES)),
            compile_modes=parse_choices("--compile", compile_modes, GENERATION_COMPILE_MODES),
            repeats=repeats,
            min_time_s=None if repeats is not None else (min_time_s or cls.min_time_s),
            **rest,
        )


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if not p.isdigit() or int(p) < 1]
    if not parts or bad:
        raise UserError(
            f"--batch-sizes {text}: expected positive integers, e.g. 1,32,256"
            + (f" (not: {', '.join(bad)})" if bad else "")
        )
    return tuple(dict.fromkeys(int(p) for p in parts))


def parse_choices(option: str, text: str, choices: Sequence[str]) -> tuple[str, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in choices]
    if not parts or unknown:
        raise UserError(
            f"{option} {text}: unknown {', '.join(unknown) or 'empty list'} "
            f"(choose one or more of: {', '.join(choices)})"
        )
    return tuple(dict.fromkeys(parts))


def one_choice(option: str, text: str, choices: Sequence[str]) -> str:
    """``text`` when it is one of ``choices``, else UserError naming ``option``."""
    if text not in choices:
        raise UserError(f"{option} {text}: choose one of {', '.join(choices)}")
    return text
