"""How long a quality metric takes per evaluation: generation, features, statistics.

    .venv/bin/python benchmarks/metric_time.py                       # fd_classifier, 10k, CPU
    .venv/bin/python benchmarks/metric_time.py --metric fid --device cuda   # needs the weights

The generator is the quick suite's (or --suite/--run), freshly initialised: the time does
not depend on trained weights. The metric runs with its default settings (e.g. KID over
100 subsets of 1000). Prints the one-off set-up (classifier training, reference
statistics: cached after the first call) and the median of --repeats evaluations.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ganbench.config import choose_run, load_suite
from ganbench.metrics import METRICS
from ganbench.metrics.evaluate import Evaluator
from ganbench.run.session import build_session, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--run", default="alternating")
    parser.add_argument("--metric", default="fd_classifier")
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference-samples", type=int, default=None, help="reference images (default: all)"
    )
    args = parser.parse_args()

    suite = load_suite(Path(args.suite))
    run = choose_run(suite, args.run)
    device = resolve_device(args.device)
    session = build_session(run, device)
    settings: dict = {"num_samples": args.num_samples}
    if args.reference_samples is not None:
        settings["reference"] = {"num_samples": args.reference_samples}
    config = METRICS.get(args.metric).Config.model_validate(settings)  # otherwise its defaults
    METRICS.get(config.name).check(config, run.dataset)
    t0 = time.perf_counter()
    evaluator = Evaluator([config], run.dataset, run.model.latent_dim, 0, device)
    setup_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = evaluator.evaluate(session.G)
        times.setdefault("total", []).append(time.perf_counter() - t0)
        for part, seconds in result.seconds.items():
            times.setdefault(part, []).append(seconds)
    print(f"{config.name} on {args.num_samples} samples, {run.id}'s generator, {device}")
    print(f"torch threads {torch.get_num_threads()}, set-up {setup_s:.2f} s: {evaluator.setup}")
    for part, values in times.items():
        print(f"  {part:<14} median {statistics.median(values):7.2f} s  (of {len(values)})")
    print(f"  values: {result.values}")


if __name__ == "__main__":
    main()
