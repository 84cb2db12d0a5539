"""Is a 5 % slowdown found in a history recorded from real CPU runs, and after how many
points? A tiny GAN (benchmarks/history_model.py, 16x16 synthetic images) is trained once
per simulated commit; from commit K on its code is slower (``HISTORY_MODEL_EXTRA`` extra
convolutions in G: a code change, not a config change, so every point falls in the same
series). Each commit's suite folder gets a made-up repository (commit id, increasing
commit time) in suite.json and is recorded in a fresh SQLite history; after each point,
``find_changes`` runs on the series of steady-state images/s (the mean over seeds).

    .venv/bin/python benchmarks/history_changepoint.py                  # 20 + 15 points
    .venv/bin/python benchmarks/history_changepoint.py --before 10 --after 8 --seeds 2
    .venv/bin/python benchmarks/history_changepoint.py --subprocess     # train-suite per commit
    .venv/bin/python benchmarks/history_changepoint.py --before 0 --after 0 --pairs 30

First the slowdown is calibrated twice: the training step alone, base and variant
networks side by side timed in ``--blocks`` alternating blocks of 10 steps (precise:
neighbouring blocks share the machine's speed); then ``--pairs`` interleaved single-seed
ganbench runs (ABBA order, not recorded), the geometric mean of their variant/base
ratios of images/s with a 95 % interval (what the history sees, and as noisy).

Then the series: each point's commit, base or variant code, mean images/s, the seeds'
values and the other processes' share of the CPU while it ran; the first point after
which a change is found at commit K; the change points found in the series' prefixes
elsewhere (false alarms: before K, or at another index after it); the per-point noise
(coefficient of variation of the base points) and the final change list.

By default every run trains in this process (``train-suite --in-process``'s way: no
start-up per run, so more iterations per point in the same time); ``--subprocess`` runs
``ganbench train-suite`` per commit, each run in a process of its own. Torch uses
``--threads`` threads (1: on a shared 2-core machine two threads wait for each other far
more than they gain).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
EXTRA = "HISTORY_MODEL_EXTRA"  # read by history_model.py when it builds G
SUITE = "history-changepoint"
FIGURE = "images_per_s"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def suite_yaml(iterations: int, warmup: int) -> dict[str, Any]:
    """The suite: one configuration, the seeds on the command line."""
    return {
        "name": SUITE,
        "defaults": {
            "dataset": {"name": "synthetic", "num_samples": 1024, "image_size": 16, "channels": 1},
            "model": {
                "name": "python",
                "path": str(HERE),  # the same for every point: one configuration id
                "latent_shape": [64],
                "generator": {"_target_": "history_model.Generator", "latent": 64, "width": 16},
                "discriminator": {"_target_": "history_model.Discriminator", "width": 16},
            },
            "loss": "hinge",
            "batch": {"size": 32},
            "budget": {"iterations": iterations},
            "evaluation": {"metrics": [], "num_samples": 16},
            "checkpoint": {"every_iterations": None, "every_seconds": None},
            "measure": {
                "warmup_iterations": warmup,
                "flops": False,
                "gpu_sample_hz": 0,
                "speed_probe_every_s": None,
            },
            "device": "cpu",
        },
        "runs": [{"name": "tiny"}],
    }


def train(suite: Path, folder: Path, seeds: int, extra: int, args: argparse.Namespace) -> None:
    """One commit's suite run into ``folder``, the model code with ``extra`` layers."""
    os.environ[EXTRA] = str(extra)
    seed_list = list(range(seeds))
    if args.subprocess:
        command = [sys.executable, "-m", "ganbench", "train-suite", str(suite), "--fresh"]
        command += ["--set", f"output_dir={folder}", "--seeds", ",".join(map(str, seed_list))]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"train-suite failed ({done.returncode}):\n{done.stdout[-2000:]}")
        return
    from ganbench.config import load_suite
    from ganbench.launchers.inline import InlineConfig, InlineLauncher
    from ganbench.results import RunStatus
    from ganbench.run.plan import plan_suite

    loaded = load_suite(suite, [f"output_dir={folder}"], seed_list)
    summaries = InlineLauncher(InlineConfig(in_process=True)).run_suite(
        loaded, plan_suite(loaded, fresh=True)
    )
    failed = [s.run_id for s in summaries if s.status != RunStatus.FINISHED]
    if failed:
        sys.exit(f"runs did not finish: {', '.join(failed)} (see {folder})")


def point_figures(folder: Path) -> tuple[list[float], float | None]:
    """The seeds' images/s (seed order) and the other processes' mean CPU share (%)."""
    values, others = [], []
    summaries = [json.loads(path.read_text()) for path in folder.glob("*/summary.json")]
    for summary in sorted(summaries, key=lambda s: s["seed"]):
        values.append(summary[FIGURE])
        load = (summary.get("environment") or {}).get("host_load") or {}
        if isinstance(load.get("others_cpu_pct"), int | float):
            others.append(load["others_cpu_pct"])
    return values, statistics.mean(others) if others else None


def made_up_commit(i: int) -> str:
    """Commit ``i``'s made-up id: 12 hex digits, distinct in its first 8 (as shown)."""
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()[:12]


def stamp(folder: Path, i: int) -> str:
    """Give the folder's suite.json a made-up commit ``i`` (a day apart); its id."""
    from ganbench.results import read_suite_meta, write_suite_meta

    commit = made_up_commit(i)
    meta = read_suite_meta(folder)
    repository = {
        "commit": commit,
        "branch": "main",
        "dirty": False,
        "commit_time": (START + timedelta(days=i)).isoformat(),
    }
    write_suite_meta(
        folder, meta["name"], Path(meta["source"]), meta.get("baseline"), [], repository
    )
    return commit


def geomean(values: list[float]) -> float:
    return math.exp(statistics.mean(math.log(v) for v in values))


def step_ratio(extra: int, blocks: int) -> None:
    """The variant's cost in the training step alone, finely interleaved: one D and one G
    hinge step with Adam on base and variant networks built side by side, in blocks of 10
    steps, alternately (ABBA): the median of the blocks' time ratios. The machine's speed
    drifts over seconds and minutes; neighbouring blocks share it."""
    import torch

    sys.path.insert(0, str(HERE))
    import history_model

    def build(layers: int) -> tuple[Any, ...]:
        os.environ[EXTRA] = str(layers)
        torch.manual_seed(0)
        G, D = history_model.Generator(64, 16), history_model.Discriminator(16)
        return G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())

    real = torch.rand(32, 1, 16, 16) * 2 - 1

    def steps(G: Any, D: Any, opt_g: Any, opt_d: Any) -> float:
        started = time.perf_counter()
        for _ in range(10):
            fake = G(torch.randn(32, 64)).detach()
            loss = torch.relu(1 - D(real)).mean() + torch.relu(1 + D(fake)).mean()
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            loss = -D(G(torch.randn(32, 64))).mean()
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
        return time.perf_counter() - started

    nets = {0: build(0), extra: build(extra)}
    logs = []
    for k in range(blocks):
        seconds = {e: steps(*nets[e]) for e in ((0, extra) if k % 2 == 0 else (extra, 0))}
        logs.append(math.log(seconds[0] / seconds[extra]))
    print(
        f"training step alone ({blocks} interleaved blocks of 10 steps): variant/base "
        f"speed {math.exp(statistics.median(logs)):.3f} (median), "
        f"{math.exp(statistics.mean(logs)):.3f} (geometric mean)"
    )


def calibrate(suite: Path, root: Path, args: argparse.Namespace) -> None:
    """Interleaved single-seed base and variant runs (ABBA): the ratio of their images/s,
    pair by pair, so the machine's load drifts out of it."""
    from scipy import stats

    logs = []
    print(
        f"calibration: {args.pairs} interleaved pairs of runs, base vs {args.extra} extra layer(s)"
    )
    print("pair  base img/s  variant img/s  variant/base")
    for k in range(args.pairs):
        speed = {}
        for extra in (0, args.extra) if k % 2 == 0 else (args.extra, 0):
            folder = root / f"calibration{k}-{extra}"
            train(suite, folder, 1, extra, args)
            speed[extra] = point_figures(folder)[0][0]
        logs.append(math.log(speed[args.extra] / speed[0]))
        print(f"{k:4d}  {speed[0]:10.0f}  {speed[args.extra]:13.0f}  {math.exp(logs[-1]):12.3f}")
    if len(logs) > 1:
        mean, sem = statistics.mean(logs), statistics.stdev(logs) / math.sqrt(len(logs))
        half = stats.t.ppf(0.975, len(logs) - 1) * sem
        print(
            f"variant/base images/s: {math.exp(mean):.3f} (geometric mean; 95 % interval "
            f"{math.exp(mean - half):.3f}-{math.exp(mean + half):.3f}), median "
            f"{math.exp(statistics.median(logs)):.3f}: a slowdown of "
            f"{(1 - math.exp(mean)) * 100:.1f} %"
        )
    print()


def record_series(suite: Path, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train, stamp and record commit after commit; ``find_changes`` after each point."""
    from ganbench.history.changes import find_changes
    from ganbench.history.db import open_database
    from ganbench.history.query import Selection, load_series
    from ganbench.history.record import folder_identities, folder_rows, record_folder

    k = args.before
    engine = open_database(args.db or str(root / "history.sqlite"))
    found: dict[str, Any] = {
        "rows": [],
        "changes": [],
        "config_ids": set(),
        "at": None,
        "near": None,
        "before_k": [],
        "elsewhere": [],
    }
    for i in range(args.before + args.after):
        folder = root / f"commit{i:04d}"
        extra = args.extra if i >= k else 0
        train(suite, folder, args.seeds, extra, args)
        commit = stamp(folder, i)
        record_folder(engine, folder)
        found["config_ids"] |= {c for c, _ in folder_identities(folder_rows(folder)[1]).values()}
        (series,) = load_series(engine, Selection(figure=FIGURE, suite=SUITE))  # one series
        changes = find_changes(series.means(), series.direction)
        for c in changes:
            if i < k:
                found["before_k"].append((i, c))
            elif c.index != k:
                found["elsewhere"].append((i, c))
        if i >= k and found["at"] is None and any(c.index == k for c in changes):
            found["at"] = i
        if i >= k and found["near"] is None and any(abs(c.index - k) <= 1 for c in changes):
            found["near"] = i
        values, others = point_figures(folder)
        found["rows"].append((i, commit, extra, geomean(values), values, others))
        found["changes"] = changes
        seen = ", ".join(f"{c.index} ({c.ratio:.3f})" for c in changes) or "-"
        print(
            f"point {i:3d}  {'variant' if extra else 'base':7s}  {geomean(values):6.0f} img/s  "
            f"others {others or 0:3.0f} % CPU  change points at: {seen}",
            flush=True,
        )
    return found


def report(found: dict[str, Any], args: argparse.Namespace) -> None:
    k, rows = args.before, found["rows"]
    print()
    print("point  commit        code     mean img/s  seeds' img/s        others' CPU %")
    for i, commit, extra, mean, values, others in rows:
        seeds = " ".join(f"{v:.0f}" for v in values)
        shown = f"{others:.0f}" if others is not None else "-"
        code = "variant" if extra else "base"
        print(f"{i:5d}  {commit}  {code:7s}  {mean:10.0f}  {seeds:18s}  {shown:>13s}")
    print()
    ids = sorted(found["config_ids"])
    print(
        f"configuration id: {', '.join(ids)} ({'the same' if len(ids) == 1 else 'DIFFERENT'}"
        " for base and variant)"
    )
    base, variant = [r[3] for r in rows[:k]], [r[3] for r in rows[k:]]
    if len(base) > 1:
        cv = statistics.stdev(base) / statistics.mean(base)
        print(f"noise: the base points' coefficient of variation {cv * 100:.1f} %", end="")
        if args.seeds > 1:
            within = [statistics.stdev(r[4]) / statistics.mean(r[4]) for r in rows]
            print(f"; the seeds' within a point {statistics.mean(within) * 100:.1f} % (mean)")
        else:
            print()
    if base and variant:
        print(f"variant/base mean images/s (geometric): {geomean(variant) / geomean(base):.3f}")
    others = [r[5] for r in rows if r[5] is not None]
    if others:
        print(
            f"other processes' CPU share while training: {min(others):.0f}-{max(others):.0f} %"
            f" of the machine (mean {statistics.mean(others):.0f} %)"
        )
    print("final change points (index, commit, ratio, 95 % interval, p, kind):")
    for c in found["changes"]:
        print(
            f"  {c.index}  {rows[c.index][1]}  {c.ratio:.3f}  {c.low:.3f}-{c.high:.3f}  "
            f"p {c.p_value:.2g}  {c.kind}"
        )
    if not found["changes"]:
        print("  none")
    if not args.after:
        pass
    elif found["at"] is None:
        near = found["near"]
        print(
            f"the change at commit {k} was not found at its index in {args.after} points"
            + (f" (one commit off after point {near})" if near is not None else "")
        )
    else:
        print(
            f"the change at commit {k} was first found after point {found['at']}: "
            f"{found['at'] - k + 1} point(s) of the slower code recorded"
        )
    for label, wrong in (
        (f"false change points before commit {k} (prefixes of base points only)", "before_k"),
        (f"change points at an index other than {k} after it", "elsewhere"),
    ):
        print(f"{label}: {len({c.index for _, c in found[wrong]}) or 'none'}")
        for index in sorted({c.index for _, c in found[wrong]}):
            seen = [(i, c) for i, c in found[wrong] if c.index == index]
            i, c = seen[0]
            print(
                f"  at {index}: first after point {i} (ratio {c.ratio:.3f}, p {c.p_value:.2g}),"
                f" in {len(seen)} prefix(es)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=int, default=20, help="base points (commits 0..K-1)")
    parser.add_argument("--after", type=int, default=15, help="variant points (commits K..)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per point")
    parser.add_argument("--iterations", type=int, default=100, help="per run")
    parser.add_argument("--warmup", type=int, default=5, help="measure.warmup_iterations")
    parser.add_argument("--extra", type=int, default=1, help="extra G layers of the variant")
    parser.add_argument("--pairs", type=int, default=16, help="calibration pairs (0: none)")
    parser.add_argument(
        "--blocks", type=int, default=60, help="calibration of the step alone (0: none)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--subprocess", action="store_true", help="ganbench train-suite per commit")
    parser.add_argument(
        "--db", help="keep the history here (a new SQLite file; default: a temporary one)"
    )
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    k = args.before
    with tempfile.TemporaryDirectory(prefix="ganbench-history-cp-") as tmp:
        root = Path(tmp)
        suite = root / "suite.yaml"
        suite.write_text(yaml.safe_dump(suite_yaml(args.iterations, args.warmup)))
        print(
            f"{args.seeds} seed(s) x {args.iterations} iterations per point, {args.threads} "
            f"torch thread(s), {'a process per run' if args.subprocess else 'in process'}; "
            f"{k} commits of base code, then {args.after} with {args.extra} extra layer(s)"
        )
        if args.blocks:
            step_ratio(args.extra, args.blocks)
        if args.pairs:
            calibrate(suite, root, args)
        if args.before + args.after:
            report(record_series(suite, root, args), args)
    print(f"wall time: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
