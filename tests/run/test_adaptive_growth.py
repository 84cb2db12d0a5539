"""Adaptive batch growth in a run: the batch grows when the noise scale or a quality
plateau says so, each growth event says why, and a resumed run decides as an unbroken
one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import mixture_run, tiny_suite
from tests.run.test_train import assert_same_parameters

CPU = torch.device("cpu")


def growth_events(store: RunStore) -> list[dict]:
    return [e for e in read_events(store.events) if e["event"] == "batch_size"]


def noise_growth_run(**extra):
    """Any measurable noise scale exceeds 0.001 x the batch: the batch doubles at each
    measurement that yields one (every 4 iterations), cooldown 1, at most 128."""
    growth = {"name": "noise_scale", "threshold": 0.001, "max_size": 128, "cooldown": 1}
    return mixture_run(
        batch={"size": 32, "growth": growth, "lr_scaling": "linear"},
        measure={"noise_scale": 4},
        budget={"iterations": 24},
        **extra,
    )


def test_noise_scale_growth_grows_the_batch_and_says_why(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    summary = train_run(noise_growth_run(), store, CPU)
    grown = growth_events(store)
    assert [(e["previous"], e["batch_size"]) for e in grown] == [(32, 64), (64, 128)]
    for e in grown:
        assert e["reason"].startswith("B_simple (max) ") and e["reason"].endswith(
            f"> 0.001 x batch {e['previous']}"
        )
        # linear lr scaling follows (the run multiplies in another order: double rounding)
        assert e["lr_d"] == pytest.approx(e["batch_size"] / 32 * 1e-3, rel=1e-12)
        assert e["iteration"] % 4 == 0  # decided at a measurement, applied right after it
    assert grown[1]["iteration"] - grown[0]["iteration"] >= 8  # the cooldown held one back
    assert summary.batch_size_final == 128
    sizes = [e["batch_size"] for e in read_events(store.events) if e["event"] == "iteration"]
    assert sizes == sorted(sizes) and sizes[-1] == 128


def test_growth_decisions_survive_a_crash_and_resume_bit_identically(tmp_path: Path) -> None:
    run = noise_growth_run(strategy={"name": "srfb", "lr_g": 1e-3, "lr_d": 1e-3})
    reference = RunStore(tmp_path / "reference")
    train_run(run, reference, CPU)
    store = RunStore(tmp_path / "crashed")
    first = growth_events(reference)[0]["iteration"]

    def crash(record: dict) -> None:
        if record["iteration"] == first + 3:  # after the first growth, before a checkpoint
            raise RuntimeError("simulated crash")

    assert train_run(run, store, CPU, on_log=crash).status == "failed"
    assert train_run(run, store, CPU).status == "finished"
    keep = ("iteration", "previous", "batch_size", "reason")
    assert [{k: e[k] for k in keep} for e in growth_events(store)] == [
        {k: e[k] for k in keep} for e in growth_events(reference)
    ]
    assert_same_parameters(store, reference)


# high_quality_fraction (higher is better) must improve by 99 %: early on it cannot.
PLATEAU_GROWTH = {
    "name": "plateau",
    "metric": "high_quality_fraction",
    "patience": 1,
    "min_improvement": 0.99,
    "max_size": 128,
}


def test_plateau_growth_on_a_quality_value(tmp_path: Path) -> None:
    """high_quality_fraction (higher is better) scored every 5 iterations must improve by
    99 % on its best: this early it cannot, so with patience 1 the second evaluation grows
    the batch, the third again (after a patience of one more evaluation), capped at 128."""
    run = mixture_run(
        batch={"size": 32, "growth": PLATEAU_GROWTH},
        evaluation={"every_iterations": 5, "metrics": [{"name": "mixture", "num_samples": 500}]},
        budget={"iterations": 25},
    )
    store = RunStore(tmp_path / "run")
    train_run(run, store, CPU)
    evals = [e for e in read_events(store.events) if e["event"] == "eval"]
    scored = [e["iteration"] for e in evals if e.get("high_quality_fraction") is not None]
    grown = growth_events(store)
    assert [(e["iteration"], e["batch_size"]) for e in grown] == [
        (scored[1], 64),
        (scored[2], 128),
    ]
    assert grown[0]["reason"].startswith("high_quality_fraction did not improve by 99% on its best")


def test_the_report_plots_the_noise_scale_beside_the_batch_size(write_suite) -> None:
    from ganbench.report.collect import load_suites
    from tests.cli.test_commands import invoke

    growth = {"name": "noise_scale", "threshold": 0.001, "max_size": 64}
    suite = tiny_suite(
        measure={"noise_scale": 2},
        evaluation={"metrics": []},
        budget={"iterations": 8},
    )
    suite["runs"] = [{"name": "fixed"}, {"name": "grow", "batch": {"size": 32, "growth": growth}}]
    suite["matrix"] = {"seed": [0, 1]}
    path = write_suite(suite)
    assert invoke("train-suite", str(path)).exit_code == 0
    folder = path.parent / "out"
    noise = load_suites([folder]).noise
    assert set(noise["player"]) == {"d", "g"} and set(noise["configuration"]) == {"fixed", "grow"}
    assert len(noise) == 2 * 2 * 2 * 4  # configurations x seeds x players x measurements
    assert set(noise[noise["configuration"] == "grow"]["batch_size"]) == {32, 64}
    result = invoke("report", str(folder))
    assert result.exit_code == 0, result.output
    markdown = (folder / "report.md").read_text()
    caption = "gradient noise scale and batch size against training time"
    assert f"![{caption}](report/noise_scale.png)" in markdown
    assert (folder / "report" / "noise_scale.png").stat().st_size > 10_000
