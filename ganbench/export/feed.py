"""A run folder as the logging tools see it: who the run is (``RunInfo``), and what it
recorded as scalars against iteration, sample grids and final figures (``RunFeed``).

One reader for both ways out: ``ganbench export`` reads a folder to its end once,
``train-suite --log`` polls the same reader while the run writes. Everything comes from
the files the run writes anyway (events.jsonl, gpu_samples.csv, summary.json, samples/,
profile/), never from the training loop.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganbench.results import RunStore, flatten, read_suite_meta
from ganbench.results.follow import CsvFollower, EventFollower

# eval events' fields that are not quality figures
EVAL_BOOKKEEPING = {
    "event", "time", "iteration", "train_s", "wall_s", "images_seen", "eval_time_s",
    "samples", "metric_time_s", "targets_reached", "protocol",
}  # fmt: skip
# gpu_samples.csv column -> scalar name
GPU_COLUMNS = {
    "power_w": "power/w",
    "gpu_util_pct": "gpu/util_pct",
    "mem_used_bytes": "memory/gpu_used_bytes",
    "sm_clock_mhz": "gpu/sm_clock_mhz",
}
# the summary's final figures kept as the run's figures (hparams metrics, MLflow and W&B
# summary values); quality and time to target are added per metric
FINAL = (
    "images_per_s", "iterations_per_s", "train_s", "wall_s", "iterations", "images_seen",
    "peak_rss_bytes", "peak_cuda_alloc_bytes", "energy_j", "energy_j_per_image", "mfu",
    "power_mean_w", "gpu_util_mean_pct",
)  # fmt: skip


@dataclass(frozen=True)
class Point:
    """One scalar: ``name`` (``loss/d``, ``speed/images_per_s`` ...) at ``step``
    (the iteration), written at ``time`` (seconds since the epoch)."""

    name: str
    value: float
    step: int
    time: float


@dataclass(frozen=True)
class Sample:
    """A sample grid written at an evaluation."""

    path: Path
    step: int
    time: float


@dataclass
class Batch:
    """What a feed read since its last poll, in the order the run wrote it."""

    points: list[Point] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    resumed_at: int | None = None  # a resume event: points after this step were superseded
    ended: str | None = None  # the run's end status (after its last resume), once written
    restarted: bool = False  # the run's folder holds a new run (trained again): from its start

    def __bool__(self) -> bool:
        return bool(self.points or self.samples or self.ended or self.resumed_at is not None)


@dataclass(frozen=True)
class RunInfo:
    """A run as every tool names it: ``key`` is stable across exports (same suite folder,
    run and start), ``uid`` a short id derived from it (MLflow tag, W&B run id)."""

    suite: str
    run_id: str
    configuration: str
    seed: int
    folder: Path
    key: str
    params: dict[str, Any]

    @property
    def uid(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()[:16]

    @property
    def tags(self) -> dict[str, str]:
        return {
            "suite": self.suite,
            "configuration": self.configuration,
            "seed": str(self.seed),
            "run_id": self.run_id,
        }


def run_info(folder: Path) -> RunInfo:
    """Who the run in ``folder`` is, from its config.yaml (the resolved config) and its
    suite folder's suite.json; the start time in the key comes from the start event."""
    config = _read_config(folder)
    suite = str(read_suite_meta(folder.parent).get("name") or folder.parent.name)
    run_id = folder.name
    started = _first_start(folder)
    return RunInfo(
        suite=suite,
        run_id=run_id,
        configuration=str(config.get("name", run_id)),
        seed=int(config.get("seed", 0) or 0),
        folder=folder,
        key=f"{suite}/{run_id}/{started}",
        params=flatten({k: v for k, v in config.items() if k != "schedule"}),
    )


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _first_start(folder: Path) -> str:
    """The first start event's time (the run's identity across resumes), or ``new``."""
    times = _attempts(folder)
    return str(times[0]) if times else "new"


def _attempts(folder: Path) -> list[float]:
    """The times of the run's start and resume events, in order (one per attempt)."""
    times = []
    try:
        with open(folder / "events.jsonl", encoding="utf-8") as f:
            for line in f:
                if '"event": "start"' in line or '"event": "resume"' in line:
                    times.append(float(json.loads(line).get("time")))
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return times


def final_figures(summary: dict[str, Any]) -> dict[str, float]:
    """A summary's headline figures under ``final/``: speed, time, memory, energy, and
    each quality metric's final and best value and training seconds to its target."""
    figures = {name: summary.get(name) for name in FINAL}
    for metric, values in (summary.get("quality") or {}).items():
        figures[f"{metric}_final"] = (values or {}).get("final")
        figures[f"{metric}_best"] = (values or {}).get("best")
    for metric, reached in (summary.get("time_to_target") or {}).items():
        figures[f"{metric}_time_to_target_s"] = (reached or {}).get("train_s")
    return {f"final/{k}": float(v) for k, v in figures.items() if _number(v)}


def has_started(folder: Path) -> bool:
    """Whether the run in ``folder`` began training (a start event)."""
    return _first_start(folder) != "new"


def attempt_began(folder: Path) -> float | None:
    """When the run's latest attempt began (its last start or resume event), if any."""
    times = _attempts(folder)
    return times[-1] if times else None


def profile_trace(folder: Path) -> Path | None:
    """The run's profiler trace (Chrome/Perfetto JSON), where one was recorded."""
    trace = folder / "profile" / "trace.json"
    return trace if trace.is_file() else None


class RunFeed:
    """A run folder's scalars and sample grids, read from where the last poll stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events = EventFollower(folder / "events.jsonl", from_start=True)
        self.gpu = CsvFollower(folder / "gpu_samples.csv")
        self._forget()

    def _forget(self) -> None:
        self.last_step = 0
        self.times: list[float] = []  # the unix times of the iterations logged, in order
        self.steps: list[int] = []  # and their iterations
        self.attempt_at = 0.0  # the unix time of the last start or resume event
        self.ended_at: float | None = None  # of the end event after it
        self.superseded: list[tuple[float, float]] = []  # unix times a resume dropped

    def poll(self) -> Batch:
        batch = Batch()
        for event in self.events.new_events():
            if self.events.restarted:
                self.events.restarted, batch = False, Batch(restarted=True)
                self._forget()
            self._read(event, batch)
        for row in self.gpu.new_rows():
            batch.points += self._gpu_points(row)
        return batch

    def summary(self) -> dict[str, Any] | None:
        """summary.json, where it was written after this attempt began and after its end
        event (an older one is the previous attempt's)."""
        try:
            written = (self.folder / "summary.json").stat().st_mtime
        except FileNotFoundError:
            return None
        if written < max(self.attempt_at, self.ended_at or 0.0) - 1.0:
            return None
        return RunStore(self.folder).read_summary()

    def _read(self, event: dict[str, Any], batch: Batch) -> None:
        kind, step = event.get("event"), event.get("iteration")
        if isinstance(step, int):
            self.last_step = step
        when = float(event.get("time") or 0.0)
        if kind in ("start", "resume"):
            self.attempt_at, self.ended_at, batch.ended = when, None, None
        if kind == "resume":  # what was written after the checkpoint is superseded
            self._resume(batch, when)
        elif kind == "end":
            batch.ended, self.ended_at = str(event.get("status")), when
        elif kind in _READERS and isinstance(step, int):
            if kind == "iteration":
                self.times.append(when)
                self.steps.append(step)
            values = _READERS[kind](event)
            batch.points += [Point(k, float(v), step, when) for k, v in values if _number(v)]
            if kind == "eval" and event.get("samples"):
                batch.samples.append(Sample(self.folder / event["samples"], step, when))

    def _resume(self, batch: Batch, when: float) -> None:
        at = batch.resumed_at = self.last_step
        batch.points = [p for p in batch.points if p.step <= at]
        batch.samples = [s for s in batch.samples if s.step <= at]
        keep = bisect.bisect_right(self.steps, at)
        checkpoint = self.times[keep - 1] if keep else 0.0
        self.superseded.append((checkpoint, when))
        self.times, self.steps = self.times[:keep], self.steps[:keep]

    def _gpu_points(self, row: dict[str, str]) -> list[Point]:
        """A GPU sample at the last iteration logged by its time (its unix time; in an
        older file, its time since the monitor started, counted from this attempt's start)."""
        unix, since = _float(row.get("unix_s")), _float(row.get("time_s"))
        at = unix if unix is not None else self.attempt_at + since if since is not None else None
        if at is None or any(start < at < end for start, end in self.superseded):
            return []  # unplaceable, or in the part of an attempt a resume superseded
        index = bisect.bisect_right(self.times, at) - 1
        step = self.steps[index] if index >= 0 else 0
        suffix = f"/gpu{row['gpu']}" if row.get("gpu") not in (None, "", "0") else ""
        points = []
        for column, name in GPU_COLUMNS.items():
            value = _float(row.get(column))
            if value is not None:
                points.append(Point(name + suffix, value, step, at))
        return points


def _iteration(event: dict[str, Any]) -> list[tuple[str, Any]]:
    iter_s, size = event.get("iter_time_s"), event.get("batch_size")
    speed = _number(iter_s) and iter_s > 0
    values = [
        ("loss/d", event.get("d_loss")),
        ("loss/g", event.get("g_loss")),
        ("speed/iterations_per_s", 1.0 / iter_s if speed else None),
        ("speed/images_per_s", size / iter_s if speed and _number(size) else None),
        ("batch_size", size),
        ("time/train_s", event.get("train_s")),
        ("grad_evals", event.get("grad_evals")),
        ("memory/rss_bytes", event.get("rss_bytes")),
        ("memory/cuda_peak_alloc_bytes", event.get("cuda_peak_alloc_bytes")),
    ]
    values += [(f"lr/{k[3:]}", v) for k, v in event.items() if k.startswith("lr_")]
    return values


def _eval(event: dict[str, Any]) -> list[tuple[str, Any]]:
    values = [(f"quality/{k}", v) for k, v in event.items() if k not in EVAL_BOOKKEEPING]
    return values + [("time/eval_s", event.get("eval_time_s"))]


def _noise_scale(event: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (f"noise_scale/{net}_b_simple", (event.get(net) or {}).get("b_simple"))
        for net in ("d", "g")
    ]


_READERS = {"iteration": _iteration, "eval": _eval, "noise_scale": _noise_scale}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
