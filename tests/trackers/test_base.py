"""The tracker stack: entered in order, left in reverse whatever happens, hooks only for
the trackers that have them, excluded windows and state for all."""

from __future__ import annotations

import contextlib

import pytest

from ganbench.trackers.base import Tracker, TrackerStack


class Recording(Tracker):
    def __init__(self, name: str, log: list[str], fail_on_enter: bool = False) -> None:
        self.name, self.log, self.fail_on_enter = name, log, fail_on_enter

    def __enter__(self) -> Recording:
        if self.fail_on_enter:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"enter {self.name}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append(f"exit {self.name}")

    @contextlib.contextmanager
    def excluded(self, phase: str):
        self.log.append(f"{self.name} out for {phase}")
        yield
        self.log.append(f"{self.name} back")

    def state_dict(self) -> dict:
        return {self.name: len(self.log)}

    def load_state_dict(self, state: dict) -> None:
        self.log.append(f"{self.name} loaded {state.get(self.name)}")


class Counting(Recording):
    def end_iteration(self, iteration: int, batch_size: int) -> None:
        self.log.append(f"{self.name} end {iteration} x{batch_size}")


def test_trackers_enter_in_order_and_leave_in_reverse() -> None:
    log: list[str] = []
    stack = TrackerStack([Recording("a", log), Counting("b", log)])
    with stack:
        stack.begin_iteration(0)  # nobody has this hook: nothing happens
        stack.end_iteration(1, 32)
        with stack.excluded("evaluation"):
            log.append("evaluating")
    assert log == [
        "enter a",
        "enter b",
        "b end 1 x32",
        "a out for evaluation",
        "b out for evaluation",
        "evaluating",
        "b back",
        "a back",
        "exit b",
        "exit a",
    ]


def test_a_tracker_that_fails_to_start_leaves_the_others_stopped() -> None:
    log: list[str] = []
    stack = TrackerStack([Recording("a", log), Recording("b", log, fail_on_enter=True)])
    with pytest.raises(RuntimeError, match="b cannot start"), stack:
        pass
    assert log == ["enter a", "exit a"]


def test_an_error_in_the_loop_stops_every_tracker() -> None:
    log: list[str] = []
    with pytest.raises(ValueError), TrackerStack([Recording("a", log), Recording("b", log)]):
        raise ValueError("a step failed")
    assert log[-2:] == ["exit b", "exit a"]


def test_state_merges_every_trackers_keys_and_goes_back_to_each() -> None:
    log: list[str] = []
    stack = TrackerStack([Recording("a", log), Recording("b", log)])
    log.append("x")
    state = stack.state_dict()
    assert state == {"a": 1, "b": 1}
    stack.load_state_dict(state)
    assert log[-2:] == ["a loaded 1", "b loaded 1"]
