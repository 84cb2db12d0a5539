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

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from ganbench.results.summary import RunSummary, flatten


class EventLog:
    """Append-only JSON lines, flushed after every write."""

    def __init__(self, path: Path) -> None:
        _cut_torn_line(path)
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **{k: _finite(v) for k, v in fields.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # the last write did not reach a full disk; its torn line is cut on reopen

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_line(path: Path) -> None:
    """Drop a last line without its newline (a write cut short by a kill), so the next
    record starts on a line of its own."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


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
    """Replace ``path`` by ``text`` so that a reader (or a crash) sees the old file or the
    new one, never a part: a uniquely named temp file, fsync, rename, fsync the folder."""
    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextlib.contextmanager
def atomic_file(path: Path, keep_previous: Path | None = None) -> Iterator[Path]:
    """A unique temp path beside ``path`` to write to (two processes writing one file
    never share a temp file); renamed to ``path`` when the block ends without error (the
    file it replaces moved to ``keep_previous`` first, if given), removed when it fails
    (a full disk is not left fuller)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it (mkstemp's is owner-only)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if keep_previous is not None and path.is_file():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is atomic
    finally:
        os.close(fd)


class Unreadable(Exception):
    """A results file exists but cannot be read (empty, truncated, not what it should be)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


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
        self.previous_checkpoint = folder / "checkpoint.prev.pt"
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
            self.previous_checkpoint,
            self.error,
            self.gpu_samples,
        ):
            path.unlink(missing_ok=True)
        self.remove_leftovers()
        if self.profile_dir.is_dir():
            for name in ("trace.json", "top_ops.csv"):
                (self.profile_dir / name).unlink(missing_ok=True)
        if self.samples_dir.is_dir():
            for png in self.samples_dir.glob("*.png"):
                png.unlink()

    def write_config(self, config: dict[str, Any]) -> None:
        write_atomic(self.config, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any] | None:
        """config.yaml as written; None when there is none, ``Unreadable`` when it is empty
        or not a YAML mapping."""
        if not self.config.is_file():
            return None
        try:
            config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            raise Unreadable(self.config, "not valid YAML") from None
        if not isinstance(config, dict):
            raise Unreadable(self.config, "empty" if config is None else "not a mapping")
        return config

    def write_summary(self, summary: RunSummary) -> None:
        clean = {k: _finite(v) for k, v in summary.to_json_dict().items()}
        write_atomic(self.summary, json.dumps(clean, indent=2) + "\n")

    def read_summary(self) -> dict[str, Any] | None:
        """summary.json as written (None when there is none, or it cannot be read)."""
        try:
            return self.read_summary_strict()
        except Unreadable:
            return None

    def read_summary_strict(self) -> dict[str, Any] | None:
        """summary.json as written; None when there is none, ``Unreadable`` when it is
        truncated or not a JSON object."""
        if not self.summary.is_file():
            return None
        try:
            summary = json.loads(self.summary.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise Unreadable(self.summary, f"not valid JSON ({err})"[:120]) from None
        if not isinstance(summary, dict):
            raise Unreadable(self.summary, "not a JSON object")
        return summary

    def load_summary(self) -> RunSummary | None:
        """summary.json as a ``RunSummary`` (None when there is none or it is not JSON)."""
        raw = self.read_summary()
        return None if raw is None else RunSummary.model_validate(raw)

    def open_events(self) -> EventLog:
        return EventLog(self.events)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the checkpoint atomically; the one it replaces stays as
        ``checkpoint.prev.pt`` (the fallback if the new one is ever found damaged)."""
        import torch

        with atomic_file(self.checkpoint, keep_previous=self.previous_checkpoint) as tmp:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())

    def checkpoints(self) -> list[Path]:
        """The checkpoints a resume can use, newest first (damaged ones left out)."""
        return [p for p in (self.checkpoint, self.previous_checkpoint) if checkpoint_intact(p)]

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file() or self.previous_checkpoint.is_file()

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint that is whole and loads (``checkpoint.pt``, else
        ``checkpoint.prev.pt``); None when neither exists, ``Unreadable`` when one exists
        but none does."""
        import torch

        problems = []
        for path in (self.checkpoint, self.previous_checkpoint):
            if not path.is_file():
                continue
            if not checkpoint_intact(path):  # torch.load alone would not see a bad byte
                problems.append(f"{path.name}: truncated or corrupt")
                continue
            try:
                return torch.load(path, map_location="cpu", weights_only=False)
            except Exception as err:  # noqa: BLE001  (not a checkpoint ...)
                problems.append(f"{path.name}: {type(err).__name__}")
        if problems:
            raise Unreadable(self.checkpoint, "damaged (" + "; ".join(problems) + ")")
        return None

    def remove_leftovers(self) -> None:
        """Temp files of this run's own writes that a kill cut short (a checkpoint's can
        be large); only the holder of the run's lock calls this. Other processes' writes
        in the folder (a driver's stop request or job record, a lock's holder file) are
        theirs to finish: their temp files stay."""
        for own in (self.config, self.summary, self.checkpoint, self.error):
            for path in self.folder.glob(f".{own.name}.*.tmp"):
                path.unlink(missing_ok=True)


def checkpoint_intact(path: Path) -> bool:
    """Cheap check that a checkpoint file is whole: torch writes a zip archive, whose
    central directory (at its end) and member CRCs a truncated or overwritten file fails."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False


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

    def remove_leftovers(self) -> None:
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


def write_suite_meta(
    output_dir: Path,
    name: str,
    source: Path,
    baseline: str | None,
    ids,
    repository: dict[str, Any] | None = None,
) -> None:
    """What `ganbench report` needs to know about the suite besides its run folders (run ids
    of earlier invocations, e.g. with --only, are kept); ``repository``: the commit,
    branch and dirty flag of the repository it ran from (for `ganbench history`)."""
    known = read_suite_meta(output_dir).get("runs", [])
    runs = list(dict.fromkeys([*known, *ids]))
    meta = {"name": name, "source": str(source), "baseline": baseline, "runs": runs}
    if repository is not None:
        meta["repository"] = repository
    write_atomic(output_dir / SUITE_FILE, json.dumps(meta, indent=2) + "\n")


def read_suite_meta(output_dir: Path) -> dict[str, Any]:
    """suite.json, or {} for folders written before it existed (or unreadable)."""
    try:
        return json.loads((output_dir / SUITE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def write_runs_csv(output_dir: Path) -> Path:
    """One row per run folder that has a readable summary (``flatten``: dotted names,
    lists left in summary.json)."""
    import pandas as pd

    rows = []
    for summary_path in sorted(output_dir.glob("*/summary.json")):
        summary = RunStore(summary_path.parent).read_summary()
        if summary is not None:
            rows.append(flatten(summary))
    path = output_dir / "runs.csv"
    write_atomic(path, pd.DataFrame(rows).to_csv(index=False))
    return path


def sha256_of(path: Path) -> str:
    """A file's SHA-256 (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
