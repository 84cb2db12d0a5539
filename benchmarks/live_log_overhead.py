"""What `train-suite --log tensorboard,mlflow,wandb` costs a run as train-suite runs it:
the run in a process of its own, the logging thread in train-suite's. One configuration
of a suite trained again and again, with and without the logging, in turns (ABBA, so a
drift of the machine cancels), each time fresh; the run's steady-state images/s compared.

    .venv/bin/python benchmarks/live_log_overhead.py                  # quick, alternating
    .venv/bin/python benchmarks/live_log_overhead.py --pairs 6 --iterations 300
    .venv/bin/python benchmarks/live_log_overhead.py --tools wandb

Prints each pair's images/s and ratio (with logging over without: below 1 is slower), and
the geometric mean of the ratios with the range. W&B runs offline; every tool writes into
a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def train(folder: Path, args: argparse.Namespace, log: str | None) -> float:
    """One fresh training of the configuration; its steady-state images/s."""
    command = [
        sys.executable, "-m", "ganbench", "train-suite", args.suite, "--only", args.run,
        "--seeds", "0", "--fresh", "--metrics", "none", "--set", f"output_dir={folder}",
        "--set", f"budget.iterations={args.iterations}", "--log", log or "none",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"train-suite failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    (summary,) = folder.glob("*/summary.json")
    return float(json.loads(summary.read_text())["images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--run", default="alternating")
    parser.add_argument("--tools", default="tensorboard,mlflow,wandb")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory(prefix="ganbench-live-log-") as work:
        root = Path(work)
        log = ",".join(f"{tool}={root / tool}" for tool in args.tools.split(","))
        for pair in range(args.pairs):
            order = (None, log) if pair % 2 == 0 else (log, None)
            speeds = {}
            for step, chosen in enumerate(order):
                speeds[chosen is not None] = train(root / f"p{pair}-{step}", args, chosen)
            ratio = speeds[True] / speeds[False]
            ratios.append(ratio)
            print(f"pair {pair + 1}: without {speeds[False]:.1f} img/s, with "
                  f"{speeds[True]:.1f} img/s, ratio {ratio:.4f}", flush=True)  # fmt: skip
    mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"with {args.tools} / without, geometric mean of {len(ratios)} pairs: {mean:.4f} "
          f"(range {min(ratios):.4f}-{max(ratios):.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
