"""How often do the report's verdict and the regression gate get it right? A suite of
three configurations, three seeds each, run interleaved: ``base``, ``copy`` (an exact
copy of base) and ``heavy`` (base with ~25 % more work per iteration: hidden layers
1.12x as wide), repeated; each repeat's ``copy`` and ``heavy`` are judged against its
``base`` on iterations/s, by the report (ratio table, paired by block, Holm) and by
``ganbench check`` (base saved as the baseline, copy or heavy renamed base and checked
against it at the default 5 % tolerance); and, from the same runs, by the rules before
issue 31 (report: the two means' intervals must not overlap; gate: the point estimate
beyond the tolerance and beyond the Welch half-width, which it printed as detectable).

    .venv/bin/python benchmarks/gate_power.py                  # 10 repeats, idle
    .venv/bin/python benchmarks/gate_power.py --hog            # a CPU hog for the second half
    .venv/bin/python benchmarks/gate_power.py --order grouped  # configuration by configuration

Prints how often each verdict came out, the measured work ratio, and the median
smallest detectable change of the gate before (Welch half-width) and after (80 % power).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from rich.console import Console
from scipy import stats

from ganbench.cli.render_train import RichObserver
from ganbench.config import load_suite
from ganbench.launchers.inline import InlineConfig, InlineLauncher
from ganbench.report.aggregate import aggregate
from ganbench.report.check import check, save_baseline
from ganbench.report.collect import load_suites
from ganbench.report.estimate import estimate
from ganbench.run.plan import plan_suite

HIDDEN = 384
FIGURE = "iterations_per_s"
TOLERANCE = 0.05


def suite_file(folder: Path, order: str, iterations: int, seeds: int = 3) -> Path:
    model = {"name": "mlp", "latent_dim": 16, "hidden": HIDDEN, "depth": 3}
    heavy = {**model, "hidden": round(HIDDEN * math.sqrt(1.25))}
    suite = {
        "name": "power",
        "output_dir": str(folder / "out"),
        "order": order,
        "baseline": "base",
        "defaults": {
            "dataset": {"name": "gaussian-mixture", "num_samples": 4096},
            "model": model,
            "budget": {"iterations": iterations},
            "batch": {"size": 128},
            "evaluation": {"metrics": []},
            "device": "cpu",
        },
        "runs": [
            {"name": "base"},
            {"name": "copy"},
            {"name": "heavy", "model": heavy},
        ],
        "matrix": {"seed": list(range(seeds))},
    }
    path = folder / "power.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def run_suite(path: Path, hog_after: float | None) -> Path:
    """Train the suite; with ``hog_after`` seconds, two busy processes start then."""
    loaded = load_suite(path)
    hogs: list[subprocess.Popen] = []

    def start_hog() -> None:
        code = "while True: pass"
        hogs.extend(subprocess.Popen([sys.executable, "-c", code]) for _ in range(2))

    timer = threading.Timer(hog_after, start_hog) if hog_after is not None else None
    if timer:
        timer.start()
    try:
        console = Console(file=io.StringIO(), width=120)
        with RichObserver(console) as observer:
            InlineLauncher(InlineConfig()).run_suite(loaded, plan_suite(loaded), observer)
    finally:
        if timer:
            timer.cancel()
        for hog in hogs:
            hog.kill()
    return Path(loaded.output_dir)


def as_base(folder: Path, name: str, into: Path) -> Path:
    """The runs of configuration ``name`` as a suite folder of their own, named base."""
    into.mkdir(parents=True)
    for run in folder.glob(f"{name}-*"):
        if not (run / "config.yaml").is_file():
            continue
        copy = into / run.name.replace(name, "base", 1)
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoint*"))
        config = yaml.safe_load((copy / "config.yaml").read_text())
        (copy / "config.yaml").write_text(yaml.safe_dump({**config, "name": "base"}))
        summary = json.loads((copy / "summary.json").read_text())
        (copy / "summary.json").write_text(json.dumps({**summary, "name": "base"}))
    shutil.copy(folder / "suite.json", into / "suite.json")
    return into


def judge(folder: Path, work: Path) -> dict[str, dict[str, object]]:
    """Every verdict of copy and heavy against base, now and before issue 31."""
    suite = load_suites([folder])
    table = aggregate(suite, baseline="base")
    baseline = work / "baseline.json"
    save_baseline(as_base(folder, "base", work / "b"), baseline)
    found = {}
    for name in ("copy", "heavy"):
        gate = check(baseline, as_base(folder, name, work / name))
        verdict = next(v for v in gate.verdicts if v.figure == "images_per_s")
        old, new = (
            [float(v) for v in suite.runs.loc[suite.runs["configuration"] == c, FIGURE]]
            for c in ("base", name)
        )
        found[name] = {
            "ratio": table.at[name, f"{FIGURE}.ratio"],
            "report": table.at[name, f"{FIGURE}.vs_baseline"],
            "gate": verdict.verdict,
            "detectable": verdict.detectable,
            **old_rules(old, new),
        }
    return found


def old_rules(old: list[float], new: list[float]) -> dict[str, object]:
    """The report's overlap rule and the gate's rule as they were before issue 31."""
    a, b = estimate(old), estimate(new)
    half_a = stats.t.ppf(0.975, a.n - 1) * a.std / math.sqrt(a.n)
    half_b = stats.t.ppf(0.975, b.n - 1) * b.std / math.sqrt(b.n)
    overlap = a.mean - half_a <= b.mean + half_b and b.mean - half_b <= a.mean + half_a
    report = "no clear difference" if overlap else ("better" if b.mean > a.mean else "worse")
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    noise = stats.t.ppf(0.975, df) * math.sqrt(va + vb) / a.mean
    change = b.mean / a.mean - 1
    if -change > TOLERANCE:
        gate = "regression" if -change > noise else ("blind" if noise > TOLERANCE else "ok")
    else:
        gate = "blind" if noise > TOLERANCE else "ok"
    return {"report before": report, "gate before": gate, "detectable before": noise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--order", default="interleaved")
    parser.add_argument("--hog", action="store_true", help="hog the CPU for each second half")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    hog_after = None
    if args.hog:  # an idle suite first, to know when half of one has passed
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            run_suite(suite_file(Path(tmp), args.order, args.iterations, args.seeds), None)
            hog_after = (time.perf_counter() - started) / 2
            print(f"an idle suite takes {2 * hog_after:.1f} s; the hog starts at {hog_after:.1f} s")
    results: list[dict[str, dict[str, object]]] = []
    try:
        for i in range(args.repeats):
            repeat(args, hog_after, results)
            print_repeat(i, args.repeats, results[-1])
    except KeyboardInterrupt:  # Ctrl-C: the figures of the repeats done so far
        print(f"stopped after {len(results)} repeats")
    if results:
        summarize(results, args)


def repeat(args: argparse.Namespace, hog_after: float | None, results: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = suite_file(Path(tmp), args.order, args.iterations, args.seeds)
        folder = run_suite(path, hog_after)
        results.append(judge(folder, Path(tmp) / "judge"))


def print_repeat(i: int, repeats: int, result: dict[str, dict[str, object]]) -> None:
    said = "; ".join(f"{n} {r['ratio']:.3f} {r['report']} / {r['gate']}" for n, r in result.items())
    print(f"repeat {i + 1}/{repeats}: {said}", flush=True)


def summarize(results: list[dict[str, dict[str, object]]], args: argparse.Namespace) -> None:
    hog = (
        "a CPU hog (2 spinning processes) for the second half of each suite" if args.hog else "idle"
    )
    print(f"\n{args.repeats} suites, order {args.order}, {hog}; iterations/s against base")
    for name in ("copy", "heavy"):
        rows = [r[name] for r in results]
        ratios = [float(r["ratio"]) for r in rows]
        print(f"{name}: ratio median {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip
        for key in ("report", "report before", "gate", "gate before"):
            counts = collections.Counter(str(r[key]) for r in rows)
            print(f"  {key:14s} " + ", ".join(f"{v} {n}" for v, n in counts.most_common()))
        for key in ("detectable", "detectable before"):
            values = [float(r[key]) for r in rows if r[key] is not None]
            print(f"  {key:18s} median {statistics.median(values):.1%}")


if __name__ == "__main__":
    main()
