"""User-facing errors: one clear message, no traceback, exit code 2."""

from __future__ import annotations


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
    text = str(err)
    if (
        isinstance(err, torch.OutOfMemoryError)
        or "out of memory" in text.lower()
        or ("can't allocate memory" in text)
    ):
        return "oom", text.splitlines()[0] if text else "out of memory"
    return "failed", f"{type(err).__name__}: {text}".splitlines()[0]
