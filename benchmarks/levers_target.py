"""The issue-7 target in one process: training images/s of the thesis SAGAN at batch 256
with the combined levers against fp32 (target: at least 2x on a GPU).

    .venv/bin/python benchmarks/levers_target.py                  # combined vs fp32
    .venv/bin/python benchmarks/levers_target.py --runs fp32,amp-bf16,compile,combined
    .venv/bin/python benchmarks/levers_target.py --set batch.size=64 --steps 20

Runs come from suites/speedups.yaml (seed 0; --set overrides any field). Each run is
measured in turn, in this process, with its levers applied as in training: --warmup
untimed steps (compilation, cuDNN autotuning, first allocations), then --rounds rounds of
--steps strategy steps, each round timed on its own (the device synchronised at both
ends). Prints images/s per run (median round and range), each run's ratio to the first
with the range of round ratios, what each run skipped, and whether the target was met.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ganbench.config import load_suite
from ganbench.data import DATASETS
from ganbench.levers import applied_levers
from ganbench.run.session import build_session, resolve_device

SUITE = Path("speedups")
TARGET = 2.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(run, args) -> tuple[list[float], dict[str, str]]:
    """Images/s of each timed round, and the levers the device skipped."""
    device = resolve_device(run.device)
    image_data = len(DATASETS.get(run.dataset.name).sample_shape(run.dataset)) == 3
    with applied_levers(run.levers, device, image_data) as levers:
        session = build_session(run, device, levers)
        step = session.strategy.step
        for _ in range(args.warmup):
            step()
        rates = []
        for _ in range(args.rounds):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            _sync(device)
            rates.append(args.steps * run.batch.size / (time.perf_counter() - t0))
        return rates, dict(levers.skipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="fp32,combined", help="names in speedups.yaml")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    suite = load_suite(SUITE, args.sets, [0], names)
    runs = sorted(suite.runs, key=lambda r: names.index(r.name))
    results = {}
    for run in runs:
        rates, skipped = measure(run, args)
        results[run.name] = rates
        print(
            f"{run.name:<16} {statistics.median(rates):9.1f} images/s "
            f"(rounds {min(rates):.1f}-{max(rates):.1f})"
            + (f"  skipped: {skipped}" if skipped else "")
        )
    first = runs[0]
    base = statistics.median(results[first.name])
    device = resolve_device(first.device)
    print(f"device {device}, batch {first.batch.size}, torch {torch.__version__}")
    for run in runs[1:]:
        ratios = [r / b for r, b in zip(results[run.name], results[first.name], strict=True)]
        ratio = statistics.median(results[run.name]) / base
        verdict = "met" if ratio >= TARGET else "not met"
        print(
            f"{run.name} / {first.name}: {ratio:.2f}x "
            f"(rounds {min(ratios):.2f}-{max(ratios):.2f}); target {TARGET:g}x {verdict}"
        )


if __name__ == "__main__":
    main()
