"""`ganbench latency`: a generator's per-image latency and throughput across batch sizes,
precisions and compile modes.

Method. The generator is put in eval mode and, unless kept, its spectral norm is folded
into the weights (what a deployed generator carries; the output is unchanged). For every
precision (weights and activations cast to fp32, fp16 or bf16) and compile mode a copy is
made (optionally channels_last, optionally ``torch.compile`` with static shapes, one graph
per batch size, or captured into a CUDA graph per batch size); for every batch size, in
the order given: warm-up calls (the first one, reported as ``first_call_s``, pays for
compilation, cuDNN autotuning and first allocations), then timed calls under
``torch.inference_mode`` with Python's garbage collector paused, one at a time
(``measure.timing.CallTimer``: perf_counter on the CPU, CUDA events waited for on the
GPU), until ``repeats`` calls or ``min_time_s`` seconds of calls (at least
``MIN_REPEATS``). The noise is drawn before the timed calls unless ``include_sampling``.
An out-of-memory error marks that row ``oom`` and the next runs; combinations this device
cannot run are rows marked ``skipped`` with the reason.
"""

from __future__ import annotations

import copy
import gc
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import UserError, classify_failure
from ganbench.generators import GeneratorSource
from ganbench.models.blocks import fold_spectral_norm
from ganbench.results import write_atomic
from ganbench.trackers.clock import CallTimer
from ganbench.trackers.environment import capture_environment
from ganbench.trackers.memory import MemoryWindow
from ganbench.trackers.stats import LatencyTimes

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
COMPILE_MODES = (
    "off",
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
    "cuda-graphs",  # eager kernels captured once per batch size into a torch.cuda.CUDAGraph
)
MIN_REPEATS = 10  # with --min-time: never fewer timed calls than this
FORMAT = 1

JSON_FILE, CSV_FILE, PLOT_FILE = "latency.json", "latency.csv", "latency.png"

# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class LatencySettings:
    """What is measured and how; every combination of precision x compile x batch size."""

    batch_sizes: tuple[int, ...] = (1, 32, 256)
    precisions: tuple[str, ...] = ("fp32",)
    compile_modes: tuple[str, ...] = ("off",)
    channels_last: bool = False
    warmup: int = 5
    repeats: int | None = None
    min_time_s: float | None = 2.0
    threads: int | None = None
    include_sampling: bool = False
    fold_spectral_norm: bool = True

    def combinations(self) -> list[tuple[str, str, int]]:
        return [
            (p, c, b) for p in self.precisions for c in self.compile_modes for b in self.batch_sizes
        ]

    @classmethod
    def from_options(
        cls,
        batch_sizes: str = "1,32,256",
        precision: str = "fp32",
        compile_modes: str = "off",
        repeats: int | None = None,
        min_time_s: float | None = None,
        **rest: Any,
    ) -> LatencySettings:
        """Settings from the command line's text; UserError names the option at fault."""
        if repeats is not None and min_time_s is not None:
            raise UserError("--repeats and --min-time: choose one (a fixed count or a duration)")
        return cls(
            batch_sizes=parse_batch_sizes(batch_sizes),
            precisions=parse_choices("--precision", precision, tuple(PRECISIONS)),
            compile_modes=parse_choices("--compile", compile_modes, COMPILE_MODES),
            repeats=repeats,
            min_time_s=None if repeats is not None else (min_time_s or cls.min_time_s),
            **rest,
        )


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if not p.isdigit() or int(p) < 1]
    if not parts or bad:
        raise UserError(
            f"--batch-sizes {text}: expected positive integers, e.g. 1,32,256"
            + (f" (not: {', '.join(bad)})" if bad else "")
        )
    return tuple(dict.fromkeys(int(p) for p in parts))


def parse_choices(option: str, text: str, choices: Sequence[str]) -> tuple[str, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in choices]
    if not parts or unknown:
        raise UserError(
            f"{option} {text}: unknown {', '.join(unknown) or 'empty list'} "
            f"(choose one or more of: {', '.join(choices)})"
        )
    return tuple(dict.fromkeys(parts))


# ------------------------------------------------------------------------------- measure


@dataclass
class LatencyResult:
    """Everything `ganbench latency` writes to latency.json."""

    generator: dict[str, Any]
    settings: dict[str, Any]
    device: str
    environment: dict[str, Any]
    created: str
    spectral_norm_folded: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "ganbench-latency", "format": FORMAT, **asdict(self)}


def unsupported(precision: str, compile_mode: str, device: torch.device) -> str | None:
    """Why this device cannot run a precision/compile combination, or None."""
    if precision == "fp16" and device.type == "cpu":
        return (
            "fp16 on the CPU is not measured: most CPUs have no fp16 arithmetic and PyTorch "
            "emulates it slowly (use bf16)"
        )
    if precision == "bf16" and device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16: this GPU has no native bf16 support"
    if compile_mode == "cuda-graphs":
        return None if device.type == "cuda" else "CUDA graphs need a CUDA device"
    if compile_mode != "off" and not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python/platform"
    return None


def base_row(precision: str, compile_mode: str, batch: int, settings: LatencySettings):
    """The identity of a row and every measured field, empty."""
    return {
        "precision": precision,
        "compile": compile_mode,
        "channels_last": settings.channels_last,
        "batch_size": batch,
        "status": "ok",
        "reason": None,
        "warmup_calls": settings.warmup,
        "first_call_s": None,
        "output_finite": None,
        **dict.fromkeys(
            ("latency_count", "latency_mean_s", "latency_std_s", "latency_min_s")
            + ("latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_max_s")
            + ("per_image_latency_s", "images_per_s", "weights_bytes")
            + ("peak_cuda_alloc_bytes", "peak_cuda_reserved_bytes", "rss_growth_bytes")
        ),
        "timer": None,
        "timer_resolution_s": None,
    }


def prepare_generator(source: GeneratorSource, settings: LatencySettings) -> tuple[nn.Module, int]:
    """The generator in eval mode, its spectral norm folded unless kept; the count folded."""
    G = copy.deepcopy(source.generator).eval()
    folded = fold_spectral_norm(G) if settings.fold_spectral_norm else 0
    return G, folded


def measure_rows(
    G: nn.Module,
    latent_dim: int,
    settings: LatencySettings,
    device: torch.device,
    timer: CallTimer,
) -> Iterator[dict[str, Any]]:
    """One measured row per combination, in order (a generator: Ctrl-C keeps the rows so
    far)."""
    resolution = timer.resolution_s()
    current: tuple[str, str] | None = None
    model: nn.Module | None = None
    status, reason = "skipped", None
    for precision, mode, batch in settings.combinations():
        if (precision, mode) != current:
            current, model = (precision, mode), None
            _release(device)
            status, reason = "skipped", unsupported(precision, mode, device)
            if reason is None:
                try:
                    model = _placed(G, device, PRECISIONS[precision], settings.channels_last)
                except Exception as err:  # e.g. the weights alone do not fit: every row says so
                    status, reason = classify_failure(err)
        row = base_row(precision, mode, batch, settings)
        row.update(timer=timer.name, timer_resolution_s=resolution)
        if model is None:
            row.update(status=status, reason=reason)
        else:
            row.update(
                _measure_batch(
                    model, latent_dim, batch, PRECISIONS[precision], mode, settings, device, timer
                )
            )
        yield row
    _release(device)


def _placed(G: nn.Module, device: torch.device, dtype: torch.dtype, channels_last: bool):
    """``G`` on ``device`` in ``dtype`` (and channels_last): ``G`` itself when it is there
    already, else a copy (``G`` stays as it is for the next combination)."""
    first = next(iter(G.parameters()), None)
    if not channels_last and (first is None or (first.device, first.dtype) == (device, dtype)):
        return G
    model = copy.deepcopy(G).to(device=device, dtype=dtype)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _measure_batch(
    model: nn.Module,
    latent_dim: int,
    batch: int,
    dtype: torch.dtype,
    compile_mode: str,
    settings: LatencySettings,
    device: torch.device,
    timer: CallTimer,
) -> dict[str, Any]:
    _release(device)
    memory = MemoryWindow(device)
    runner: Callable[[torch.Tensor], torch.Tensor] = model
    if compile_mode == "cuda-graphs":
        runner = GraphedGenerator(model)
    elif compile_mode != "off":
        torch._dynamo.reset()  # a graph per batch size, never the recompile limit's fallback
        runner = torch.compile(
            model, mode=None if compile_mode == "default" else compile_mode, dynamic=False
        )
    noise_rng = torch.Generator(device=device).manual_seed(0)

    def noise() -> torch.Tensor:
        return torch.randn(batch, latent_dim, generator=noise_rng, device=device, dtype=dtype)

    z = noise()
    call = (lambda: runner(noise())) if settings.include_sampling else (lambda: runner(z))
    first_done = False
    try:
        with torch.inference_mode():
            first_s, out = timer(call)
            first_done = True
            finite = bool(torch.isfinite(out).all())
            del out
            for _ in range(settings.warmup - 1):
                timer(call)
            memory.open()
            times = _timed_calls(call, timer, memory, settings)
            peaks = memory.close()
    except Exception as err:  # recorded in the row; the next combination still runs
        status, reason = classify_failure(err)
        if status == "failed" and compile_mode != "off" and not first_done:
            status, reason = "skipped", f"torch.compile ({compile_mode}) failed: {reason}"
        return {"status": status, "reason": reason}
    stats = LatencyTimes.from_values(times).fields()
    mean = stats["latency_mean_s"]
    return {
        **stats,
        "latency_min_s": min(times),
        "latency_max_s": max(times),
        "first_call_s": first_s,
        "output_finite": finite,
        "per_image_latency_s": mean / batch,
        "images_per_s": batch / mean if mean > 0 else None,
        "weights_bytes": sum(t.numel() * t.element_size() for t in model.state_dict().values()),
        **peaks,
    }


class GraphedGenerator:
    """G's forward captured into a CUDA graph at the first call (after warm-up passes on a
    side stream, PyTorch's recipe) and replayed after: one launch per call instead of one
    per kernel. The noise is copied into the graph's static input; the output tensor is
    the graph's own, overwritten by the next replay."""

    def __init__(self, model: nn.Module, warmup: int = 3) -> None:
        self.model, self.warmup = model, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: torch.Tensor | None = None
        self.static_out: torch.Tensor | None = None

    def _capture(self, z: torch.Tensor) -> None:
        self.static_in = z.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.model(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self.model(self.static_in)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if self.graph is None:
            self._capture(z)
        self.static_in.copy_(z)
        self.graph.replay()
        return self.static_out


def _timed_calls(
    call: Callable[[], Any], timer: CallTimer, memory: MemoryWindow, settings: LatencySettings
) -> list[float]:
    times: list[float] = []
    total = 0.0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection inside one call is noise, not its cost
    try:
        while True:
            elapsed = timer(call)[0]  # the output is dropped before the next call
            times.append(elapsed)
            total += elapsed
            memory.sample()
            if settings.repeats is not None:
                if len(times) >= settings.repeats:
                    return times
            elif len(times) >= MIN_REPEATS and total >= (settings.min_time_s or 0.0):
                return times
    finally:
        if gc_was_enabled:
            gc.enable()


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ a command


def default_output_dir(root: Path = Path("reports") / "latency") -> Path:
    """reports/latency/<YYYYmmdd-HHMMSS>/, suffixed when that folder exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, n = root / stamp, 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    return folder


def run_latency(
    source: GeneratorSource,
    settings: LatencySettings,
    device: torch.device,
    output: Path,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> LatencyResult:
    """Measure every combination, rewriting latency.json and latency.csv after each row
    (an interrupted run keeps what it measured; the rest are marked ``interrupted``), then
    plot."""
    threads = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        return _run(source, settings, device, output, on_row)
    finally:
        torch.set_num_threads(threads)


def _run(
    source: GeneratorSource,
    settings: LatencySettings,
    device: torch.device,
    output: Path,
    on_row: Callable[[dict[str, Any]], None] | None,
) -> LatencyResult:
    G, folded = prepare_generator(source, settings)
    timer = CallTimer(device)
    result = LatencyResult(
        generator=source.describe(),
        settings=asdict(settings),
        device=str(device),
        environment=capture_environment(device),
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
        spectral_norm_folded=folded,
    )
    output.mkdir(parents=True, exist_ok=True)
    write_results(output, result)
    try:
        for row in measure_rows(G, source.model.latent_dim, settings, device, timer):
            result.rows.append(row)
            write_results(output, result)
            if on_row is not None:
                on_row(row)
    except KeyboardInterrupt:
        result.interrupted = True
        for precision, mode, batch in settings.combinations()[len(result.rows) :]:
            row = base_row(precision, mode, batch, settings)
            result.rows.append({**row, "status": "interrupted", "reason": "Ctrl-C"})
    write_results(output, result)
    from ganbench.report.plots import plot_latency

    plot_latency(result.rows, _plot_title(result), output / PLOT_FILE)
    return result


def write_results(folder: Path, result: LatencyResult) -> None:
    import pandas as pd

    document = result.as_dict()
    write_atomic(folder / JSON_FILE, json.dumps(document, indent=2) + "\n")
    frame = pd.DataFrame(result.rows, columns=list(base_row("", "", 0, LatencySettings())))
    frame.insert(0, "model", result.generator["model"]["name"])
    frame.insert(1, "device", result.device)
    write_atomic(folder / CSV_FILE, frame.convert_dtypes().to_csv(index=False))


def _plot_title(result: LatencyResult) -> str:
    env = result.environment
    where = env.get("gpu_name") or f"{env.get('cpu_model')}, {env.get('torch_threads')} threads"
    return f"{result.generator['model']['name']} generator on {result.device} ({where})"
