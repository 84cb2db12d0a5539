"""What the tests of launchers that train runs elsewhere (ray, slurm) share: a suite
busy enough to watch, the inline reference it must equal, and ways to step in."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import torch

from ganbench.config import load_suite
from ganbench.results import RunStore, read_events
from ganbench.run.plan import plan_suite
from tests.conftest import run_suite, tiny_suite


def busy_suite(iterations: int, seeds: int, checkpoint_every: int = 10) -> dict:
    suite = tiny_suite(
        budget={"iterations": iterations},
        checkpoint={"every_iterations": checkpoint_every, "every_seconds": None},
        model={"name": "mlp", "latent_dim": 8, "hidden": 128, "depth": 2},
        log_every=5,
    )
    suite["matrix"] = {"seed": list(range(seeds))}
    return suite


def inline_reference(path: Path, out: Path):
    """The same suite trained inline on one thread (as each ray run is)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = load_suite(path, [f"output_dir={out}"])
        return run_suite(reference, plan_suite(reference))
    finally:
        torch.set_num_threads(threads)


def same_parameters(a: RunStore, b: RunStore) -> bool:
    one, two = a.load_checkpoint(), b.load_checkpoint()
    return all(
        torch.equal(one[net][key], value) for net in ("G", "D") for key, value in two[net].items()
    )


def watch(store: RunStore, iteration: int, limit_s: float = 120) -> dict:
    """The start event once a checkpoint at ``iteration`` or later is written."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        events = read_events(store.events)
        if any(e["event"] == "checkpoint" and e["iteration"] >= iteration for e in events):
            return next(e for e in events if e["event"] in ("start", "resume"))
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at {iteration} within {limit_s} s")


class StopAfterFirstCheckpoint:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def requested(self) -> str | None:
        done = any(
            e["event"] == "checkpoint"
            for p in self.folder.glob("*/events.jsonl")
            for e in read_events(p)
        )
        return "SIGTERM" if done else None


class Recorder:
    """An observer keeping what a launcher reports."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.logged_records: list[dict] = []

    def run_started(self, plan, index, total) -> None:
        pass

    def logged(self, record) -> None:
        self.logged_records.append(record)

    def run_ended(self, plan, summary) -> None:
        pass

    def noted(self, text: str) -> None:
        self.notes.append(text)


def signal_a_running_run(launcher, loaded, iteration: int, *signums: int):
    """Train the one-run suite ``loaded`` with ``launcher`` and send ``signums`` (in
    turn) to the process training it once it has a checkpoint at ``iteration``;
    (summary, the run's store, its start event)."""
    store = RunStore(loaded.output_dir / loaded.runs[0].id)
    result: list = []
    driver = threading.Thread(
        target=lambda: result.extend(launcher.run_suite(loaded, plan_suite(loaded)))
    )
    driver.start()
    started = watch(store, iteration)
    for signum in signums:
        os.kill(started["environment"]["pid"], signum)
        time.sleep(0.05)
    driver.join(timeout=300)
    (summary,) = result
    return summary, store, started


def spans(folder: Path) -> list[tuple[float, float]]:
    out = []
    for run in sorted(folder.glob("*/events.jsonl")):
        events = read_events(run)
        out.append((events[0]["time"], events[-1]["time"]))
    return out
