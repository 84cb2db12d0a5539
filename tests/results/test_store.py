"""The results store: append-only events, resume supersession, torn lines, runs.csv."""

from __future__ import annotations

import json
from pathlib import Path

from ganbench.results import RunStore, RunSummary, read_events, write_runs_csv


def test_events_superseded_by_a_resume_are_dropped(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create()
    with store.open_events() as log:
        log.write("start")
        for i in range(1, 13):
            log.write("iteration", iteration=i, d_loss=float(i))
        log.write("end", status="failed", iteration=12)
        log.write("resume", iteration=10)
        for i in range(11, 14):
            log.write("iteration", iteration=i, d_loss=float("nan"))
    with open(store.events, "a") as f:
        f.write('{"event": "iteration", "iter')  # torn by a kill
    events = read_events(store.events)
    iterations = [e["iteration"] for e in events if e["event"] == "iteration"]
    assert iterations == list(range(1, 14))
    assert [e["event"] for e in events if e["event"] != "iteration"] == ["start", "resume"]
    assert events[-1]["d_loss"] is None  # NaN is not JSON: written as null
    for line in store.events.read_text().splitlines()[:-1]:
        json.loads(line)  # every complete line is standard JSON


def test_runs_csv_has_one_flat_row_per_summary(tmp_path: Path) -> None:
    for name, rate in (("a-seed0", 10.0), ("b-seed0", 20.0)):
        store = RunStore(tmp_path / name)
        store.create()
        summary = RunSummary(
            run_id=name,
            name=name.removesuffix("-seed0"),
            status="finished",
            iterations_per_s=rate,
            epoch_times_s=[1, 2],
            environment={"torch": "x"},
        )
        store.write_summary(summary)
    path = write_runs_csv(tmp_path)
    lines = path.read_text().splitlines()
    # Columns in the summary's order (the fields set), nested fields dotted, lists left out.
    assert lines[0] == "run_id,name,status,iterations_per_s,environment.torch"
    assert lines[1:] == ["a-seed0,a,finished,10.0,x", "b-seed0,b,finished,20.0,x"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_clear_removes_a_previous_attempt(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create()
    store.write_summary(RunSummary(run_id="run", name="run", status="finished"))
    store.samples_dir.mkdir()
    (store.samples_dir / "iter00000001.png").write_bytes(b"x")
    (store.folder / "notes.md").write_text("mine")
    store.clear()
    assert store.read_summary() is None and not list(store.samples_dir.iterdir())
    assert (store.folder / "notes.md").is_file()
