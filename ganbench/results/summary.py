"""A run's summary: what it ended as (``RunStatus``), its figures (``RunSummary``, written
to summary.json) and the one flattening to dotted columns, used by runs.csv and by the
reports alike (so a figure has one name everywhere); and the one rule that says which runs
were measured on a machine off their suite's speed (``unsteady_machines``), used by the
launchers' re-runs and the reports alike.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ganbench.trackers.flops import ComputeUse
from ganbench.trackers.memory import MemoryPeaks
from ganbench.trackers.nvml import GpuUse
from ganbench.trackers.stats import Durations, IterationTimes


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


# Directions of the quality values that summaries written before ganbench recorded them
# (0.1, before the redesign) carry without one; newer summaries record their own.
# The phases a summary's ``phases`` can hold, in the order every table and plot shows
# them: a step's own (run/summary.py's PHASES, checked equal by a test), then the loop's.
PHASE_ORDER = (
    "data", "d_step", "g_step", "joint_step", "extrapolation", "snapshot",
    "other", "evaluation", "checkpoint", "noise_scale",
)  # fmt: skip


def in_phase_order(names: list[str]) -> list[str]:
    """``names`` in PHASE_ORDER, unknown ones (a newer ganbench's) last as they came."""
    rank = {name: i for i, name in enumerate(PHASE_ORDER)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))


LEGACY_DIRECTIONS = {
    "fid": "min",
    "is": "max",
    "fd_classifier": "min",
    "kid_classifier": "min",
    "modes_covered": "max",
    "high_quality_fraction": "max",
    "kl_modes": "min",
    "js_modes": "min",
}


def quality_direction(value: str, recorded: str | None) -> str | None:
    """``min`` or ``max`` for a quality value (None: a spread, never a target), from what
    its summary recorded or, for an older summary, from ``LEGACY_DIRECTIONS``."""
    return recorded if recorded is not None else LEGACY_DIRECTIONS.get(value)


# Figures whose meaning changed when ganbench began measuring the steady state: in a
# summary written before (no ``steady_s``) they are over all training time, the name
# that says so today; the training CUDA peak then included evaluation and checkpoints.
RENAMED_WITH_STEADY = {
    "images_per_s": "images_per_s_overall",
    "iterations_per_s": "iterations_per_s_overall",
    "data_wait_share": "data_wait_share_overall",
    "peak_cuda_alloc_bytes": "peak_cuda_alloc_all_bytes",
    "peak_cuda_reserved_bytes": "peak_cuda_reserved_all_bytes",
}


PHASE_RENAMED = {
    "time_s": "time_overall_s",
    "mean_per_iteration_s": "mean_per_iteration_overall_s",
    "share": "share_overall",
}


def in_todays_terms(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as this ganbench defines its figures: one written before the steady
    state was measured has its whole-run figures under their ``_overall`` names and no
    steady ones (never compared with today's as if they were the same thing)."""
    if "steady_s" in summary or summary.get("iterations") is None:
        return summary
    older = dict(summary)
    for old, new in RENAMED_WITH_STEADY.items():
        if old in older:
            older.setdefault(new, older.pop(old))
    phases = older.get("phases")
    if isinstance(phases, dict):
        older["phases"] = {
            name: {PHASE_RENAMED.get(k, k): v for k, v in p.items()} if isinstance(p, dict) else p
            for name, p in phases.items()
        }
    return older


# A run whose machine-speed probe is more than this share off its suite's median.
MACHINE_SPEED_TOLERANCE = 0.10
# ... or that many of its probe samples (a share of them, and at least two): a load that
# came or went during the run (one stray sample, shorter than the interval, is not).
PARTLY_OFF_SHARE = 0.25


def unsteady_machines(
    speeds: Mapping[str, Any], tolerance: float = MACHINE_SPEED_TOLERANCE
) -> dict[str, str]:
    """Runs (by id, from their summaries' ``machine_speed``) whose machine was more than
    ``tolerance`` off the suite's, each with the reason. The suite's speed is the median
    of the runs' probe medians (each run counted once, however long), among runs whose
    probes are comparable (same workload and device type). A run is off when its median
    is, or when a quarter of its samples (two or more) are: the run's figures are means
    over its time, so a load over part of it shows in them too."""
    groups: dict[tuple[Any, Any], dict[str, Mapping[str, Any]]] = {}
    for run_id, speed in speeds.items():
        if isinstance(speed, Mapping) and _positive(speed.get("median_s")):
            key = (speed.get("workload"), speed.get("device"))
            groups.setdefault(key, {})[run_id] = speed
    flagged: dict[str, str] = {}
    for group in groups.values():
        reference = statistics.median(speed["median_s"] for speed in group.values())
        for run_id, speed in group.items():
            reason = _speed_off(speed, reference, tolerance)
            if reason is not None:
                flagged[run_id] = reason
    return flagged


def _speed_off(speed: Mapping[str, Any], reference: float, tolerance: float) -> str | None:
    median = speed["median_s"]
    ratio = median / reference
    if abs(ratio - 1) > tolerance:
        return (
            f"its machine-speed probe took {ratio:.2f}x the suite's median "
            f"({median * 1e3:.0f} ms vs {reference * 1e3:.0f} ms): the machine was "
            f"{'slower' if ratio > 1 else 'faster'} than for the other runs"
        )
    samples = [s.get("seconds") for s in speed.get("samples") or [] if isinstance(s, Mapping)]
    seconds = [s for s in samples if _positive(s)]
    off = [s for s in seconds if abs(s / reference - 1) > tolerance]
    if len(off) >= 2 and len(off) >= PARTLY_OFF_SHARE * len(seconds):
        return (
            f"{len(off)} of its {len(seconds)} machine-speed probes were more than "
            f"{tolerance:.0%} off the suite's median {reference * 1e3:.0f} ms "
            f"({min(off) * 1e3:.0f}-{max(off) * 1e3:.0f} ms): the machine's load changed "
            "during the run"
        )
    return None


def _positive(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


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


class _RunFigures(BaseModel):
    """The fields a run's own code fills; the trackers' figures are added below."""

    model_config = ConfigDict(extra="allow")

    # which run, and how it ended
    run_id: str
    name: str
    seed: int | None = None
    strategy: str | None = None
    status: RunStatus
    reason: str | None = None
    # where the suite's order put it (docs/suites.md), and when this attempt started
    order: str | None = None
    order_block: int | None = None
    order_position: int | None = None
    started_at: str | None = None
    # progress and time
    iterations: int | None = None
    epochs: float | None = None
    images_seen: int | None = None
    batch_size_final: int | None = None
    train_s: float | None = None
    wall_s: float | None = None
    eval_s: float | None = None
    checkpoint_s: float | None = None
    # steady state: warm-up, profiler window, settling after a batch-size change or a
    # compilation left out (docs/measurement.md); ``_overall``: all training time
    iterations_per_s: float | None = None
    images_per_s: float | None = None
    steady_s: float | None = None
    steady_iterations: int | None = None
    steady_images: int | None = None
    steady_reason: str | None = None
    iterations_per_s_overall: float | None = None
    images_per_s_overall: float | None = None
    iterations_per_s_with_eval: float | None = None
    images_per_s_with_eval: float | None = None
    epoch_times_s: list[float] | None = None
    epoch_time_mean_s: float | None = None
    final_d_loss: float | None = None
    final_g_loss: float | None = None
    # levers, loss scaling and ddp ranks
    levers: dict[str, Any] | None = None
    levers_skipped: dict[str, str] | None = None
    loss_scale: dict[str, float] | None = None
    overflow_skipped_steps: dict[str, int] | None = None
    world_size: int | None = None
    # ddp: the gradient all-reduces' payload per training iteration, their seconds and
    # share of training time (this rank's: rank 0's in the summary, each rank's in ranks)
    ddp_allreduce_bytes_per_iteration: float | None = None
    ddp_allreduces_per_iteration: float | None = None
    ddp_comm_s: float | None = None
    ddp_comm_share: float | None = None
    ranks: list[dict[str, Any]] | None = None
    ranks_in_sync: bool | None = None
    ranks_peak_rss_bytes_sum: int | None = None
    # work done
    grad_evals: int | None = None
    d_grad_evals: int | None = None
    g_grad_evals: int | None = None
    snapshot_grad_evals: int | None = None
    full_batch_passes: int | None = None
    # iteration times beside IterationTimes' fields, and phases
    iter_time_excluded_count: int | None = None
    first_iter_time_s: float | None = None
    phases: dict[str, dict[str, Any]] | None = None
    data_wait_share: float | None = None
    data_wait_share_overall: float | None = None
    data_bound: bool | None = None
    profile: dict[str, Any] | None = None
    # quality
    quality: dict[str, dict[str, Any]] | None = None
    time_to_target: dict[str, dict[str, Any]] | None = None
    metrics_protocol: dict[str, Any] | None = None
    metrics_setup_s: float | None = None
    # the gradient noise scale (measure.noise_scale)
    noise_scale: dict[str, dict[str, Any]] | None = None
    noise_scale_s: float | None = None
    environment: dict[str, Any] | None = None
    # the machine-speed probe (run/speed_probe.py), and the run this one re-ran
    machine_speed: dict[str, Any] | None = None
    replaces: dict[str, Any] | None = None
    # not written: set when a re-run of the suite skipped the run
    skipped: bool = Field(False, exclude=True)

    def to_json_dict(self) -> dict[str, Any]:
        """What summary.json holds: every field that was set (statuses as strings)."""
        return self.model_dump(mode="json", exclude_unset=True)


def _optional_fields(figures: type, prefix: str = "") -> dict[str, Any]:
    """A result dataclass's fields, each optional (absent when a run failed early)."""
    hints = typing.get_type_hints(figures)
    return {f"{prefix}{f.name}": (hints[f.name] | None, None) for f in dataclasses.fields(figures)}


RunSummary = pydantic.create_model(
    "RunSummary",
    __base__=_RunFigures,
    __module__=__name__,
    __doc__="""summary.json: units in the names (``_s``, ``_bytes``, ``_w``, ``_j``, ``_pct``,
    ``_mhz``, ``_c``; ``share`` a fraction), None where a figure does not apply (a
    ``*_reason`` says why). The trackers' result types declare their own fields once:
    iteration times (``iter_time_*``), memory peaks, what NVML saw, FLOPs and MFU. A run
    that failed before training has its identity only; fields of other ganbench versions
    load and are kept.""",
    **_optional_fields(Durations, f"{IterationTimes.prefix}_"),
    **_optional_fields(MemoryPeaks),
    **_optional_fields(GpuUse),
    **_optional_fields(ComputeUse),
)
