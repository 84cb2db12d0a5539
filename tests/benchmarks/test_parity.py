"""benchmarks/parity.py's hand-written loop does ganbench's arithmetic: one step of each
on the same batch and noise leaves the same parameters (and the same noise-scale norms)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from ganbench.levers import applied_levers
from ganbench.run.session import build_session

ROOT = Path(__file__).resolve().parents[2]


def _parity():
    spec = importlib.util.spec_from_file_location("parity", ROOT / "benchmarks" / "parity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["parity"] = module
    spec.loader.exec_module(module)
    return module


parity = _parity()
ARGS = argparse.Namespace(width=0.125, batch=8, device="cpu", log_every=1)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def _steps(row_name: str, steps: int = 2):
    """(ganbench's session, the hand loop, the hand's recorded norms) after ``steps``
    steps of each, the hand's on ganbench's batches and noise (SRFB's shadow only moves
    the point from the second step on)."""
    run = parity.run_config(parity.ROWS[row_name], ARGS)
    device = torch.device("cpu")
    every = run.measure.noise_scale.every if run.measure.noise_scale else 1
    with applied_levers(run.levers, device, True) as levers:
        session = build_session(run, device, levers)
        hand = parity.hand_loop(run, session, levers)
        strategy, drawn, norms = session.strategy, [], []
        noise = strategy.noise
        strategy.noise = lambda n: drawn.append(noise(n)) or drawn[-1]
        hand.noise = lambda n: drawn.pop(0)
        hand.note_noise = lambda small, big, b, B: norms.append((small, big, b, B))
        for step in range(steps):
            last = step == steps - 1
            if last and run.measure.noise_scale:
                strategy.oracle.arm_norms(run.batch.size)
            hand.iteration = every - 1 if last else 0  # the hand measures the last step
            drawn.clear()
            strategy.step()
            hand.sample = lambda: (strategy.last_sample[0], drawn.pop(0))
            hand.step()
    return session, hand, norms


@pytest.mark.parametrize("row", ["srfb", "alternating", "accumulate-4"])
def test_one_step_leaves_the_same_networks(row):
    session, hand, _ = _steps(row)
    _same(session.G, hand.G)
    _same(session.D, hand.D)


def test_noise_scale_norms_match():
    session, hand, norms = _steps("noise-scale")
    ((small, big, b, B),) = norms
    theirs = session.strategy.oracle.take_norms()
    for i, player in enumerate(("g", "d")):
        torch.testing.assert_close(small[i].item(), theirs[player][0], rtol=1e-4, atol=0)
        torch.testing.assert_close(big[i].item(), theirs[player][1], rtol=1e-4, atol=0)
        assert (b, B) == theirs[player][2:]
    _same(session.G, hand.G)
