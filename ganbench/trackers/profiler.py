"""torch.profiler over a window of training iterations: a Chrome/Perfetto trace and a
table of the top operators, both written into the run's folder.

The window follows torch.profiler's schedule: ``wait`` iterations unprofiled, ``warmup``
profiled and discarded, ``active`` recorded. Phases appear in the trace as
``ganbench.<phase>`` ranges (the phase timer opens a ``record_function`` per phase while
the profiler runs), each iteration as ``ProfilerStep#N``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch.profiler import ProfilerActivity

from ganbench.trackers.base import Tracker

if TYPE_CHECKING:
    import pandas as pd


class ProfileConfig(Protocol):
    """The profiler window a run asks for (its ``profile:`` section)."""

    wait: int
    warmup: int
    active: int
    record_shapes: bool
    profile_memory: bool
    with_stack: bool
    row_limit: int

    @property
    def iterations(self) -> int: ...


QUIET_KINETO = "7"  # above kineto's highest level: nothing logged
TRACE_FILE = "trace.json"
TABLE_FILE = "top_ops.csv"


class RunProfiler:
    """Starts with the training loop, ``step()`` after every iteration, stops by itself."""

    def __init__(self, cfg: ProfileConfig, device: torch.device, folder: Path) -> None:
        self.cfg, self.folder = cfg, folder
        self.cuda = device.type == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        if not self.cuda:  # a CUDA build of torch on a machine without a GPU: kineto logs a
            # false "gpuGetDeviceCount failed" ERROR; a CPU window needs none of its logs
            os.environ.setdefault("KINETO_LOG_LEVEL", QUIET_KINETO)
        self._profile = torch.profiler.profile(
            activities=activities,
            schedule=torch.profiler.schedule(
                wait=cfg.wait, warmup=cfg.warmup, active=cfg.active, repeat=1
            ),
            on_trace_ready=self._write,
            record_shapes=cfg.record_shapes,
            profile_memory=cfg.profile_memory,
            with_stack=cfg.with_stack,
        )
        self.steps = 0
        self.running = False
        self.table: pd.DataFrame | None = None

    @property
    def trace_path(self) -> Path:
        return self.folder / TRACE_FILE

    @property
    def table_path(self) -> Path:
        return self.folder / TABLE_FILE

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.cfg.profile_memory:
            absorb_unknown_size_warning()
        self._profile.start()
        self.running = True

    def step(self) -> None:
        """Call after each iteration; stops the profiler once the window is over."""
        if not self.running:
            return
        self._profile.step()
        self.steps += 1
        if self.steps >= self.cfg.iterations:
            self.stop()

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._profile.stop()

    def profiled_iterations(self, first: int) -> tuple[int, int]:
        """[start, end) of the iterations slowed by the profiler, for a loop starting at
        iteration index ``first``."""
        return first + self.cfg.wait, first + self.cfg.iterations

    def _write(self, prof: torch.profiler.profile) -> None:
        prof.export_chrome_trace(str(self.trace_path))
        self.table = top_operators(prof.key_averages(), self.cfg.row_limit, self.cuda)
        self.table.to_csv(self.table_path, index=False)

    def summary(self) -> dict[str, Any]:
        written = self.trace_path.exists()
        return {
            "trace": f"{self.folder.name}/{TRACE_FILE}" if written else None,
            "top_ops": f"{self.folder.name}/{TABLE_FILE}" if written else None,
            "wait": self.cfg.wait,
            "warmup": self.cfg.warmup,
            "active": self.cfg.active,
            "complete": written,
        }


def top_operators(averages: Any, limit: int, cuda: bool) -> pd.DataFrame:
    """The ``limit`` operators with the most self time (device time on CUDA), in seconds
    and bytes, with their share of all self time."""
    import pandas as pd

    rows = [
        {
            "operator": a.key,
            "calls": a.count,
            "self_cpu_s": a.self_cpu_time_total / 1e6,
            "cpu_total_s": a.cpu_time_total / 1e6,
            "self_device_s": a.self_device_time_total / 1e6,
            "device_total_s": a.device_time_total / 1e6,
            "self_cpu_memory_bytes": a.self_cpu_memory_usage,
            "self_device_memory_bytes": a.self_device_memory_usage,
        }
        for a in averages
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    key = "self_device_s" if cuda else "self_cpu_s"
    total = frame[key].sum()
    frame["self_share"] = frame[key] / total if total > 0 else 0.0
    return frame.sort_values(key, ascending=False).head(limit).reset_index(drop=True)


class ProfilerTracker(Tracker):
    """A run's profiler window as a tracker: opened with the loop (when the run starts at
    iteration 0), stepped after every iteration, closed when the window is over; phases and
    excluded windows labelled as ``ganbench.<name>`` ranges while it records. Stopping
    (which writes the trace and the table) runs inside ``exclusion("profiler")``, the run's
    window for work that is not training. A resumed run whose window had not been written
    says so in ``profile``."""

    def __init__(
        self,
        cfg: ProfileConfig | None,
        device: torch.device,
        folder: Path,
        start: int,
        on_recording: Callable[[bool], None] = lambda on: None,
    ) -> None:
        self.profiler = RunProfiler(cfg, device, folder) if cfg and start == 0 else None
        self.on_recording = on_recording
        self.exclusion: Callable[[str], AbstractContextManager[Any]] = lambda phase: (
            contextlib.nullcontext()
        )
        self.profile: dict[str, Any] | None = None
        self._resumed_late = cfg is not None and start > 0

    def window(self) -> tuple[int, int] | None:
        """[start, end) of the iterations the profiler slows, if it runs in this session."""
        return self.profiler.profiled_iterations(0) if self.profiler is not None else None

    def __enter__(self) -> ProfilerTracker:
        if self.profiler is not None:
            self.on_recording(True)
            self.profiler.start()
        return self

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        profiler = self.profiler
        if profiler is None:
            return
        if profiler.steps + 1 < profiler.cfg.iterations:
            profiler.step()
            return
        with self.exclusion("profiler"):  # the window's last step writes the trace
            profiler.step()
            self._stop()

    def excluded(self, phase: str) -> AbstractContextManager[Any]:
        if self.profiler is not None and self.profiler.running and phase != "profiler":
            return torch.profiler.record_function(f"ganbench.{phase}")
        return contextlib.nullcontext()

    def _stop(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            self.on_recording(False)
            self.profile = self.profiler.summary()
            self.profiler = None

    def __exit__(self, *exc: object) -> None:
        if self.profiler is not None:  # the loop ended inside the window
            with self.exclusion("profiler"):
                self._stop()

    def state_dict(self) -> dict[str, Any]:
        return {"profile": self.profile}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.profile = state.get("profile")
        if self._resumed_late and self.profile is None:
            self.profile = {"complete": False, "reason": "resumed after the profile window"}


UNKNOWN_SIZE = "Memory block of unknown size was allocated before the profiling started"


def absorb_unknown_size_warning() -> None:
    """torch warns, from C++ on stderr, when a memory profile sees a block freed that was
    allocated before it started (the first such free of a process, then every 1000th):
    every step frees the previous one's tensors, and the table's "MiB net" note says what
    that means. The first warning is drawn here, out of sight: a tiny profile frees a
    tensor made before it, with file descriptor 2 on a temporary file for those
    milliseconds; anything else written there meanwhile is passed on. (A window that
    frees 1000 such blocks shows it again.)"""
    with tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            block = torch.empty(256)
            with torch.profiler.profile(activities=[ProfilerActivity.CPU], profile_memory=True):
                del block
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        lines = caught.read().decode(errors="replace").splitlines(keepends=True)
    rest = "".join(line for line in lines if UNKNOWN_SIZE not in line)
    if rest:
        sys.stderr.write(rest)
