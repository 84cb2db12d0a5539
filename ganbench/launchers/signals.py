"""Stop requests the process driving a suite turns into a clean stop of its runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class GracefulStop:
    """First SIGINT asks the running loop to stop after the current iteration (with a
    checkpoint); a second raises ``KeyboardInterrupt`` at once."""

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._flag = False
        self._previous: Any = None
        self._notify = notify

    def requested(self) -> bool:
        return self._flag

    def _handle(self, signum: int, frame: Any) -> None:
        if self._flag:
            raise KeyboardInterrupt
        self._flag = True
        if self._notify:
            self._notify()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
