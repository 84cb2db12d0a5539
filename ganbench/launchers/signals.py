"""Stop requests the process driving a suite turns into a clean stop of its runs.

Ctrl-C (SIGINT), SIGTERM (what Slurm, Kubernetes and ``timeout`` send on preemption or
time-out) and SIGUSR2 (what Slurm sends ahead of the kill when asked to, e.g. by
submitit) all do the same: the running iteration finishes, the run writes a checkpoint
and its summary (``interrupted``, naming the signal) and the suite stops. A Ctrl-C after
that raises ``KeyboardInterrupt`` at once; a repeated SIGTERM or SIGUSR2 changes nothing
(schedulers and torchrun's agent may each send one).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


class GracefulStop:
    """Catches the stop signals while the block runs; ``requested()`` names the first one
    received (``"SIGTERM"``) or is None."""

    caught: tuple[signal.Signals, ...] = STOP_SIGNALS

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._signal: signal.Signals | None = None
        self._previous: dict[int, Any] = {}
        self._notify = notify

    def requested(self) -> str | None:
        return self._signal.name if self._signal is not None else None

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal received (130 for Ctrl-C,
        143 for SIGTERM); 130 when none was."""
        return 128 + (self._signal or signal.SIGINT)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._signal is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return  # a repeated SIGTERM (the scheduler's, then torchrun's): already stopping
        self._signal = signal.Signals(signum)
        if self._notify:
            self._notify()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.caught:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


class InterruptOnStop(GracefulStop):
    """For commands that stop at once rather than after an iteration (``latency``):
    SIGTERM and SIGUSR2 raise ``KeyboardInterrupt("SIGTERM")`` and Ctrl-C a bare one, so
    one ``except KeyboardInterrupt`` handles them all; ``exit_code`` as above. SIGINT is
    caught too: a process started in the background inherits it ignored, and a
    ``kill -INT`` must still stop it (as it stops ``train-suite``)."""

    def _handle(self, signum: int, frame: Any) -> None:
        self._signal = signal.Signals(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise KeyboardInterrupt(self._signal.name)
