"""`ganbench selftest gpu`: one prepared, time-boxed pass over every CUDA path, whose
figures land in one folder with ``gpu_check.md`` (and ``gpu_check.json``).

Each step (``gpu_steps.STEPS``, in order) runs ganbench's own commands in child
processes, so a crash, a hang or an out-of-memory in one step costs that step only. A
step gets its own budget or what is left of the whole one, whichever is less; a child
still running at its deadline gets SIGTERM (ganbench then checkpoints and writes its
summary as ``interrupted``, so what it measured is kept; ``latency`` keeps its rows),
then SIGKILL. A step whose budget is gone is skipped with a note. The figures are read
from what the children wrote, also after a failure or a time-out.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import UserError

TERM_GRACE_S = 10.0  # after SIGTERM, time for a child to checkpoint and write its summary
MIN_STEP_S = 5.0  # less than this left: the step is skipped


@dataclass(frozen=True)
class CheckOptions:
    """Where to write, on which device, and how large: ``dry_run`` runs every step in
    its smallest form (seconds on a CPU), to check the kit itself."""

    output: Path
    device: str = "cuda"
    dry_run: bool = False
    budget_s: float = 480.0
    root: Path = Path(".")
    python: str = sys.executable


@dataclass(frozen=True)
class Figure:
    """One measured value, its unit, the target it is held to (None: reported only)
    and whether it met it."""

    name: str
    value: float | int | str | None
    unit: str = ""
    target: str | None = None
    met: bool | None = None


@dataclass
class StepResult:
    name: str
    title: str
    status: str = "skipped"  # ok, failed, timed out, skipped
    seconds: float = 0.0
    note: str | None = None
    commands: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    error: str | None = None


class StepFailed(Exception):
    """A step could not measure: ``str()`` says why (a child's exit and output tail)."""


class StepTimedOut(StepFailed):
    pass


class StepSkipped(Exception):
    """A step that cannot run here (no CUDA, no tests/ folder): ``str()`` says why."""


class StepContext:
    """What a step uses: the options, its own folder, a deadline, and ``call`` to run a
    child process (``python -m ganbench ...`` or pytest) that the deadline bounds."""

    def __init__(self, options: CheckOptions, result: StepResult, deadline: float) -> None:
        self.options, self.result, self.deadline = options, result, deadline
        self.folder = options.output / result.name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = options.output / "logs" / f"{result.name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)

    @property
    def cuda(self) -> bool:
        return self.options.device == "cuda"

    def ganbench(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.call([self.options.python, "-m", "ganbench", *args], check=check)

    def call(self, args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run ``args`` in the checkout, output appended to the step's log; StepTimedOut
        at the deadline, StepFailed on a non-zero exit when ``check``."""
        line = shlex.join(args)
        self.result.commands.append(line)
        left = self.deadline - time.monotonic()
        if left < 1:
            raise StepTimedOut(f"no time left for: {line}")
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ {line}\n")
            log.flush()
            child = subprocess.Popen(
                args,
                cwd=self.options.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
                start_new_session=True,
            )
            try:
                child.wait(timeout=left)
            except subprocess.TimeoutExpired:
                _stop(child)
                raise StepTimedOut(f"stopped after {left:.0f} s: {line}") from None
        done = subprocess.CompletedProcess(args, child.returncode)
        if check and child.returncode != 0:
            raise StepFailed(f"exit {child.returncode}: {line}\n{self.tail()}")
        return done

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _stop(child: subprocess.Popen) -> None:
    """SIGTERM to the child alone (ganbench stops at the end of the iteration and writes
    what it has; its helpers, such as Inductor's compile workers, keep running until it
    is done with them), then SIGKILL to its whole process group after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def run_step(step: Any, options: CheckOptions, ends_at: float) -> StepResult:
    """One step within ``min(step.budget_s, what is left)``; its figures even when it
    failed or ran out of time."""
    result = StepResult(step.name, step.title)
    left = ends_at - time.monotonic()
    if left < MIN_STEP_S:
        result.note = f"skipped: the check's budget ({options.budget_s:.0f} s) is spent"
        return result
    budget = left if options.dry_run else min(step.budget_s, left)
    # a child stopped at its deadline may take the grace period to finish writing
    context = StepContext(options, result, time.monotonic() + max(budget - TERM_GRACE_S, 1.0))
    started = time.monotonic()
    try:
        note = step.run(context)
        result.status, result.note = "ok", note
    except StepSkipped as err:
        result.status, result.note = "skipped", str(err)
    except StepTimedOut as err:
        result.status, result.error = "timed out", f"{err}\n{context.tail()}"
    except StepFailed as err:
        result.status, result.error = "failed", str(err)
    except Exception as err:  # noqa: BLE001  (one step's fault is that step's result)
        result.status, result.error = "failed", f"{type(err).__name__}: {err}"
    result.seconds = time.monotonic() - started
    try:
        result.figures = list(step.figures(context))
    except Exception as err:  # noqa: BLE001  (nothing to read: said, not raised)
        result.note = f"{result.note + '; ' if result.note else ''}figures unreadable: {err}"
    return result


def environment(options: CheckOptions) -> dict[str, Any]:
    """What the figures were measured on."""
    from ganbench.trackers.nvml import driver_version

    cuda = options.device == "cuda" and torch.cuda.is_available()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "device": options.device,
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "driver": driver_version() if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "python": platform.python_version(),
        "ganbench_commit": _commit(options.root),
        "dry_run": options.dry_run,
        "budget_s": options.budget_s,
    }


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


@dataclass
class CheckResult:
    environment: dict[str, Any]
    steps: list[StepResult]
    seconds: float

    @property
    def exit_code(self) -> int:
        """1 when a step failed or ran out of time (gpu_check.md says which), else 0."""
        return int(any(s.status in ("failed", "timed out") for s in self.steps))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible (torch.cuda.is_available())")


def run_check(options: CheckOptions, steps: Sequence[Any], progress: Any = print) -> CheckResult:
    """Every step in order within the budget; ``progress`` hears each step's start and end."""
    check_device(options.device)
    options.output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    ends_at = started + options.budget_s
    results = []
    for number, step in enumerate(steps, 1):
        progress(f"[{number}/{len(steps)}] {step.title}")
        result = run_step(step, options, ends_at)
        progress(f"      {result.status} in {result.seconds:.0f} s")
        results.append(result)
    return CheckResult(environment(options), results, time.monotonic() - started)
