"""A run's summary: what it ended as (``RunStatus``), its figures (``RunSummary``, written
to summary.json) and the one flattening to dotted columns, used by runs.csv and by the
reports alike (so a figure has one name everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class RunSummary(BaseModel):
    """summary.json: units in the names (``_s``, ``_bytes``, ``_w``, ``_j``, ``_pct``,
    ``_mhz``, ``_c``; ``share`` a fraction); None where a figure does not apply (with a
    ``*_reason`` saying why). A run that failed before training has its identity only.
    Fields written by other ganbench versions load and are kept (``extra``)."""

    model_config = ConfigDict(extra="allow", use_enum_values=False)

    # which run, and how it ended
    run_id: str
    name: str
    seed: int | None = None
    strategy: str | None = None
    status: RunStatus
    reason: str | None = None
    # progress and time
    iterations: int | None = None
    epochs: float | None = None
    images_seen: int | None = None
    batch_size_final: int | None = None
    train_s: float | None = None
    wall_s: float | None = None
    eval_s: float | None = None
    checkpoint_s: float | None = None
    iterations_per_s: float | None = None
    images_per_s: float | None = None
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
    ranks: list[dict[str, Any]] | None = None
    ranks_in_sync: bool | None = None
    ranks_peak_rss_bytes_sum: int | None = None
    # work done
    grad_evals: int | None = None
    d_grad_evals: int | None = None
    g_grad_evals: int | None = None
    snapshot_grad_evals: int | None = None
    full_batch_passes: int | None = None
    # iteration times and phases
    iter_time_count: int | None = None
    iter_time_mean_s: float | None = None
    iter_time_std_s: float | None = None
    iter_time_p50_s: float | None = None
    iter_time_p90_s: float | None = None
    iter_time_p99_s: float | None = None
    iter_time_excluded_count: int | None = None
    first_iter_time_s: float | None = None
    phases: dict[str, dict[str, Any]] | None = None
    data_wait_share: float | None = None
    data_bound: bool | None = None
    # memory
    peak_rss_bytes: int | None = None
    peak_cuda_alloc_bytes: int | None = None
    peak_cuda_reserved_bytes: int | None = None
    warmup_peak_cuda_alloc_bytes: int | None = None
    warmup_peak_cuda_reserved_bytes: int | None = None
    # the GPU as NVML saw it
    gpu_monitor_reason: str | None = None
    gpu_unsupported_queries: list[str] | None = None
    gpu_samples: int | None = None
    gpu_sample_hz: float | None = None
    gpu_util_mean_pct: float | None = None
    gpu_mem_util_mean_pct: float | None = None
    gpu_mem_used_max_bytes: float | None = None
    gpu_process_mem_max_bytes: float | None = None
    power_mean_w: float | None = None
    power_max_w: float | None = None
    sm_clock_mean_mhz: float | None = None
    sm_clock_min_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    temperature_max_c: float | None = None
    throttle_reason_share: dict[str, float] | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    energy_j_per_image: float | None = None
    # FLOPs and utilisation
    flops_total: int | None = None
    flops_per_iteration: float | None = None
    generator_flops_per_image: float | None = None
    achieved_flops_per_s: float | None = None
    peak_flops_per_s: float | None = None
    mfu_precision: str | None = None
    mfu: float | None = None
    mfu_reason: str | None = None
    profile: dict[str, Any] | None = None
    # quality
    quality: dict[str, dict[str, Any]] | None = None
    time_to_target: dict[str, dict[str, Any]] | None = None
    metrics_protocol: dict[str, Any] | None = None
    metrics_setup_s: float | None = None
    environment: dict[str, Any] | None = None
    # not written: set when a re-run of the suite skipped the run
    skipped: bool = Field(False, exclude=True)

    def to_json_dict(self) -> dict[str, Any]:
        """What summary.json holds: every field that was set (statuses as strings)."""
        return self.model_dump(mode="json", exclude_unset=True)
