"""User-facing errors: one clear message, no traceback, exit code 2."""

from __future__ import annotations

import errno
from typing import Any


class UserError(Exception):
    """A problem with the user's input (suite file, option, missing data or weights).

    The CLI prints the message alone and exits with code 2, before any work starts.
    """

    exit_code = 2


class Diverged(Exception):
    """A loss became NaN or infinite: the run stops and is recorded as ``diverged``."""


def classify_failure(err: Exception) -> tuple[str, str]:
    """(status, one-line reason) for an exception inside a run: ``diverged``, ``oom`` (CUDA
    or host allocation failures) or ``failed``."""
    import torch

    if isinstance(err, Diverged):
        return "diverged", str(err)
    full = storage_error(err)
    if full is not None:
        where = f" writing {full.filename}" if full.filename else ""
        return "failed", f"{STORAGE_REASON}: {full.strerror}{where}"
    text = str(err)
    if (
        isinstance(err, torch.OutOfMemoryError)
        or "out of memory" in text.lower()
        or ("can't allocate memory" in text)
    ):
        return "oom", text.splitlines()[0] if text else "out of memory"
    return "failed", f"{type(err).__name__}: {text}".splitlines()[0]


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
STORAGE_REASON = "cannot write results"  # how a run's reason starts when storage failed


def stopped_by_storage(reason: str | None) -> bool:
    """Whether a run's reason says its results could not be written (disk full, over
    quota, read-only file system): the suite stops after such a run."""
    return (reason or "").startswith(STORAGE_REASON)


def storage_error(err: BaseException | None) -> OSError | None:
    """The disk-full (or quota, or read-only file system) error behind ``err``, if any."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
            return err
        err = err.__cause__ or err.__context__
    return None


class StorageFull(Exception):
    """A run could not write its results (disk full, quota, read-only): the run is recorded
    as failed as far as the disk allows, and the suite stops (the next run would fail the
    same way). ``summary`` is the run's summary, written or not."""

    def __init__(self, summary: object, reason: str) -> None:
        super().__init__(reason)
        self.summary = summary


def first_problem(err: Any) -> tuple[str, str]:
    """A pydantic ``ValidationError``'s first problem: its dotted location and message."""
    problem = err.errors()[0]
    return ".".join(str(part) for part in problem["loc"]), problem["msg"]
