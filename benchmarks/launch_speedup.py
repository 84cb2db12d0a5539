"""Wall time of a suite under the inline launcher (one run after another, every thread
each) against the ray launcher (runs side by side, one thread each), interleaved.

    .venv/bin/python benchmarks/launch_speedup.py                      # quick suite, CPU
    .venv/bin/python benchmarks/launch_speedup.py --iterations 100 --repeats 3
    .venv/bin/python benchmarks/launch_speedup.py --device cuda --gpus-per-run 0.5

Prints each repeat's wall times and their ratio (inline / ray: above 1, ray is faster),
the median ratio with its range, and the median images/s per run under each, so the
trade is visible: ray finishes the suite sooner while each run, on fewer threads, is
slower. Ray's wall time includes starting its local instance and workers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganbench.config import choose_metrics, load_suite
from ganbench.launchers.inline import InlineConfig, InlineLauncher
from ganbench.launchers.ray import RayConfig, RayLauncher
from ganbench.run.plan import plan_suite


def timed(launcher, suite) -> tuple[float, list[float]]:
    started = time.perf_counter()
    summaries = launcher.run_suite(suite, plan_suite(suite))
    seconds = time.perf_counter() - started
    bad = [s.run_id for s in summaries if s.status != "finished"]
    if bad:
        raise SystemExit(f"runs did not finish: {bad}")
    return seconds, [s.images_per_s for s in summaries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--cpus-per-run", type=float, default=1)
    parser.add_argument("--gpus-per-run", type=float, default=None)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    threads = torch.get_num_threads()
    ratios, speeds = [], {"inline": [], "ray": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            sets = [
                f"budget.iterations={args.iterations}",
                "budget.wall_seconds=null",
                f"device={args.device}",
            ]
            walls = {}
            for name in ("inline", "ray"):
                suite = load_suite(Path(args.suite), [*sets, f"output_dir={tmp}/{name}"], seeds)
                suite = choose_metrics(suite, [], None)  # training only
                if name == "inline":
                    torch.set_num_threads(threads)
                    launcher = InlineLauncher(InlineConfig())
                else:
                    cfg = RayConfig(cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
                    launcher = RayLauncher(cfg)
                walls[name], per_run = timed(launcher, suite)
                speeds[name] += per_run
        ratios.append(walls["inline"] / walls["ray"])
        print(
            f"repeat {repeat + 1}: inline {walls['inline']:.1f} s ({threads} threads per run), "
            f"ray {walls['ray']:.1f} s ({args.cpus_per_run:g} CPU per run): "
            f"inline/ray {ratios[-1]:.2f}"
        )
    print(
        f"inline/ray wall time: median {statistics.median(ratios):.2f} "
        f"[{min(ratios):.2f}, {max(ratios):.2f}] over {args.repeats} repeats"
    )
    for name, values in speeds.items():
        print(f"images/s per run, {name}: median {statistics.median(values):.0f}")


if __name__ == "__main__":
    main()
