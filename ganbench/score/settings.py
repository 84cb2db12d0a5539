"""What ``ganbench score`` is asked to do, from the command line's text, checked before
torch is imported."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import UserError
from ganbench.score.reference import ReferenceSpec, parse_reference

# Without --metrics (and without a run's own metrics): the usual trio. Always the same
# three, never chosen by which files happen to be installed: a value's name must mean
# one thing. Without the Inception weights the error says how to get them, or to ask
# for --metrics fd_classifier (which needs no download).
DEFAULT_METRICS = ("fid", "kid", "is")


@dataclass(frozen=True)
class ScoreSettings:
    """The options, parsed; None: the default (a run's own setting, else the metric's)."""

    metrics: tuple[str, ...] | None = None
    reference: ReferenceSpec | None = None
    reference_samples: int | None = None
    reference_stats: Path | None = None
    num_samples: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    inception_weights: Path | None = None

    @classmethod
    def from_options(
        cls, metrics: str | None, reference: str | None, **rest: int | Path | None
    ) -> ScoreSettings:
        """Settings from the command line; UserError names the option at fault."""
        return cls(metrics=parse_metrics(metrics), reference=parse_reference(reference), **rest)


def parse_metrics(text: str | None) -> tuple[str, ...] | None:
    """``--metrics fid,kid``: names in order, each once (checked against the registry later)."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise UserError(f"--metrics {text!r}: name one or more metrics, e.g. fid,kid,is")
    return names


def parse_latent_shape(text: str | None) -> tuple[int, ...] | None:
    """``--latent-shape 512`` or ``100,1,1``; None: the file's own, else 128."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"--latent-shape {text}: positive integers, e.g. 512 or 100,1,1")
    return tuple(int(p) for p in parts)


@contextlib.contextmanager
def reworded(prefixes: Mapping[str, str]) -> Iterator[None]:
    """A UserError from code written for another command names that command's field or
    option (``evaluation.metrics: ...``, ``--generator PATH: ...``); here, this command's."""
    try:
        yield
    except UserError as err:
        message = str(err)
        for old, new in prefixes.items():
            if message.startswith(old):
                raise UserError(new + message[len(old) :]) from None
        raise
