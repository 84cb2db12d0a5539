"""The GPU check's steps, in the order they run: each runs ganbench's own commands (or a
short in-process probe) and reads its figures back from the files they wrote.

A step has ``name`` (its folder), ``title``, ``budget_s``, ``run(context)`` (returns a
note or None; raises StepFailed, StepSkipped) and ``figures(context)``. In a dry run the
same commands run at their smallest (a 1/8-width model, batches of 8, a few iterations)
so the kit itself is checked on a CPU in seconds.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ganbench.metrics.inception import write_stand_in_weights
from ganbench.selftest.gpu_check import Figure, StepContext, StepFailed, StepSkipped

THESIS_V100_IT_S = 15.7  # SRFB at batch 64 on the thesis' V100 (sec. 4.1.1)
SPEEDUP_RUNS = "fp32,amp-bf16,amp-fp16,channels-last,compile,combined"
SYNTHETIC = "{name: synthetic, image_size: 32, channels: 3}"
TINY_SYNTHETIC = "{name: synthetic, image_size: 32, channels: 3, num_samples: 256}"


def sized(context: StepContext, batch: int | None = None) -> list[str]:
    """``--set`` overrides: the device; in a dry run a 1/8-width model on batches of 8,
    else the batch size ``batch`` (None: the suite's)."""
    sets = ["--set", f"device={context.options.device}"]
    if context.options.dry_run:
        sets += ["--set", "model.width=0.125", "--set", "batch.size=8"]
    elif batch is not None:
        sets += ["--set", f"batch.size={batch}"]
    return sets


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def ratio_figure(name: str, top: float | None, bottom: float | None, least: float) -> Figure:
    value = top / bottom if top and bottom else None
    met = None if value is None else value >= least
    return Figure(name, None if value is None else round(value, 2), "x", f">= {least:g}x", met)


# --------------------------------------------------------------------------- 2. tests


class GpuTests:
    name, title, budget_s = "gpu-tests", "the gpu-marked tests (tests/test_gpu.py)", 90.0

    def run(self, context: StepContext) -> str | None:
        if not (context.options.root / "tests" / "test_gpu.py").is_file():
            raise StepSkipped("tests/ is not in this checkout")
        args = [context.options.python, "-m", "pytest", "-v", "-m", "gpu"]
        args += ["-p", "no:cacheprovider", "tests/test_gpu.py"]
        if context.options.dry_run:
            args.append("--collect-only")
        done = context.call(args, check=False)
        if done.returncode not in (0, 5):  # 5: none collected
            raise StepFailed(f"pytest exit {done.returncode}\n{context.tail()}")
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        """Counted from pytest's line per test, so a time-out still counts those done."""
        log = context.log.read_text(encoding="utf-8", errors="replace")
        if context.options.dry_run:
            yield Figure("gpu tests collected", len(re.findall(r"<Function ", log)))
            return
        outcomes = re.findall(r"::\S+ (PASSED|FAILED|ERROR|SKIPPED)", log)
        passed = outcomes.count("PASSED")
        yield Figure(
            "gpu tests passed",
            f"{passed}/{len(outcomes)}",
            target="all",
            met=bool(outcomes) and passed == len(outcomes),
        )
        for test in re.findall(r"::(\S+) (?:FAILED|ERROR)", log):
            yield Figure(f"failed: {test}", "see logs/gpu-tests.log")


# ------------------------------------------------------------------------ 3. overhead


class Overhead:
    name, title, budget_s = "overhead", "instrumentation overhead, thesis SAGAN (SRFB, 64)", 50.0

    def run(self, context: StepContext) -> str | None:
        # Blocks of one log interval (the suite's log_every: 20 iterations) in ABBA rounds:
        # 800 timed iterations (600 with the single-iteration pairs before). A dry run
        # logs every iteration and warms up for one: blocks of one iteration.
        rounds, short = "20", []
        if context.options.dry_run:
            rounds, short = "2", ["--set", "log_every=1", "--set", "measure.warmup_iterations=1"]
        context.ganbench(
            "selftest", "overhead", "--suite", "speedups", "--run", "fp32",
            *sized(context, 64), *short,
            "--rounds", rounds,
            "--output", str(context.folder / "overhead.json"),
        )  # fmt: skip
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        r = read_json(context.folder / "overhead.json")
        pct, (lo, hi) = r["overhead_pct"], r["ratio_total_ci95"]
        # Total time over paired blocks of whole log intervals (see selftest/overhead.py).
        yield Figure("overhead (paired blocks)", round(pct, 2), "%", "<= 1 %", pct <= 1.0)
        yield Figure(
            "overhead 95% interval", f"{(lo - 1) * 100:+.2f} to {(hi - 1) * 100:+.2f}", "%"
        )
        old = r["overhead_median_pairs_pct"]
        yield Figure("overhead (median of pair ratios, for comparison)", round(old, 2), "%")
        yield Figure("null-step cost", round(r["null_step_overhead_pct"], 3), "% of a step")
        yield Figure("bare step", round(1 / r["bare_iter_s"], 2), "it/s")


# -------------------------------------------------------------------------- parity

PARITY_ROWS = "srfb,alternating,accumulate-4,bf16,channels-last,noise-scale,ddp-2"


class Parity:
    name, title = "parity", "ganbench's loop against a hand-written PyTorch loop per lever"
    budget_s = 70.0

    def run(self, context: StepContext) -> str | None:
        script = context.options.root / "benchmarks" / "parity.py"
        if not script.is_file():
            raise StepSkipped("benchmarks/ is not in this checkout")
        dry = context.options.dry_run
        sizes = ["--width", "0.125", "--batch", "8", "--rounds", "2", "--block", "5"]
        args = [context.options.python, str(script), "--device", context.options.device]
        args += ["--rows", "srfb" if dry else PARITY_ROWS]
        args += sizes if dry else ["--width", "1.0", "--batch", "64", "--rounds", "10"]
        context.call([*args, "--output", str(context.folder / "parity.json")])
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        path = context.folder / "parity.json"
        if not path.is_file():
            return
        figures = read_json(path)
        margin = figures["margin"]
        for row in figures["rows"]:
            if "skipped" in row:
                yield Figure(f"{row['row']}: ganbench / hand-written", "skipped: " + row["skipped"])
                continue
            ratio, (low, high) = row["ratio"], row["ratio_ci95"]
            yield Figure(
                f"{row['row']}: ganbench / hand-written [95%: {low:.3f}, {high:.3f}]",
                round(ratio, 3),
                "x",
                f"<= {margin}x",
                ratio <= margin,
            )


# ------------------------------------------------------------------------ 4. speedups


def summaries(folder: Path) -> dict[str, dict[str, Any]]:
    """Each run's summary.json under a suite folder, by configuration name."""
    found = {}
    for path in sorted(folder.glob("*/summary.json")):
        summary = read_json(path)
        found[summary["name"]] = summary
    return found


def run_figures(name: str, summary: dict[str, Any]) -> Iterator[Figure]:
    """A training run's speed, MFU and memory (its status when it did not finish)."""
    if summary.get("status") != "finished":
        yield Figure(f"{name}: status", f"{summary.get('status')}: {summary.get('reason')}")
    steady, overall = summary.get("images_per_s"), summary.get("images_per_s_overall")
    if steady:
        yield Figure(f"{name}: images/s (steady)", round(steady, 1), "img/s")
    if overall:
        yield Figure(f"{name}: images/s (incl. warm-up, compile)", round(overall, 1), "img/s")
    yield from mfu_figures(name, summary)
    if summary.get("peak_cuda_alloc_bytes"):
        peak = round(summary["peak_cuda_alloc_bytes"] / 2**30, 2)
        yield Figure(f"{name}: peak CUDA memory", peak, "GiB")
    for lever, why in (summary.get("levers_skipped") or {}).items():
        yield Figure(f"{name}: lever {lever} skipped", why)


def mfu_figures(name: str, summary: dict[str, Any]) -> Iterator[Figure]:
    """MFU as the summary has it (steady iterations) and at the median iteration."""
    if summary.get("mfu") is None:
        if summary.get("mfu_reason"):
            yield Figure(f"{name}: MFU", f"none: {summary['mfu_reason']}")
        return
    precision = summary.get("mfu_precision")
    yield Figure(f"{name}: MFU, steady ({precision} peak)", round(100 * summary["mfu"], 1), "%")
    flops, peak = summary.get("flops_per_iteration"), summary.get("peak_flops_per_s")
    p50 = summary.get("iter_time_p50_s")
    if flops and peak and p50:
        yield Figure(
            f"{name}: MFU at the median iteration", round(100 * flops / p50 / peak, 1), "%"
        )


class Speedups:
    name, title, budget_s = "speedups", "the levers on the thesis SAGAN at batch 256", 150.0

    def suite_args(self, context: StepContext, runs: str) -> list[str]:
        suite = "speedups"  # the built-in suite (or suites/speedups.yaml where it runs)
        iterations = "3" if context.options.dry_run else "80"
        args = ["train-suite", suite, "--fresh", "--only", runs, "--seeds", "0"]
        args += ["--set", f"budget.iterations={iterations}", *sized(context)]
        args += ["--set", f"output_dir={context.folder / 'suite'}"]
        if context.options.dry_run:
            args += ["--set", "measure.warmup_iterations=1", "--set", "dataset.num_samples=256"]
        return args

    def run(self, context: StepContext) -> str | None:
        if context.options.dry_run:  # every lever resolves; two that a CPU runs train
            context.ganbench(*self.suite_args(context, SPEEDUP_RUNS), "--dry-run")
            batches = ["fp32,channels-last"]
        else:  # the headline pair first: a time-out then costs the single levers
            batches = ["fp32,combined", "amp-bf16,amp-fp16,channels-last,compile"]
        failed = False
        for runs in batches:
            trained = context.ganbench(*self.suite_args(context, runs), check=False)
            if trained.returncode not in (0, 1):  # 1: a run failed, recorded in its folder
                raise StepFailed(f"train-suite exit {trained.returncode}\n{context.tail()}")
            failed |= trained.returncode == 1
        context.ganbench("report", str(context.folder / "suite"))
        return "report: speedups/suite/report.md" + ("; a run failed" if failed else "")

    def figures(self, context: StepContext) -> Iterator[Figure]:
        runs = summaries(context.folder / "suite")
        for name, summary in runs.items():
            yield from run_figures(name, summary)
        top = "channels-last" if context.options.dry_run else "combined"
        best, fp32 = (runs.get(n, {}).get("images_per_s") for n in (top, "fp32"))
        yield ratio_figure(f"{top} / fp32 images/s (training, steady)", best, fp32, 2.0)


# --------------------------------------------------------------------- 5. thesis pace


class ThesisPace:
    name, title, budget_s = "thesis-pace", "SRFB at batch 64 on the thesis SAGAN", 35.0

    def run(self, context: StepContext) -> str | None:
        dry = context.options.dry_run
        suite = "thesis"
        context.ganbench(
            "train-suite", suite, "--fresh", "--metrics", "none", "--only", "srfb-fixed",
            "--seeds", "0", "--set", f"dataset={TINY_SYNTHETIC if dry else SYNTHETIC}",
            "--set", f"budget.iterations={3 if dry else 200}",
            "--set", "evaluation.every_iterations=null",
            "--set", "checkpoint.every_iterations=null",
            *sized(context), "--set", f"output_dir={context.folder / 'suite'}",
            *(["--set", "measure.warmup_iterations=1"] if dry else []),
        )  # fmt: skip
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        summary = summaries(context.folder / "suite").get("srfb-fixed")
        if summary is None:
            return
        pace = summary.get("iterations_per_s")
        met = None if pace is None else pace >= THESIS_V100_IT_S
        value = None if pace is None else round(pace, 2)
        yield Figure("SRFB it/s at batch 64", value, "it/s", f">= {THESIS_V100_IT_S} (V100)", met)
        yield from run_figures("srfb-fixed", summary)


# ------------------------------------------------------------------------- 6. latency


class Latency:
    name, title, budget_s = "latency", "generation latency: fp32/bf16, eager/graphs/compile", 100.0
    BEST = ("--batch-sizes", "256", "--precision", "amp-bf16", "--compile", "default")
    MODES = ("--batch-sizes", "1,32,256", "--precision", "fp32,amp-bf16")

    def latency_args(self, context: StepContext, folder: str, *options: str) -> list[str]:
        args = ["latency", "--model", "sagan", "--device", context.options.device]
        if context.options.dry_run:  # fp32 eager: a CPU's; channels_last kept
            args += ["--set", "model.width=0.125", "--batch-sizes", "1,2", "--repeats", "2"]
            args += ["--warmup", "1", "--precision", "fp32", "--compile", "off"]
            args += [o for o in options if o == "--channels-last"]
        else:
            args += ["--min-time", "0.3", *options]
        return [*args, "--output", str(context.folder / folder)]

    def run(self, context: StepContext) -> str | None:
        """The headline row first (one cold compile, at 256 only: each batch size is
        compiled anew), then eager and CUDA graphs at every size (no compiles)."""
        context.ganbench(
            *self.latency_args(context, "bf16-cl-compile", *self.BEST, "--channels-last")
        )
        context.ganbench(
            *self.latency_args(context, "modes", *self.MODES, "--compile", "off,cuda-graphs")
        )
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        rows = []
        for folder in ("bf16-cl-compile", "modes"):
            path = context.folder / folder / "latency.json"
            if path.is_file():
                rows += read_json(path)["rows"]
        largest = max((r["batch_size"] for r in rows), default=None)
        speed = {}
        for r in rows:
            if r["batch_size"] != largest:
                continue
            label = f"{r['precision']} {r['compile']}" + (
                " channels-last" if r["channels_last"] else ""
            )
            if r["status"] != "ok":
                yield Figure(f"generate at {largest}: {label}", f"{r['status']}: {r.get('reason')}")
                continue
            speed[label] = r["images_per_s"]
            yield Figure(f"generate at {largest}: {label}", round(r["images_per_s"]), "img/s")
        best = (
            "fp32 off channels-last"
            if context.options.dry_run
            else "amp-bf16 default channels-last"
        )
        yield ratio_figure(
            f"{best} / fp32 eager (generation)", speed.get(best), speed.get("fp32 off"), 2.0
        )


# ------------------------------------------------------------------------- 7. metrics


class Metrics:
    name, title, budget_s = "metrics", "FID, IS (stand-in weights) and fd_classifier", 60.0

    def metric_args(self, context: StepContext, suite: str, run: str, metric: str) -> list[str]:
        samples = "20" if context.options.dry_run else "10000"
        args = ["selftest", "metric-time", "--suite", suite, "--run", run, "--metric", metric]
        args += ["--num-samples", samples, "--repeats", "1", "--device", context.options.device]
        if context.options.dry_run:
            args += ["--set", "model.width=0.125"]
        return [*args, "--output", str(context.folder / f"{metric}.json")]

    def run(self, context: StepContext) -> str | None:
        # 95 MB of random tensors: kept out of the results folder
        weights = str(write_stand_in_weights(Path(tempfile.gettempdir()) / "ganbench-stand-in.pth"))
        refs = "20" if context.options.dry_run else "10000"
        fid = self.metric_args(context, "speedups", "fp32", "fid")
        context.ganbench(*fid, "--weights", weights, "--reference-samples", refs)
        context.ganbench(*self.metric_args(context, "speedups", "fp32", "is"), "--weights", weights)
        if context.options.dry_run:
            return "dry run: fd_classifier left out (its classifier trains once, for minutes)"
        labelled = context.ganbench(
            *self.metric_args(context, "quick", "alternating", "fd_classifier"), check=False
        )
        if labelled.returncode == 2:  # no Fashion-MNIST here: said in the log's last line
            return f"fd_classifier not timed: {context.tail(1)}"
        if labelled.returncode != 0:
            raise StepFailed(f"fd_classifier: exit {labelled.returncode}\n{context.tail()}")
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        for metric in ("fid", "is", "fd_classifier"):
            path = context.folder / f"{metric}.json"
            if not path.is_file():
                continue
            r = read_json(path)
            samples = r["num_samples"]
            yield Figure(
                f"{metric}: per evaluation of {samples}", round(r["median_s"]["total"], 2), "s"
            )
            score = r["median_s"].get(metric)
            if score is not None:
                yield Figure(f"{metric}: scoring alone", round(score, 2), "s")
            yield Figure(f"{metric}: one-off set-up", round(r["setup_s"], 1), "s")


# ---------------------------------------------------------------------- 1. NVML, peak


class NvmlAndPeak:
    name, title, budget_s = "nvml", "NVML sample under load, and the peak FLOP/s table", 25.0
    LOAD_S, IDLE_S = 10.0, 1.5  # NVML's power reading is a 1 s average: idle on both sides

    def run(self, context: StepContext) -> str | None:
        if not context.cuda:
            raise StepSkipped("no CUDA device: nothing for NVML to sample")
        from ganbench.trackers.nvml import GpuMonitor

        device = torch.device("cuda")
        monitor = GpuMonitor(device, 20.0, context.folder / "nvml.csv")
        if not monitor.active:
            raise StepFailed(monitor.reason or "NVML unavailable")
        with monitor:
            time.sleep(self.IDLE_S / 3)
            flops, seconds = bf16_matmuls(device, self.LOAD_S)
            time.sleep(self.IDLE_S)
        use = monitor.summary(images=0)
        record = {
            **use.__dict__,
            "energy_counter_j": monitor.totals.energy_counter_j,
            "energy_power_integral_j": monitor.totals.energy_power_j,
            "matmul_flops": flops,
            "matmul_s": seconds,
            "gpu_name": torch.cuda.get_device_name(device),
        }
        (context.folder / "nvml.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        return None

    def figures(self, context: StepContext) -> Iterator[Figure]:
        path = context.folder / "nvml.json"
        if not path.is_file():
            return
        r = read_json(path)
        yield Figure("power (sampled mean, max)", f"{r['power_mean_w']}, {r['power_max_w']}", "W")
        clocks = (r["sm_clock_min_mhz"], r["sm_clock_mean_mhz"], r["sm_clock_max_mhz"])
        yield Figure("SM clock min/mean/max", "/".join(_num(c) for c in clocks), "MHz")
        yield Figure("throttle reasons seen", json.dumps(r["throttle_reason_share"]))
        if r.get("gpu_unsupported_queries"):
            yield Figure("NVML queries unsupported", ", ".join(r["gpu_unsupported_queries"]))
        counter, integral = r["energy_counter_j"], r["energy_power_integral_j"]
        agree = counter / integral if counter and integral else None
        met = None if agree is None else abs(agree - 1) <= 0.15
        value = None if agree is None else round(agree, 3)
        yield Figure("energy: counter / integrated power", value, "", "within 15 %", met)
        yield from peak_figures(r)


def peak_figures(r: dict[str, Any]) -> Iterator[Figure]:
    """The bf16 matmul rate against the peak table's entry (the MFU denominator)."""
    from ganbench.trackers.flops import peak_flops

    achieved = r["matmul_flops"] / r["matmul_s"]
    yield Figure("bf16 matmul 8192^3", round(achieved / 1e12), "TFLOP/s")
    peak = peak_flops(r["gpu_name"], "bf16")
    if peak is None:
        yield Figure(f"peak table: {r['gpu_name']}", "missing: MFU is None here", met=False)
        return
    share = round(achieved / peak, 2)
    yield Figure("bf16 matmul / table peak", share, "", "0.5 to 1.0", 0.5 <= share <= 1.0)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def bf16_matmuls(device: torch.device, seconds: float, n: int = 8192) -> tuple[float, float]:
    """Square bf16 matmuls for about ``seconds``: the FLOPs done and the time they took."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    torch.mm(a, b)
    torch.cuda.synchronize(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(10):
            torch.mm(a, b)
        count += 10
        torch.cuda.synchronize(device)
    return 2.0 * n**3 * count, time.perf_counter() - started


# NVML first: the cheapest step, and the only check of the peak table
STEPS = (
    NvmlAndPeak(),
    GpuTests(),
    Overhead(),
    Parity(),
    Speedups(),
    ThesisPace(),
    Latency(),
    Metrics(),
)


def no_gpu_plan(steps=STEPS) -> str:
    """What the check would run, for a machine without CUDA."""
    lines = ["no CUDA device here: nothing measured. On a GPU `ganbench selftest gpu` runs:"]
    lines += [f"  {n}. {s.title} (up to {s.budget_s:.0f} s)" for n, s in enumerate(steps, 1)]
    lines.append("`--device cpu --dry-run` walks every step at its smallest, to check the kit.")
    return "\n".join(lines)
