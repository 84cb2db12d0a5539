"""What a tracker is, and the stack of them the training loop runs inside.

A tracker is a context manager entered when the loop starts and left when it ends (an
NVML thread starts and stops, a profiler window opens and closes), with optional hooks
the loop calls around every iteration and a window (``excluded``) for work that is not
training (evaluation, checkpoints). Trackers only observe: none changes what is trained,
and none knows what is trained. Their running totals survive a resume (``state_dict``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any


class Tracker:
    """The base: every hook does nothing. Subclasses override what they need; the stack
    calls only the iteration hooks a tracker overrides."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def begin_iteration(self, iteration: int) -> None:
        """Before training iteration ``iteration`` (0-based) runs."""

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        """After it (``iteration``: the count after it); the device may still be working."""

    def excluded(self, phase: str) -> AbstractContextManager[Any]:
        """A window of work that is not training (``evaluation``, ``checkpoint``)."""
        return contextlib.nullcontext()

    def state_dict(self) -> dict[str, Any]:
        """Running totals to checkpoint, under keys of the tracker's own."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Totals of earlier sessions (the whole checkpointed dict: take your keys)."""


class TrackerStack:
    """Trackers entered together around the loop (an ``ExitStack``, left in reverse order
    whatever happens), with their iteration hooks called in order."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = trackers
        self._begin = _overridden(trackers, "begin_iteration")
        self._end = _overridden(trackers, "end_iteration")
        self._scope: ExitStack | None = None

    def __enter__(self) -> TrackerStack:
        with ExitStack() as scope:
            for tracker in self.trackers:
                scope.enter_context(tracker)
            self._scope = scope.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.close()

    def begin_iteration(self, iteration: int) -> None:
        for hook in self._begin:
            hook(iteration)

    def end_iteration(self, iteration: int, batch_size: int) -> None:
        for hook in self._end:
            hook(iteration, batch_size)

    @contextlib.contextmanager
    def excluded(self, phase: str) -> Iterator[None]:
        with ExitStack() as scope:
            for tracker in self.trackers:
                scope.enter_context(tracker.excluded(phase))
            yield

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for tracker in self.trackers:
            state.update(tracker.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.load_state_dict(state)


def _overridden(trackers: list[Tracker], hook: str) -> list[Callable[..., None]]:
    """The bound ``hook`` of every tracker that overrides it (the others cost nothing)."""
    return [
        getattr(tracker, hook)
        for tracker in trackers
        if getattr(type(tracker), hook) is not getattr(Tracker, hook)
    ]
