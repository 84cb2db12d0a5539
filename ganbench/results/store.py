"""The results store: one folder per run, written so that a crash loses at most one event.

reports/<suite>/<run id>/
    config.yaml      the resolved run config
    events.jsonl     append-only, flushed per line (start, resume, iteration, batch_size,
                     eval, checkpoint, end)
    summary.json     status and cost figures, rewritten atomically
    samples.png      fixed-noise samples at the last evaluation (samples/ keeps each one)
    gpu_samples.csv  NVML samples of a CUDA run (utilisation, memory, power, clocks, ...)
    profile/         trace.json (Chrome/Perfetto) and top_ops.csv of a profiled run
    checkpoint.pt    models, optimisers, strategy state, RNG states (atomic replace)
    error.txt        traceback of a failed run
reports/<suite>/runs.csv   one row per run, from the summaries
reports/<suite>/suite.json the suite's name, source file, baseline configuration and run ids
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import IO, Any

import yaml

from ganbench.results.summary import RunSummary, flatten


class EventLog:
    """Append-only JSON lines, flushed after every write."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **{k: _finite(v) for k, v in fields.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (the end event says why)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def read_events(path: Path) -> list[dict[str, Any]]:
    """Events in order, without those a resume superseded and without a torn last line.

    After a crash the run resumes from its last checkpoint; iteration-stamped events
    written after that checkpoint are dropped when the ``resume`` event is read.
    """
    events: list[dict[str, Any]] = []
    if not path.is_file():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if record.get("event") == "resume":
            resumed_at = record.get("iteration", 0)
            events = [e for e in events if e.get("iteration", 0) <= resumed_at]
        events.append(record)
    return events


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class RunStore:
    """Paths and atomic writes for one run's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "config.yaml"
        self.events = folder / "events.jsonl"
        self.summary = folder / "summary.json"
        self.samples = folder / "samples.png"
        self.samples_dir = folder / "samples"
        self.checkpoint = folder / "checkpoint.pt"
        self.error = folder / "error.txt"
        self.gpu_samples = folder / "gpu_samples.csv"
        self.profile_dir = folder / "profile"

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def clear(self) -> None:
        """Remove a previous attempt's files (``--fresh``); other files are left alone."""
        for path in (
            self.config,
            self.events,
            self.summary,
            self.samples,
            self.checkpoint,
            self.error,
            self.gpu_samples,
        ):
            path.unlink(missing_ok=True)
        if self.profile_dir.is_dir():
            for name in ("trace.json", "top_ops.csv"):
                (self.profile_dir / name).unlink(missing_ok=True)
        if self.samples_dir.is_dir():
            for png in self.samples_dir.glob("*.png"):
                png.unlink()

    def write_config(self, config: dict[str, Any]) -> None:
        write_atomic(self.config, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any] | None:
        if not self.config.is_file():
            return None
        return yaml.safe_load(self.config.read_text(encoding="utf-8"))

    def write_summary(self, summary: RunSummary) -> None:
        clean = {k: _finite(v) for k, v in summary.to_json_dict().items()}
        write_atomic(self.summary, json.dumps(clean, indent=2) + "\n")

    def read_summary(self) -> dict[str, Any] | None:
        """summary.json as written (None when there is none, or it cannot be read)."""
        if not self.summary.is_file():
            return None
        try:
            return json.loads(self.summary.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None

    def load_summary(self) -> RunSummary | None:
        """summary.json as a ``RunSummary`` (None when there is none or it is not JSON)."""
        raw = self.read_summary()
        return None if raw is None else RunSummary.model_validate(raw)

    def open_events(self) -> EventLog:
        return EventLog(self.events)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        import torch

        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.checkpoint)

    def load_checkpoint(self) -> dict[str, Any] | None:
        import torch

        if not self.checkpoint.is_file():
            return None
        return torch.load(self.checkpoint, map_location="cpu", weights_only=False)


class ReplicaStore(RunStore):
    """The run folder as a ddp rank other than 0 sees it: it reads the config and the
    checkpoint rank 0 wrote, keeps its own error file, GPU samples and profiler trace
    (``*.rank<r>.*``), and writes nothing else: rank 0 writes the run's results."""

    def __init__(self, folder: Path, rank: int) -> None:
        super().__init__(folder)
        self.error = folder / f"error.rank{rank}.txt"
        self.gpu_samples = folder / f"gpu_samples.rank{rank}.csv"
        self.profile_dir = folder / "profile" / f"rank{rank}"

    def clear(self) -> None:
        pass

    def write_config(self, config: dict[str, Any]) -> None:
        pass

    def write_summary(self, summary: RunSummary) -> None:
        pass

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        pass

    def open_events(self) -> EventLog:
        return EventLog(Path(os.devnull))


SUITE_FILE = "suite.json"


def write_suite_meta(output_dir: Path, name: str, source: Path, baseline: str | None, ids) -> None:
    """What `ganbench report` needs to know about the suite besides its run folders (run ids
    of earlier invocations, e.g. with --only, are kept)."""
    known = read_suite_meta(output_dir).get("runs", [])
    runs = list(dict.fromkeys([*known, *ids]))
    meta = {"name": name, "source": str(source), "baseline": baseline, "runs": runs}
    write_atomic(output_dir / SUITE_FILE, json.dumps(meta, indent=2) + "\n")


def read_suite_meta(output_dir: Path) -> dict[str, Any]:
    """suite.json, or {} for folders written before it existed (or unreadable)."""
    try:
        return json.loads((output_dir / SUITE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def write_runs_csv(output_dir: Path) -> Path:
    """One row per run folder that has a summary (``flatten``: dotted names, lists left
    in summary.json)."""
    import pandas as pd

    rows = []
    for summary_path in sorted(output_dir.glob("*/summary.json")):
        rows.append(flatten(json.loads(summary_path.read_text(encoding="utf-8"))))
    path = output_dir / "runs.csv"
    write_atomic(path, pd.DataFrame(rows).to_csv(index=False))
    return path
