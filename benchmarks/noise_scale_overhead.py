"""What measuring the gradient noise scale costs: the quick suite's SRFB run (quarter-width
SAGAN on Fashion-MNIST, batch 64) trained with and without ``measure.noise_scale`` in
alternating rounds in one process, so a shared machine's load hits both sides.

    .venv/bin/python benchmarks/noise_scale_overhead.py                 # every 10, 60 it, 5 rounds
    .venv/bin/python benchmarks/noise_scale_overhead.py --every 50 --iterations 200
    .venv/bin/python benchmarks/noise_scale_overhead.py --accumulation 4   # measured in-step

Prints, per round, the untracked run's training time, the tracked run's training time
and its measurement time (kept out of training time), and the median ratio of the
tracked run's training + measurement time to the untracked run's training time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from ganbench.config import load_suite
from ganbench.results import RunStore
from ganbench.run.train import train_run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--accumulation", type=int, default=1, help="micro-batches per step (>1: in-step)"
    )
    args = parser.parse_args()
    overrides = [
        f"budget.iterations={args.iterations}",
        "budget.wall_seconds=null",
        "evaluation.metrics=[]",
        "evaluation.targets={}",
        "evaluation.every_iterations=null",
        "device=cpu",
        f"levers.grad_accumulation={args.accumulation}",
    ]
    (plain,) = load_suite(ROOT / "suites" / "quick.yaml", overrides, [0], ["srfb"]).runs
    tracked = type(plain).model_validate(
        {**plain.model_dump(mode="json"), "measure": {"noise_scale": args.every}}
    )
    ratios = []
    print(
        f"srfb, {args.iterations} iterations, noise scale every {args.every}, "
        f"accumulation {args.accumulation}, cpu"
    )
    print("round  untracked train_s  tracked train_s  measuring_s  ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            base = train_run(plain, RunStore(Path(tmp) / f"plain{i}"), torch.device("cpu"))
            with_ns = train_run(tracked, RunStore(Path(tmp) / f"ns{i}"), torch.device("cpu"))
            cost = with_ns.train_s + with_ns.noise_scale_s
            ratios.append(cost / base.train_s)
            print(
                f"{i:5d}  {base.train_s:17.2f}  {with_ns.train_s:15.2f}  "
                f"{with_ns.noise_scale_s:11.2f}  {ratios[-1]:5.3f}"
            )
            g = with_ns.noise_scale["g"]["b_simple"]
            d = with_ns.noise_scale["d"]["b_simple"]
            print(f"       B_simple at the end: D {d}, G {g}")
    print(
        f"median ratio (tracked training + measuring) / untracked training: "
        f"{statistics.median(ratios):.3f} over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
