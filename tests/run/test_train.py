"""The training loop: results written, crashes resumed exactly, failures isolated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganbench.config import load_suite
from ganbench.errors import UserError, classify_failure
from ganbench.results import RunStore, read_events
from ganbench.run.plan import plan_suite
from ganbench.run.train import train_run
from tests.conftest import mixture_run, run_suite, tiny_suite

CPU = torch.device("cpu")


def checkpoint_params(store: RunStore) -> dict[str, torch.Tensor]:
    state = store.load_checkpoint()
    return {
        **{f"G.{k}": v for k, v in state["G"].items()},
        **{f"D.{k}": v for k, v in state["D"].items()},
    }


def assert_same_parameters(store: RunStore, reference: RunStore) -> None:
    """The checkpoints' G and D parameters are bit-identical."""
    got, want = checkpoint_params(store), checkpoint_params(reference)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def crash_and_resume(run, tmp_path: Path, at: int = 12):
    """``run`` trained unbroken into reference/, and into crashed/ with a crash logged at
    iteration ``at`` then a resume: (reference, crashed, the resumed run's summary)."""
    reference = RunStore(tmp_path / "reference")
    assert train_run(run, reference, CPU).status == "finished"
    store = RunStore(tmp_path / "crashed")

    def crash(record: dict) -> None:
        if record["iteration"] == at:
            raise RuntimeError("simulated crash")

    assert train_run(run, store, CPU, on_log=crash).status == "failed"
    summary = train_run(run, store, CPU)
    assert summary.status == "finished", summary.reason
    return reference, store, summary


def test_run_folder_holds_config_events_summary_samples_checkpoint(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    summary = train_run(mixture_run(evaluation={"every_iterations": 10}), store, CPU)
    assert summary.status == "finished"
    for path in (store.config, store.events, store.summary, store.samples, store.checkpoint):
        assert path.is_file(), path
    assert sorted(p.name for p in store.samples_dir.iterdir()) == [
        "iter00000010.png",
        "iter00000020.png",
    ]
    events = read_events(store.events)
    assert [e["iteration"] for e in events if e["event"] == "eval"] == [10, 20]  # not twice
    assert [e["iteration"] for e in events if e["event"] == "checkpoint"] == [5, 10, 15, 20]
    on_disk = json.loads(store.summary.read_text())
    assert on_disk["iterations"] == 20 and on_disk["images_seen"] == 20 * 32
    assert on_disk["iter_time_count"] == 15  # the first 5 are warm-up
    assert on_disk["iter_time_excluded_count"] == 5
    assert on_disk["iter_time_p50_s"] <= on_disk["iter_time_p90_s"]
    # Steady rates over the 15 iterations after warm-up; the overall ones over all 20.
    assert on_disk["iterations_per_s_overall"] == pytest.approx(20 / on_disk["train_s"])
    assert on_disk["steady_iterations"] == 15 and on_disk["steady_images"] == 15 * 32
    assert on_disk["steady_s"] < on_disk["train_s"]
    assert on_disk["iterations_per_s"] == pytest.approx(15 / on_disk["steady_s"])
    assert on_disk["images_per_s"] == pytest.approx(15 * 32 / on_disk["steady_s"])
    assert on_disk["peak_rss_bytes"] > 0 and on_disk["peak_cuda_alloc_bytes"] is None
    assert on_disk["train_s"] < on_disk["wall_s"]


def test_events_record_every_logged_iteration_with_units(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    train_run(mixture_run(log_every=4), store, CPU)
    iterations = [e for e in read_events(store.events) if e["event"] == "iteration"]
    assert [e["iteration"] for e in iterations] == [4, 8, 12, 16, 20]
    last = iterations[-1]
    for key in (
        "epoch",
        "images_seen",
        "batch_size",
        "wall_s",
        "train_s",
        "iter_time_s",
        "d_loss",
        "g_loss",
        "grad_evals",
        "full_batch_passes",
        "lr_g",
        "lr_d",
    ):
        assert key in last
    assert last["images_seen"] == 20 * 32 and last["grad_evals"] == 20


def test_crashed_run_resumes_from_its_checkpoint_to_the_same_state(tmp_path: Path) -> None:
    """A crash at iteration 12 (checkpoints every 5) resumes from 10 and ends bit-identical
    to an uninterrupted run: same parameters, counters and iteration events."""
    run = mixture_run(strategy={"name": "svre", "snapshot_prob": 0.3})
    reference = RunStore(tmp_path / "reference")
    train_run(run, reference, CPU)

    store = RunStore(tmp_path / "crashed")

    def crash(record: dict) -> None:
        if record["iteration"] == 12:
            raise RuntimeError("simulated crash")

    first = train_run(run, store, CPU, on_log=crash)
    assert first.status == "failed" and "simulated crash" in first.reason
    assert "simulated crash" in store.error.read_text()
    assert store.load_checkpoint()["train"]["iteration"] == 10

    second = train_run(run, store, CPU)
    assert second.status == "finished" and second.iterations == 20
    got, want = checkpoint_params(store), checkpoint_params(reference)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    assert (
        second.full_batch_passes == json.loads(reference.summary.read_text())["full_batch_passes"]
    )
    events = read_events(store.events)
    assert [e["iteration"] for e in events if e["event"] == "iteration"] == list(range(1, 21))
    assert [e["event"] for e in events].count("resume") == 1


def test_nan_loss_stops_the_run_as_diverged(tmp_path: Path) -> None:
    # Points at 3e38 (near float32's largest) overflow the discriminator's arithmetic.
    run = mixture_run(dataset={"name": "gaussian-mixture", "num_samples": 512, "radius": 3e38})
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, CPU)
    assert summary.status == "diverged"
    assert "became" in summary.reason
    assert read_events(store.events)[-1]["status"] == "diverged"
    assert json.loads(store.summary.read_text())["status"] == "diverged"


def test_out_of_memory_errors_are_classified_as_oom() -> None:
    assert classify_failure(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))[
        0
    ] == ("oom")
    assert classify_failure(RuntimeError("DefaultCPUAllocator: can't allocate memory"))[0] == "oom"
    assert classify_failure(ValueError("something else"))[0] == "failed"


def test_a_failing_run_is_recorded_and_the_suite_goes_on(
    tmp_path: Path, write_suite, monkeypatch
) -> None:
    from ganbench.data.images import ImageFolder

    # Corrupt images are refused at plan time; here one slips past the preflight.
    monkeypatch.setattr(ImageFolder, "check", classmethod(lambda cls, cfg: None))
    bad_images = tmp_path / "images"
    bad_images.mkdir()
    for i in range(4):
        (bad_images / f"broken{i}.png").write_bytes(b"not a png")
    suite = tiny_suite()
    suite["runs"] = [
        {
            "name": "broken",
            "batch": {"size": 2},
            "dataset": {"name": "image-folder", "root": str(bad_images), "image_size": 8},
        },
        {"name": "fine"},
    ]
    loaded = load_suite(write_suite(suite))
    summaries = run_suite(loaded, plan_suite(loaded))
    assert [s.status for s in summaries] == ["failed", "finished"]
    assert (loaded.output_dir / "broken-seed0" / "error.txt").is_file()
    csv = (loaded.output_dir / "runs.csv").read_text()
    assert "broken-seed0" in csv and "fine-seed0" in csv


def test_rerun_skips_finished_runs_and_resumes_unfinished(tmp_path: Path, write_suite) -> None:
    path = write_suite(tiny_suite())
    loaded = load_suite(path)
    run_suite(loaded, plan_suite(loaded))
    assert [p.action for p in plan_suite(loaded)] == ["skip"]
    longer = load_suite(path, ["budget.iterations=9"])
    plan = plan_suite(longer)
    assert [p.action for p in plan] == ["resume"]
    (summary,) = run_suite(longer, plan)
    assert summary.status == "finished" and summary.iterations == 9
    assert [p.action for p in plan_suite(longer, fresh=True)] == ["start"]


def test_an_unreadable_stored_config_asks_for_fresh(tmp_path: Path, write_suite) -> None:
    path = write_suite(tiny_suite())
    loaded = load_suite(path)
    run_suite(loaded, plan_suite(loaded))
    (loaded.output_dir / "tiny-seed0" / "config.yaml").write_text("seed: -1\nbogus: 1\n")
    with pytest.raises(UserError, match="cannot be read as a run of this ganbench version"):
        plan_suite(loaded)
    assert [p.action for p in plan_suite(loaded, fresh=True)] == ["start"]


def test_changed_training_config_is_refused_before_work(tmp_path: Path, write_suite) -> None:
    path = write_suite(tiny_suite())
    loaded = load_suite(path)
    run_suite(loaded, plan_suite(loaded))
    with pytest.raises(UserError, match=r"different configuration \(differs in: strategy.lr_g\)"):
        plan_suite(load_suite(path, ["strategy.lr_g=0.01"]))


def test_batch_growth_happens_at_the_stated_epoch(tmp_path: Path) -> None:
    """256 examples, batch 32: 8 iterations per epoch; 64 after epoch 2, 128 after epoch 3."""
    run = mixture_run(
        dataset={"name": "gaussian-mixture", "num_samples": 256},
        batch={"size": 32, "milestones": [{"epoch": 2, "size": 64}, {"epoch": 3, "size": 128}]},
        budget={"iterations": 1000, "epochs": 5},
    )
    store = RunStore(tmp_path / "run")
    summary = train_run(run, store, CPU)
    events = read_events(store.events)
    growth = [
        (e["iteration"], e["epoch"], e["batch_size"]) for e in events if e["event"] == "batch_size"
    ]
    assert growth == [(16, 2.0, 64), (20, 3.0, 128)]
    assert [e["reason"] for e in events if e["event"] == "batch_size"] == [
        "milestone: epoch 2",
        "milestone: epoch 3",
    ]
    sizes = [e["batch_size"] for e in events if e["event"] == "iteration"]
    assert sizes == [32] * 16 + [64] * 4 + [128] * 4
    # The growth step's training time lies between the iterations logged around it.
    logged = {e["iteration"]: e["train_s"] for e in events if e["event"] == "iteration"}
    grown = [e["train_s"] for e in events if e["event"] == "batch_size"]
    assert logged[16] <= grown[0] <= logged[17] and logged[20] <= grown[1] <= logged[21]
    assert summary.epochs == pytest.approx(5.0) and summary.iterations == 24
    assert len(summary.epoch_times_s) == 5


def test_growth_by_iteration_with_linear_lr_scaling(tmp_path: Path) -> None:
    run = mixture_run(
        batch={"size": 32, "milestones": [{"iteration": 3, "size": 64}], "lr_scaling": "linear"},
        budget={"iterations": 5},
    )
    store = RunStore(tmp_path / "run")
    train_run(run, store, CPU)
    records = {e["iteration"]: e for e in read_events(store.events) if e["event"] == "iteration"}
    assert records[3]["batch_size"] == 32 and records[4]["batch_size"] == 64
    assert records[3]["lr_d"] == pytest.approx(1e-3) and records[4]["lr_d"] == pytest.approx(2e-3)


def test_a_finished_run_frees_its_session_before_the_next_one(write_suite, monkeypatch) -> None:
    """Sessions hold reference cycles; without a collection between runs, a suite's runs
    would pile up models, data and optimiser state (on a GPU: CUDA memory)."""
    import gc
    import weakref

    import ganbench.run.train as train_module

    alive: list[weakref.ref] = []
    build = train_module.build_session

    def tracked(*args, **kwargs):
        session = build(*args, **kwargs)
        alive.append(weakref.ref(session))
        return session

    monkeypatch.setattr(train_module, "build_session", tracked)
    suite = tiny_suite(evaluation={"metrics": []})
    suite["runs"] = [{"name": "a"}, {"name": "b"}]
    loaded = load_suite(write_suite(suite), [], None, [])

    class Watch:
        def run_started(self, plan, index, total):
            assert [ref() for ref in alive] == [None] * len(alive)  # earlier runs are gone

        def logged(self, record):
            pass

        def run_ended(self, plan, summary):
            pass

    gc.disable()  # a long-lived session sits in the oldest generation, rarely collected
    try:
        summaries = run_suite(loaded, plan_suite(loaded), Watch())
    finally:
        gc.enable()
    assert [s.status for s in summaries] == ["finished", "finished"] and len(alive) == 2


def test_a_step_lr_schedule_multiplies_with_the_batch_scaling_rule(tmp_path: Path) -> None:
    """Rates x0.5 from iteration 2 and x0.25 from 4, where the batch also doubles with
    linear scaling (x2): the factors multiply; a step writes an ``lr`` event, growth its
    ``batch_size`` event with the new rates."""
    schedule = {
        "name": "step",
        "milestones": [{"iteration": 2, "factor": 0.5}, {"iteration": 4, "factor": 0.25}],
    }
    run = mixture_run(
        strategy={"lr_schedule": schedule},
        batch={"size": 32, "milestones": [{"iteration": 4, "size": 64}], "lr_scaling": "linear"},
        budget={"iterations": 6},
    )
    store = RunStore(tmp_path / "run")
    train_run(run, store, CPU)
    events = read_events(store.events)
    lr = [e["lr_d"] for e in events if e["event"] == "iteration"]
    assert lr == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 5e-4])
    assert [e["lr_g"] for e in events if e["event"] == "iteration"] == lr
    steps = [(e["iteration"], e["lr_factor"], e["lr_d"]) for e in events if e["event"] == "lr"]
    assert steps == [(2, 0.5, pytest.approx(5e-4))]
    (grown,) = [e for e in events if e["event"] == "batch_size"]
    assert grown["iteration"] == 4 and grown["lr_d"] == pytest.approx(5e-4)


def test_a_cosine_schedule_resumes_bit_identically(tmp_path: Path) -> None:
    """Cosine from 1e-3 to 1e-4 over 20 iterations; a crash at 12 resumes from the
    checkpoint at 10 with the rates it had, ending bit-identical to an unbroken run."""
    import math

    run = mixture_run(
        strategy={
            "name": "srfb",
            "lr_g": 1e-3,
            "lr_schedule": {"name": "cosine", "iterations": 20, "final": 0.1},
        }
    )
    reference, store, _ = crash_and_resume(run, tmp_path)
    assert_same_parameters(store, reference)
    rates = [e["lr_g"] for e in read_events(store.events) if e["event"] == "iteration"]
    assert rates == [e["lr_g"] for e in read_events(reference.events) if e["event"] == "iteration"]
    expected = [1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / 20))) for i in range(20)]
    assert rates == pytest.approx(expected, rel=1e-12)
