"""The gradient noise scale measured during training: on the step's own batch, in the
events and the summary, without changing what is trained, and carried over a resume."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import mixture_run
from tests.run.test_train import assert_same_parameters, crash_and_resume

CPU = torch.device("cpu")
# Batch norm in G, spectral norm in D, WGAN-GP's random weights: all a measurement could
# disturb if it left a trace.
TOUCHY = {
    "model": {
        "name": "mlp",
        "latent_dim": 4,
        "hidden": 16,
        "depth": 1,
        "g_norm": "batch",
        "d_spectral_norm": True,
    },
    "loss": {"name": "wgan-gp"},
}


def noise_events(store: RunStore) -> list[dict]:
    return [e for e in read_events(store.events) if e["event"] == "noise_scale"]


def test_measuring_leaves_training_bit_identical_and_records_both_players(tmp_path) -> None:
    plain, measured = RunStore(tmp_path / "plain"), RunStore(tmp_path / "measured")
    train_run(mixture_run(**TOUCHY), plain, CPU)
    summary = train_run(mixture_run(**TOUCHY, measure={"noise_scale": 5}), measured, CPU)
    assert_same_parameters(measured, plain)
    events = noise_events(measured)
    assert [e["iteration"] for e in events] == [5, 10, 15, 20]
    assert {(e["b_small"], e["b_big"], e["batch_size"]) for e in events} == {(16, 32, 32)}
    for e in events:
        for player in ("d", "g"):
            assert math.isfinite(e[player]["g2"]) and math.isfinite(e[player]["trace"])
            assert e[player]["trace_smoothed"] >= 0 or e[player]["b_simple"] is None
        assert e["noise_scale_time_s"] > 0
    figures = summary.noise_scale
    assert figures is not None and set(figures) == {"d", "g"}
    assert figures["d"]["measurements"] == figures["g"]["measurements"] == 4
    assert figures["d"]["b_simple"] == events[-1]["d"]["b_simple"]
    assert summary.noise_scale_s > 0  # time kept apart from training
    assert summary.noise_scale_s == sum(e["noise_scale_time_s"] for e in events)


def test_under_accumulation_the_chunks_are_the_micro_batches(tmp_path) -> None:
    run = mixture_run(levers={"grad_accumulation": 4}, measure={"noise_scale": {"every": 10}})
    store = RunStore(tmp_path / "acc")
    train_run(run, store, CPU)
    assert [(e["b_small"], e["b_big"]) for e in noise_events(store)] == [(8, 32), (8, 32)]


def test_the_estimates_survive_a_crash_and_resume_exactly(tmp_path) -> None:
    run = mixture_run(strategy={"name": "srfb", "lr_g": 1e-3}, measure={"noise_scale": 3})
    reference, store, resumed = crash_and_resume(run, tmp_path, at=13)
    keep = ("iteration", "b_small", "b_big", "d", "g")
    want = [{k: e[k] for k in keep} for e in noise_events(reference)]
    got = [{k: e[k] for k in keep} for e in noise_events(store)]
    assert got == want  # superseded events dropped; the smoothing carried on exactly
    assert resumed.noise_scale["g"]["measurements"] == 6


def test_off_by_default_and_the_shorthand_is_every_n(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "off")
    summary = train_run(mixture_run(), store, CPU)
    assert summary.noise_scale is None and noise_events(store) == []
    assert mixture_run(measure={"noise_scale": 7}).measure.noise_scale.every == 7
