"""Wall time of a suite under the inline launcher (one run after another, every thread
each) against launchers that run its runs side by side (ray; slurm through submitit's
local executor: one process per run, as on a cluster), interleaved.

    .venv/bin/python benchmarks/launch_speedup.py                      # quick suite, CPU
    .venv/bin/python benchmarks/launch_speedup.py --iterations 100 --repeats 3
    .venv/bin/python benchmarks/launch_speedup.py --launchers inline,ray,slurm --seeds 0,1
    .venv/bin/python benchmarks/launch_speedup.py --device cuda --gpus-per-run 0.5

Prints each repeat's wall times and their ratio to inline (above 1: faster than
inline), the median ratio with its range, and the median images/s per run under each,
so the trade is visible: runs side by side finish the suite sooner while each run, on
fewer threads, is slower. A launcher's wall time includes its start-up (Ray's local
instance and workers; a Python process per Slurm task).
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
from ganbench.run.plan import plan_suite


def timed(launcher, suite) -> tuple[float, list[float]]:
    started = time.perf_counter()
    summaries = launcher.run_suite(suite, plan_suite(suite, placement=launcher))
    seconds = time.perf_counter() - started
    bad = [s.run_id for s in summaries if s.status != "finished"]
    if bad or not summaries:
        raise SystemExit(f"runs did not finish: {bad or 'none returned'}")
    return seconds, [s.images_per_s for s in summaries]


def make_launcher(name: str, args: argparse.Namespace):
    if name == "inline":
        return InlineLauncher(InlineConfig())
    if name == "ray":
        from ganbench.launchers.ray import RayConfig, RayLauncher

        cfg = RayConfig(cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
        return RayLauncher(cfg)
    from ganbench.launchers.slurm import SlurmConfig, SlurmLauncher

    gpus = None if args.gpus_per_run is None else int(args.gpus_per_run)
    cfg = SlurmConfig(
        cluster="local", cpus_per_run=max(1, int(args.cpus_per_run)), gpus_per_run=gpus
    )
    return SlurmLauncher(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--launchers", default="inline,ray")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--cpus-per-run", type=float, default=1)
    parser.add_argument("--gpus-per-run", type=float, default=None)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n.strip() for n in args.launchers.split(",")]
    if names[0] != "inline":
        names.insert(0, "inline")  # the reference every ratio is to
    threads = torch.get_num_threads()
    ratios = {n: [] for n in names[1:]}
    speeds = {n: [] for n in names}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            sets = [
                f"budget.iterations={args.iterations}",
                "budget.wall_seconds=null",
                f"device={args.device}",
            ]
            walls = {}
            for name in names:
                suite = load_suite(Path(args.suite), [*sets, f"output_dir={tmp}/{name}"], seeds)
                suite = choose_metrics(suite, [], None)  # training only
                torch.set_num_threads(threads)
                walls[name], per_run = timed(make_launcher(name, args), suite)
                speeds[name] += per_run
        shown = [f"inline {walls['inline']:.1f} s ({threads} threads per run)"]
        for name in names[1:]:
            ratios[name].append(walls["inline"] / walls[name])
            shown.append(f"{name} {walls[name]:.1f} s (inline/{name} {ratios[name][-1]:.2f})")
        print(f"repeat {repeat + 1}: " + ", ".join(shown))
    for name, values in ratios.items():
        print(
            f"inline/{name} wall time: median {statistics.median(values):.2f} "
            f"[{min(values):.2f}, {max(values):.2f}] over {args.repeats} repeats "
            f"({args.cpus_per_run:g} CPU per run)"
        )
    for name, values in speeds.items():
        print(f"images/s per run, {name}: median {statistics.median(values):.0f}")


if __name__ == "__main__":
    main()
