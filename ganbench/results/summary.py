"""What a run ended as (``RunStatus``) and the one flattening of its summary to dotted
columns, used by runs.csv and by the reports alike (so a figure has one name everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any


class RunStatus(str, Enum):
    """How a run ended; ``incomplete`` is a run folder without a summary (killed)."""

    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"
    OOM = "oom"
    FAILED = "failed"
    INCOMPLETE = "incomplete"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """A result as it stands: re-running the suite skips it (a finished run whose
        budget was raised trains on)."""
        return self in (RunStatus.FINISHED, RunStatus.DIVERGED, RunStatus.OOM)

    @property
    def in_step(self) -> bool:
        """Every process of the run reached the same iteration and can still answer (a
        ddp group compares its ranks only then)."""
        return self in (RunStatus.FINISHED, RunStatus.INTERRUPTED, RunStatus.DIVERGED)


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars of a summary under dotted names (``phases.data.share``,
    ``quality.fid.final``, ``time_to_target.fid.train_s``); lists are left out (they stay
    in summary.json)."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, Enum):
            flat[name] = value.value
        elif not isinstance(value, list | tuple):
            flat[name] = value
    return flat
