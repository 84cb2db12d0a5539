"""`ganbench latency`: a generator's per-image latency and throughput across batch sizes,
precisions and compile modes.

Method. The generator is put in eval mode and, unless kept, its spectral norm is folded
into the weights (what a deployed generator carries; the output is unchanged). For every
precision (weights and activations cast to fp32, fp16 or bf16) and compile mode a copy is
made (optionally channels_last, optionally ``torch.compile`` with static shapes, one graph
per batch size, or captured into a CUDA graph per batch size); for every batch size, in
the order given, under ``torch.inference_mode``, each call timed by
``trackers.clock.CallTimer`` (perf_counter on the CPU, CUDA events waited for on the GPU):

1. The first call, reported as ``first_call_s`` (it pays for compilation, cuDNN
   autotuning and first allocations), then warm-up calls (``latency.warmup``): at least
   ``warmup`` calls in all, then until the calls after the first last ``warmup_min_s``
   and the median of the last 5 is within 10% of the median of the 5 before, or they
   last ``warmup_max_s`` (or number 100,000), steady or not. ``warmup_calls``, ``warmup_s``
   (the first included) and ``warmup_steady`` record what happened.
2. Timed calls one at a time, each synchronised before the next, with Python's garbage
   collector paused (``latency.timing``): ``repeats`` calls; or until ``min_time_s``
   seconds of calls and at least ``MIN_REPEATS`` (100, what p99 needs), or until
   ``max_time_s`` seconds (never less than ``min_time_s``) however few. Their figures
   (``latency.figures``): ``latency_count``, mean, std, min, max; percentiles by linear
   interpolation between order statistics, each only with enough calls (``n (1 - p/100)
   >= 1``: p50 2, p90 10, p99 100), with a distribution-free 95% interval [x_(l), x_(u)]
   (``trackers.stats.order_statistic_ranks``; p50 needs 6 calls, p90 36, p99 368), and
   ``latency_pNN_reason`` saying why a value or interval is null; ``images_per_s`` is
   ``batch_size / latency_mean_s`` (each call waited for: no overlap of host and device).
3. One block of ``max(2, ceil(latency_count / 4))`` calls back to back, timed as one call
   (one synchronisation at the end): ``blocked_images_per_s`` = ``batch_size *
   blocked_calls / blocked_s``, the throughput when the host queues the next call while
   the device runs this one.

The noise is drawn before the timed calls unless ``include_sampling``. Memory peaks cover
step 2. An out-of-memory error marks that row ``oom`` and the next runs; combinations this
device cannot run are rows marked ``skipped`` with the reason.
"""

from __future__ import annotations

import copy
import gc
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from scipy.stats import t as student_t
from torch import nn

from ganbench.errors import classify_failure
from ganbench.latency.figures import blocked_figures, call_figures
from ganbench.latency.settings import LatencySettings
from ganbench.latency.sources import GeneratorSource
from ganbench.latency.timing import block_size, blocked_seconds, gc_paused, timed_calls
from ganbench.latency.warmup import warm_up
from ganbench.levers.compile import compile_generator, unsupported_compile
from ganbench.levers.precision import DTYPES, unsupported_precision
from ganbench.models.base import as_noise_shape
from ganbench.models.blocks import fold_spectral_norm
from ganbench.results.latency import ROW_FIELDS, LatencyResult, write_latency
from ganbench.trackers.clock import CallTimer
from ganbench.trackers.environment import capture_environment
from ganbench.trackers.memory import MemoryWindow


def unsupported(precision: str, compile_mode: str, device: torch.device) -> str | None:
    """Why this device cannot run a precision/compile combination, or None."""
    return unsupported_precision(precision, device) or unsupported_compile(compile_mode, device)


def base_row(
    precision: str,
    compile_mode: str,
    batch: int,
    settings: LatencySettings,
    label: str | None = None,
) -> dict[str, Any]:
    """The identity of a row and every measured field, empty."""
    return {
        **dict.fromkeys(ROW_FIELDS),
        "generator": label,
        "precision": precision,
        "compile": compile_mode,
        "channels_last": settings.channels_last,
        "batch_size": batch,
        "status": "ok",
    }


@dataclass
class Timed:
    """One generator as timed: its label, the module (eval mode, spectral norm folded
    unless kept) and its noise's shape."""

    label: str
    module: nn.Module
    latent: tuple[int, ...]
    placed: nn.Module | None = None  # on the device, in this combination's precision
    status: str = "skipped"
    reason: str | None = None

    def place(self, precision: str, mode: str, settings: LatencySettings, device) -> None:
        """Ready for a precision and compile mode, or why not (every row of it says so)."""
        self.placed, self.status, self.reason = None, "skipped", None
        self.reason = unsupported(precision, mode, device)
        if self.reason is None:
            try:
                self.placed = _placed(
                    self.module, device, DTYPES[precision], settings.channels_last
                )
            except Exception as err:  # e.g. the weights alone do not fit: every row says so
                self.status, self.reason = classify_failure(err)

    def why_not(self, precision: str, mode: str, settings: LatencySettings, batch, device):
        """Why a generator of its own kind (an ONNX session) cannot run this row, or None."""
        check = getattr(self.module, "unsupported", None)
        return (
            None if check is None else check(precision, mode, settings.channels_last, batch, device)
        )


def prepare_generator(source: GeneratorSource, settings: LatencySettings) -> tuple[nn.Module, int]:
    """The generator in eval mode, its spectral norm folded unless kept; the count folded."""
    G = evaluating(copy.deepcopy(source.generator))
    folded = fold_spectral_norm(G) if settings.fold_spectral_norm else 0
    return G, folded


def evaluating(G: nn.Module) -> nn.Module:
    """``G`` in eval mode; a torch.export module keeps the mode it was exported in (it
    refuses ``eval()``)."""
    try:
        return G.eval()
    except NotImplementedError:
        return G


def measure_rows(
    generators: list[Timed], settings: LatencySettings, device: torch.device, timer: CallTimer
) -> Iterator[dict[str, Any]]:
    """One measured row per combination and generator, in order. Several generators take
    turns row by row, the one to go first rotating from combination to combination (a
    slowing machine, or the state the previous row left, favours none); a combination's
    rows come out together, in the order the generators were given. Ctrl-C keeps the
    rows so far."""
    resolution = timer.resolution_s()
    current: tuple[str, str] | None = None
    one = len(generators) == 1
    for k, (precision, mode, batch) in enumerate(settings.combinations()):
        if (precision, mode) != current and one:  # placed once per combination
            current = (precision, mode)
            _unplace(generators, device)
            generators[0].place(precision, mode, settings, device)
        turn = k % len(generators)
        rows: dict[str, dict[str, Any]] = {}
        for timed in generators[turn:] + generators[:turn]:
            if not one:  # alone on the device: its memory peaks are its own
                _unplace(generators, device)
                timed.place(precision, mode, settings, device)
            row = base_row(precision, mode, batch, settings, timed.label)
            row.update(timer=timer.name, timer_resolution_s=resolution)
            row.update(_one_row(timed, precision, mode, batch, settings, device, timer))
            rows[timed.label] = row
        first = rows[generators[0].label]
        for timed in generators:
            if not one:
                rows[timed.label].update(ratio_to_first(rows[timed.label], first))
            yield rows[timed.label]
    _release(device)


def _one_row(
    timed: Timed,
    precision: str,
    mode: str,
    batch: int,
    settings: LatencySettings,
    device: torch.device,
    timer: CallTimer,
) -> dict[str, Any]:
    """A row's status and figures: measured, or why not."""
    why = timed.why_not(precision, mode, settings, batch, device)
    if why is not None:
        return {"status": "skipped", "reason": why}
    if timed.placed is None:
        return {"status": timed.status, "reason": timed.reason}
    dtype = DTYPES[precision]
    return _measure_batch(timed.placed, timed.latent, batch, dtype, mode, settings, device, timer)


def _unplace(generators: list[Timed], device: torch.device) -> None:
    for timed in generators:
        timed.placed = None
    _release(device)


def ratio_to_first(row: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """A row's mean call time over the first generator's at the same combination, with a
    95% interval (delta method on the log ratio of two independent means)."""
    a, b = first.get("latency_mean_s"), row.get("latency_mean_s")
    if not a or not b or first["status"] != "ok" or row["status"] != "ok":
        return {"latency_ratio": None, "latency_ratio_ci": None}
    if row is first:
        return {"latency_ratio": 1.0, "latency_ratio_ci": None}
    se = math.sqrt(
        sum(
            (r["latency_std_s"] or 0.0) ** 2 / (r["latency_count"] * r["latency_mean_s"] ** 2)
            for r in (first, row)
        )
    )
    ratio = b / a
    if min(first["latency_count"], row["latency_count"]) < 2:
        return {"latency_ratio": ratio, "latency_ratio_ci": None}  # no spread to go by
    t = student_t.ppf(0.975, _welch_df(first, row)) if se > 0 else 0.0
    return {
        "latency_ratio": ratio,
        "latency_ratio_ci": [ratio * math.exp(-t * se), ratio * math.exp(t * se)],
    }


def _welch_df(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Welch-Satterthwaite degrees of freedom of the log ratio's two relative variances."""
    parts = [
        (r["latency_std_s"] or 0.0) ** 2 / (r["latency_count"] * r["latency_mean_s"] ** 2)
        for r in (a, b)
    ]
    denominator = sum(v**2 / (r["latency_count"] - 1) for v, r in zip(parts, (a, b), strict=True))
    return sum(parts) ** 2 / denominator if denominator > 0 else math.inf


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
    latent_dim: int | tuple[int, ...],
    batch: int,
    dtype: torch.dtype,
    compile_mode: str,
    settings: LatencySettings,
    device: torch.device,
    timer: CallTimer,
) -> dict[str, Any]:
    _release(device)
    memory = MemoryWindow(device)  # host memory growth counts from here
    runner: Callable[[torch.Tensor], torch.Tensor] = compile_generator(model, compile_mode)
    call = _generator_call(runner, batch, latent_dim, dtype, device, settings.include_sampling)
    first_done = False
    try:
        with torch.inference_mode():
            first_s, out = timer(call)
            first_done = True
            finite = bool(torch.isfinite(out).all())
            del out
            figures = _timed_figures(call, first_s, batch, settings, timer, memory)
    except Exception as err:  # recorded in the row; the next combination still runs
        status, reason = classify_failure(err)
        if status == "failed" and compile_mode != "off" and not first_done:
            status, reason = "skipped", f"torch.compile ({compile_mode}) failed: {reason}"
        return {"status": status, "reason": reason}
    return {
        **figures,
        "first_call_s": first_s,
        "output_finite": finite,
        "weights_bytes": getattr(model, "weights_bytes", None)
        or sum(t.numel() * t.element_size() for t in model.state_dict().values()),
    }


def _generator_call(
    runner: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    latent_dim: int | tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
    include_sampling: bool,
) -> Callable[[], torch.Tensor]:
    """One generator call on noise drawn once (seed 0), or drawn inside every call."""
    noise_rng = torch.Generator(device=device).manual_seed(0)

    def noise() -> torch.Tensor:
        shape = as_noise_shape(latent_dim)
        return torch.randn(batch, *shape, generator=noise_rng, device=device, dtype=dtype)

    z = noise()
    return (lambda: runner(noise())) if include_sampling else (lambda: runner(z))


def _timed_figures(
    call: Callable[[], Any],
    first_s: float,
    batch: int,
    settings: LatencySettings,
    timer: CallTimer,
    memory: MemoryWindow,
) -> dict[str, Any]:
    """After the first call: warm-up, calls one at a time (memory watched), the block."""
    warm = warm_up(lambda: timer(call)[0], first_s, settings)
    memory.open()
    with gc_paused():
        times = timed_calls(call, timer, settings, memory.sample)
    peaks = memory.close()
    calls = block_size(len(times))
    with gc_paused():
        seconds = blocked_seconds(call, timer, calls)
    return {
        **warm.fields(),
        **call_figures(times, batch),
        **blocked_figures(calls, seconds, batch),
        **peaks,
    }


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_latency(
    sources: GeneratorSource | Sequence[GeneratorSource],
    settings: LatencySettings,
    device: torch.device,
    output: Path,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> LatencyResult:
    """Measure every combination of every generator, rewriting latency.json and
    latency.csv after each row (an interrupted run keeps what it measured; the rest are
    marked ``interrupted``)."""
    sources = [sources] if isinstance(sources, GeneratorSource) else list(sources)
    threads = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        return _run(sources, settings, device, output, on_row)
    finally:
        torch.set_num_threads(threads)


def _run(
    sources: list[GeneratorSource],
    settings: LatencySettings,
    device: torch.device,
    output: Path,
    on_row: Callable[[dict[str, Any]], None] | None,
) -> LatencyResult:
    generators, described = [], []
    for source in sources:
        G, folded = prepare_generator(source, settings)
        generators.append(Timed(source.name, G, tuple(source.model.noise_shape())))
        described.append({**source.describe(), "spectral_norm_folded": folded})
        if source.file is not None and callable(getattr(G, "describe", None)):
            described[-1]["file"] = {**source.file, **G.describe()}  # threads as timed
    timer = CallTimer(device)
    result = LatencyResult(
        generator=described[0],
        generators=described,
        settings=asdict(settings),
        device=str(device),
        environment=capture_environment(device),
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
        spectral_norm_folded=described[0]["spectral_norm_folded"],
    )
    output.mkdir(parents=True, exist_ok=True)
    write_latency(output, result)
    try:
        for row in measure_rows(generators, settings, device, timer):
            result.rows.append(row)
            write_latency(output, result)
            if on_row is not None:
                on_row(row)
    except KeyboardInterrupt as stop:  # Ctrl-C, or a stop signal named in its message
        result.interrupted = True
        reason = str(stop) or "Ctrl-C"
        planned = [(*c, t.label) for c in settings.combinations() for t in generators]
        for precision, mode, batch, label in planned[len(result.rows) :]:
            row = base_row(precision, mode, batch, settings, label)
            result.rows.append({**row, "status": "interrupted", "reason": reason})
    write_latency(output, result)
    return result
