"""One-off set-up work (the fd_classifier classifier) reports its progress and stops at
its next step when a stop is asked for, not after minutes of training."""

from __future__ import annotations

import io
from pathlib import Path

import torch
import yaml
from rich.console import Console
from torch.optim.optimizer import register_optimizer_step_post_hook

from ganbench.cli.render_train import RichObserver
from ganbench.config import load_suite
from ganbench.launchers.remote import setup_record
from ganbench.metrics.classifier import forget_classifiers
from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import needs_fmnist
from tests.metrics.test_metrics import fmnist_suite


@needs_fmnist
def test_a_stop_during_classifier_training_ends_the_run_at_its_next_step(
    tmp_path: Path, fmnist_root: Path, own_home: Path
) -> None:
    """The stop is asked for after the classifier's third optimizer step; the step in
    flight may finish, the next one must not start. Counted in steps, not seconds: a busy
    machine slows every step, not the count."""
    forget_classifiers()
    suite = fmnist_suite(fmnist_root, tmp_path / "out", ["fd_classifier"])
    suite["defaults"]["evaluation"]["metrics"] = [
        {"name": "fd_classifier", "num_samples": 64, "classifier": {"epochs": 50}}
    ]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    (run,) = load_suite(path).runs
    records: list[dict] = []
    steps = [0]  # optimizer steps taken (the classifier's: nothing else trains before it)
    asked: list[int] = []  # the step count at each stop check that named a reason

    def count_step(optimizer, args, kwargs) -> None:
        steps[0] += 1

    def should_stop() -> str | None:
        if steps[0] >= 3:
            asked.append(steps[0])
            return "SIGINT"
        return None

    store = RunStore(tmp_path / "out" / run.id)
    hook = register_optimizer_step_post_hook(count_step)
    try:
        summary = train_run(run, store, torch.device("cpu"), records.append, should_stop)
    finally:
        hook.remove()
    assert summary.status == "interrupted", summary.reason
    assert summary.reason.startswith(
        "stopped by SIGINT during set-up (training the fd_classifier classifier on fashion-mnist)"
    )
    # 50 epochs are thousands of steps; a stop seen only once an epoch lets hundreds run.
    assert 3 <= steps[0] <= 4, steps  # at most the step in flight when asked
    assert asked == [3]  # the first check after the request ended the set-up
    assert summary.iterations == 0  # and no GAN training followed
    setup = [r for r in records if r.get("event") == "setup"]
    assert setup[0]["setup_fraction"] == 0.0 and setup[0]["run_id"] == run.id
    assert not list(own_home.rglob("*.pt"))  # nothing half-trained kept in the cache
    # In the run's events too, for drivers that follow them (ray, slurm): their console
    # shows the same progress as an inline run's.
    (event, *_) = [e for e in read_events(store.events) if e["event"] == "setup"]
    assert event["what"] == "training the fd_classifier classifier on fashion-mnist"
    shown = setup_record(run.id, "node1", event)
    assert shown["setup_fraction"] == 0.0 and shown["what"] == event["what"]
    observer = RichObserver(Console(file=io.StringIO(), width=120))
    observer.tasks[run.id] = observer.progress.add_task(run.id, total=100, stats="")
    observer.logged(shown)
    (task,) = observer.progress.tasks
    assert task.fields["stats"].startswith("node1  training the fd_classifier classifier")
