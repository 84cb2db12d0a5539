"""The gradient noise scale measured during training: on the step's own batch, in the
events and the summary, without changing what is trained, and carried over a resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganbench.results import RunStore, read_events
from ganbench.run.noise_scale import chunk_gradients, training_untouched
from ganbench.run.session import build_session
from ganbench.run.train import train_run
from ganbench.trackers.noise_scale import two_batch_norms
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
        assert e["noise_scale_time_s"] > 0 and e["source"] == "extra pass"
    figures = summary.noise_scale
    assert figures is not None and set(figures) == {"d", "g"}
    assert figures["d"]["measurements"] == figures["g"]["measurements"] == 4
    assert figures["d"]["b_simple"] == events[-1]["d"]["b_simple"]
    assert summary.noise_scale_s > 0  # time kept apart from training
    assert summary.noise_scale_s == sum(e["noise_scale_time_s"] for e in events)
    assert summary.phases["noise_scale"]["time_s"] == summary.noise_scale_s  # where time goes


def test_under_accumulation_the_micro_batches_are_measured_in_the_step(tmp_path) -> None:
    """No extra pass: the step's own micro-batch gradients give the two sizes, and what is
    trained is what an unmeasured run trains."""
    run = mixture_run(levers={"grad_accumulation": 4}, measure={"noise_scale": {"every": 10}})
    store, plain = RunStore(tmp_path / "acc"), RunStore(tmp_path / "plain")
    summary = train_run(run, store, CPU)
    train_run(mixture_run(levers={"grad_accumulation": 4}), plain, CPU)
    assert_same_parameters(store, plain)
    events = noise_events(store)
    assert [(e["b_small"], e["b_big"], e["source"]) for e in events] == [(8, 32, "in-step")] * 2
    assert all(e["noise_scale_time_s"] == 0 for e in events) and summary.noise_scale_s == 0
    assert all(math.isfinite(e[p]["g2"]) for e in events for p in ("d", "g"))


@pytest.mark.parametrize("strategy", ["alternating", "extragradient"])
def test_in_step_norms_are_an_extra_pass_at_the_same_parameters(strategy: str) -> None:
    """The oracle's recorded norms (separate passes, or extragradient's joint one) equal
    those of the extra pass on the same batch at the same parameters."""
    run = mixture_run(**TOUCHY, strategy={"name": strategy}, levers={"grad_accumulation": 4})
    session = build_session(run, CPU)
    G, D, oracle = session.G, session.D, session.strategy.oracle
    real, z = session.strategy.sample()
    with training_untouched(session):
        oracle.arm_norms(real.shape[0])
        if strategy == "alternating":
            oracle.discriminator(G, D, real, z)
            oracle.generator(G, D, z)
        else:
            oracle.joint(G, D, real, z)
        recorded = oracle.take_norms()
    assert oracle.take_norms() is None  # disarmed
    with training_untouched(session):
        chunks = chunk_gradients(session, real, z, 8)
    for player in ("d", "g"):
        small, big = two_batch_norms(chunks[player])
        assert recorded[player] == pytest.approx((small, big, 8, 32), rel=1e-5)


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
