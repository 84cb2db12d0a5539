"""User-facing errors: one clear message, no traceback, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (suite file, option, missing data or weights).

    The CLI prints the message alone and exits with code 2, before any work starts.
    """

    exit_code = 2


class Diverged(Exception):
    """A loss became NaN or infinite: the run stops and is recorded as ``diverged``."""
