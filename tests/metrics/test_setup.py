"""One-off set-up work (the fd_classifier classifier) reports its progress and stops at
its next step when a stop is asked for, not after minutes of training."""

from __future__ import annotations

import io
import time
from pathlib import Path

import torch
import yaml
from rich.console import Console

from ganbench.cli.render_train import RichObserver
from ganbench.config import load_suite
from ganbench.launchers.remote import setup_record
from ganbench.metrics.classifier import forget_classifiers
from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import needs_fmnist
from tests.metrics.test_metrics import fmnist_suite


@needs_fmnist
def test_a_stop_during_classifier_training_ends_the_run_within_a_second(tmp_path: Path) -> None:
    forget_classifiers()
    suite = fmnist_suite(tmp_path / "data", tmp_path / "out", ["fd_classifier"])
    suite["defaults"]["evaluation"]["metrics"] = [
        {"name": "fd_classifier", "num_samples": 64, "classifier": {"epochs": 50}}
    ]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    (run,) = load_suite(path).runs
    records: list[dict] = []
    asked: list[float] = []

    def should_stop() -> str | None:
        if any(r.get("event") == "setup" for r in records):
            asked.append(asked[0] if asked else time.monotonic())
            return "SIGINT"
        return None

    store = RunStore(tmp_path / "out" / run.id)
    summary = train_run(run, store, torch.device("cpu"), records.append, should_stop)
    stopped_in = time.monotonic() - asked[0]
    assert summary.status == "interrupted", summary.reason
    assert summary.reason.startswith(
        "stopped by SIGINT during set-up (training the fd_classifier classifier on fashion-mnist)"
    )
    assert stopped_in < 2.0, stopped_in
    setup = [r for r in records if r.get("event") == "setup"]
    assert setup[0]["setup_fraction"] == 0.0 and setup[0]["run_id"] == run.id
    assert not list((tmp_path / "data").rglob("classifiers/*.pt"))  # nothing half-trained kept
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
