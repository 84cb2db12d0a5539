"""Progress of one-off set-up work (training the fd_classifier classifier, computing
reference statistics): reported to whoever trains the run (the console's bar for it) and
stopped at the next step when a stop is asked for, instead of minutes later.

The run sets a ``SetupWatch`` around building its metrics; the set-up code calls
``setup_step(what, done, total)`` at every step, which raises ``SetupStopped`` once the
run's stop check names a reason."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

REPORT_EVERY_S = 0.5


class SetupStopped(Exception):
    """A stop asked for during set-up work (its reason: ``SIGINT`` ...)."""

    def __init__(self, reason: str, what: str) -> None:
        super().__init__(reason)
        self.reason, self.what = reason, what


@dataclass
class SetupWatch:
    report: Callable[[str, float, float], None]  # (what, fraction done, seconds so far)
    should_stop: Callable[[], str | bool | None]
    started: dict[str, float] = field(default_factory=dict)
    last_report: float = 0.0


_WATCH: ContextVar[SetupWatch | None] = ContextVar("setup_watch", default=None)


@contextlib.contextmanager
def watching(watch: SetupWatch) -> Iterator[None]:
    token = _WATCH.set(watch)
    try:
        yield
    finally:
        _WATCH.reset(token)


def setup_step(what: str, done: int, total: int) -> None:
    """One step of set-up work ``what``: reported now and then, and a stop honoured."""
    watch = _WATCH.get()
    if watch is None:
        return
    asked = watch.should_stop()
    if asked:
        raise SetupStopped(asked if isinstance(asked, str) else "a stop request", what)
    now = time.monotonic()
    first = what not in watch.started  # a new pass is said at once, then every so often
    started = watch.started.setdefault(what, now)
    if first or now - watch.last_report >= REPORT_EVERY_S or done >= total:
        watch.last_report = now
        watch.report(what, done / max(total, 1), now - started)
