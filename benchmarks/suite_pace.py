"""Does a long suite keep its pace? Time per run over a suite of many one-iteration runs,
first tenth against last tenth, with the console observer live as in `train-suite`.

    .venv/bin/python benchmarks/suite_pace.py               # 300 runs
    .venv/bin/python benchmarks/suite_pace.py --runs 1000

Per-run work that grows with the number of runs already done (rebuilding runs.csv from
every summary, redrawing every finished run's bar) shows as a ratio well above 1.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from ganbench.cli.render_train import RichObserver
from ganbench.config import load_suite
from ganbench.launchers.inline import InlineConfig, InlineLauncher
from ganbench.run.plan import plan_suite


class TimedObserver(RichObserver):
    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.seconds: list[float] = []
        self._started = 0.0

    def run_started(self, plan: Any, index: int, total: int) -> None:
        self._started = time.perf_counter()
        super().run_started(plan, index, total)

    def run_ended(self, plan: Any, summary: Any) -> None:
        super().run_ended(plan, summary)
        self.seconds.append(time.perf_counter() - self._started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = {
            "name": "pace",
            "output_dir": str(Path(tmp) / "out"),
            "defaults": {
                "dataset": {"name": "gaussian-mixture", "num_samples": 64},
                "model": {"name": "mlp", "latent_dim": 2, "hidden": 8, "depth": 1},
                "budget": {"iterations": 1},
                "batch": {"size": 16},
                "evaluation": {"metrics": []},
                "device": "cpu",
            },
            "matrix": {"seed": list(range(args.runs))},
        }
        path = Path(tmp) / "pace.yaml"
        path.write_text(yaml.safe_dump(suite))
        loaded = load_suite(path)
        plans = plan_suite(loaded)
        console = Console(file=io.StringIO(), force_terminal=True, width=120)
        started = time.perf_counter()
        with TimedObserver(console) as observer:
            InlineLauncher(InlineConfig()).run_suite(loaded, plans, observer)
        total = time.perf_counter() - started
    tenth = max(1, args.runs // 10)
    first = statistics.median(observer.seconds[:tenth])
    last = statistics.median(observer.seconds[-tenth:])
    print(f"{args.runs} one-iteration runs in {total:.1f} s")
    print(f"median per run: first tenth {first * 1e3:.1f} ms, last tenth {last * 1e3:.1f} ms")
    print(f"last/first: {last / first:.2f} (a steady pace is about 1)")


if __name__ == "__main__":
    main()
