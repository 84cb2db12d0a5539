"""`ganbench latency` on generators whose cost is known: sleeps, out-of-memory errors,
Ctrl-C, and real models checked against torch.utils.benchmark."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.benchmark import Timer
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.latency.measure import (
    Timed,
    base_row,
    measure_rows,
    prepare_generator,
    run_latency,
)
from ganbench.latency.settings import LatencySettings
from ganbench.latency.sources import GeneratorSource, fresh_generator, generator_from_checkpoint
from ganbench.latency.timing import MIN_REPEATS, enough_calls
from ganbench.models import MODELS
from ganbench.models.blocks import fold_spectral_norm
from ganbench.report.plots import latency_title, plot_latency
from ganbench.results.latency import CSV_FILE, JSON_FILE, PLOT_FILE
from ganbench.trackers.clock import CallTimer, perf_counter_resolution_s
from tests.conftest import docs_text, tiny_suite

CPU = torch.device("cpu")
runner = CliRunner()

# Row fields without a unit in their name; every other field ends in one.
UNITLESS = {
    "generator",
    "latency_ratio",  # a ratio of two seconds
    "latency_ratio_ci",
    "precision",
    "compile",
    "channels_last",
    "batch_size",
    "status",
    "reason",
    "warmup_calls",
    "warmup_steady",
    "output_finite",
    "latency_count",
    "latency_p50_reason",
    "latency_p90_reason",
    "latency_p99_reason",
    "blocked_calls",
    "timer",
}
UNITS = ("_s", "_bytes", "_per_s")


class Sleeper(nn.Module):
    """A generator whose call costs a known time: it sleeps, then returns zeros."""

    def __init__(self, seconds: float, oom_at=None, stop_at=None, fail_at=None) -> None:
        super().__init__()
        self.seconds, self.oom_at, self.stop_at, self.fail_at = seconds, oom_at, stop_at, fail_at
        self.scale = nn.Parameter(torch.ones(1))
        self.seen: list[torch.Tensor] = []  # the noise of every call (shared with copies)
        self.slept: list[float] = []  # how long each call's sleep really took

    def __deepcopy__(self, memo):  # copies share the record of calls
        twin = type(self)(self.seconds, self.oom_at, self.stop_at, self.fail_at)
        twin.seen, twin.slept = self.seen, self.slept
        return twin

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] == self.oom_at:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        if z.shape[0] == self.stop_at:
            raise KeyboardInterrupt
        if z.shape[0] == self.fail_at:
            raise ValueError("a bug in the generator")
        self.seen.append(z.clone())
        start = time.perf_counter()
        time.sleep(self.seconds)
        self.slept.append(time.perf_counter() - start)
        return torch.zeros(z.shape[0], 1, 2, 2) * self.scale


def sleeper_source(module: nn.Module) -> GeneratorSource:
    config = MODELS.get("mlp").Config(latent_dim=4)
    return GeneratorSource(generator=module, model=config, shape=(1, 2, 2), origin="fresh")


class RecordingTimer(CallTimer):
    """The CPU timer (perf_counter), keeping every duration it hands back, warm-up calls
    included."""

    def __init__(self) -> None:
        super().__init__(CPU)
        self.times: list[float] = []

    def __call__(self, fn):
        elapsed, out = super().__call__(fn)
        self.times.append(elapsed)
        return elapsed, out


def rows_for(
    source: GeneratorSource, settings: LatencySettings, timer: CallTimer | None = None
) -> list[dict]:
    G, _ = prepare_generator(source, settings)
    timer = timer or CallTimer(CPU)
    return list(measure_rows([Timed("G", G, (source.model.latent_dim,))], settings, CPU, timer))


def invoke(*args: str):
    return runner.invoke(app, ["latency", *args])


# ------------------------------------------------------------------- measurement


def test_a_sleeping_generator_is_timed_around_its_sleep_and_summarised() -> None:
    """Call by call, the timer's duration against the sleep the generator timed inside
    itself (the injected time: a VM's wake-up latency and load make a 20 ms sleep last
    longer): never below it (the timer encloses the call), and in the median within 1 ms
    (5 % of the sleep; the call's own work is 0.1-0.2 ms, also under load). Load delays
    some calls, not most, so the median holds where a mean would not. The row's figures
    are those of its timed calls, warm-up (exactly 2 calls: no time allowed beyond the
    count) and the block back to back (7 calls, one timer reading) left out."""
    sleeper = Sleeper(0.02)
    settings = LatencySettings(batch_sizes=(1, 4), warmup=2, warmup_max_s=0.0, repeats=25)
    timer = RecordingTimer()
    rows = rows_for(sleeper_source(sleeper), settings, timer)
    readings, sleeps = 2 + 25 + 1, 2 + 25 + 7  # per row: warm-up, timed, the block
    assert len(timer.times) == 2 * readings and len(sleeper.slept) == 2 * sleeps
    for i, row in enumerate(rows):
        read, slept = timer.times[readings * i :], sleeper.slept[sleeps * i :]
        overhead = [t - s for t, s in zip(read[:27], slept[:27], strict=True)]
        assert min(overhead) >= 0, min(overhead)  # perf_counter around perf_counter
        assert statistics.median(overhead) < 0.001, sorted(overhead)
        timed, injected = read[2:27], slept[2:27]  # after the 2 warm-up calls
        assert row["status"] == "ok" and row["latency_count"] == len(timed) == 25
        assert row["warmup_calls"] == 2 and row["warmup_s"] == pytest.approx(sum(read[:2]))
        assert row["warmup_steady"] is False  # one call after the first: not steady yet
        # torch's float64 quantile and mean against statistics': rounding only
        assert row["latency_p50_s"] == pytest.approx(statistics.median(timed), rel=1e-9)
        assert row["latency_mean_s"] == pytest.approx(statistics.mean(timed), rel=1e-9)
        assert row["latency_min_s"] == min(timed) and row["latency_max_s"] == max(timed)
        assert row["first_call_s"] == read[0] >= 0.02
        assert min(injected) >= 0.02  # sleep never returns early
        assert row["latency_min_s"] <= row["latency_p50_s"] <= row["latency_p90_s"]
        assert row["latency_p90_s"] <= row["latency_max_s"]
        # 25 calls: p50 with its interval (ranks 8 and 18), p90 without one, no p99.
        assert row["latency_p50_ci_s"] == [sorted(timed)[7], sorted(timed)[17]]
        assert row["latency_p50_reason"] is None
        assert row["latency_p90_ci_s"] is None
        assert row["latency_p90_reason"] == "95% interval needs >= 36 calls, had 25"
        assert row["latency_p99_s"] is None and row["latency_p99_ci_s"] is None
        assert row["latency_p99_reason"] == "needs >= 100 calls, had 25"
        assert row["per_image_latency_s"] == pytest.approx(
            row["latency_mean_s"] / row["batch_size"]
        )
        assert row["images_per_s"] == pytest.approx(row["batch_size"] / row["latency_mean_s"])
        # The block: 7 calls (a quarter of 25, rounded up), one reading around them all.
        assert row["blocked_calls"] == 7 and row["blocked_s"] == read[27] >= sum(slept[27:34])
        assert row["blocked_images_per_s"] == pytest.approx(
            row["batch_size"] * 7 / row["blocked_s"]
        )
        assert row["output_finite"] is True


def timed_part(row: dict, timer: RecordingTimer) -> list[float]:
    """The durations of a row's calls timed one at a time (the only row measured)."""
    return timer.times[row["warmup_calls"] : row["warmup_calls"] + row["latency_count"]]


def test_min_time_keeps_calling_until_the_time_and_the_minimum_count() -> None:
    """The rule: stop after the first call at which the calls so far number 100 (what p99
    needs) and last min_time_s."""
    timer = RecordingTimer()
    settings = LatencySettings(batch_sizes=(1,), warmup=1, warmup_max_s=0.0, min_time_s=0.3)
    (row,) = rows_for(sleeper_source(Sleeper(0.002)), settings, timer)
    times = timed_part(row, timer)
    assert len(times) >= 100 and sum(times) >= 0.3  # enough now ...
    assert len(times) == 100 or sum(times[:-1]) < 0.3  # ... and not one call before
    n = len(times)
    assert row["latency_p99_s"] is not None  # 100 calls or more
    missing = None if n >= 368 else f"95% interval needs >= 368 calls, had {n}"
    assert row["latency_p99_reason"] == missing
    settings = LatencySettings(batch_sizes=(1,), warmup=1, warmup_max_s=0.0, min_time_s=1e-6)
    (row,) = rows_for(sleeper_source(Sleeper(0.0)), settings)
    assert row["latency_count"] == MIN_REPEATS == 100  # however short min_time is


def test_max_time_stops_a_slow_row_with_fewer_calls_and_says_what_is_missing() -> None:
    """A row whose calls are slow stops once its calls last max_time_s, however few; the
    percentiles they cannot support are null with the reason."""
    timer = RecordingTimer()
    settings = LatencySettings(
        batch_sizes=(1,), warmup=1, warmup_max_s=0.0, min_time_s=0.05, max_time_s=0.3
    )
    (row,) = rows_for(sleeper_source(Sleeper(0.01)), settings, timer)
    times = timed_part(row, timer)
    n = len(times)
    assert 10 <= n < 100 and sum(times) >= 0.3 and sum(times[:-1]) < 0.3
    assert row["latency_p90_s"] is not None
    assert row["latency_p99_s"] is None and row["latency_p99_ci_s"] is None
    assert row["latency_p99_reason"] == f"needs >= 100 calls, had {n}"
    # max_time_s is never below min_time_s: a longer min_time_s wins
    longer = LatencySettings(min_time_s=0.5, max_time_s=0.1)
    assert not enough_calls(99, 0.4, longer) and enough_calls(1, 0.5, longer)


def test_larger_batches_give_more_images_per_second() -> None:
    """Per image, a batch's typical (median) call against a smaller batch's: on one thread
    (other processes' load stalls a parallel region waiting for a descheduled worker, at
    random and by far more than the batch size changes), paired: each round measures the
    three sizes back to back (a second in all), so a round's sizes share the machine's
    load, which changes over seconds; the median of the rounds' ratios is compared. The
    mean (``images_per_s``) has every stall in it, the median of hundreds of calls hardly
    any."""
    source = fresh_generator("mlp", ["dataset.image_size=16", "dataset.channels=1"])
    settings = LatencySettings(
        batch_sizes=(1, 16, 128), warmup=3, warmup_min_s=0.05, min_time_s=0.1
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rounds = [rows_for(source, settings) for _ in range(5)]
    finally:
        torch.set_num_threads(threads)
    gains: dict[tuple[int, int], list[float]] = {(1, 16): [], (16, 128): [], (1, 128): []}
    for rows in rounds:
        per_image: dict[int, float] = {}
        for row in rows:
            assert row["status"] == "ok" and row["latency_count"] >= 10
            assert row["images_per_s"] <= row["batch_size"] / row["latency_min_s"]
            per_image[row["batch_size"]] = row["latency_p50_s"] / row["batch_size"]
        for small, large in gains:
            gains[small, large].append(per_image[small] / per_image[large])
    median = {pair: statistics.median(values) for pair, values in gains.items()}
    assert median[1, 16] > 1 and median[16, 128] > 1, gains
    # An image alone pays a whole call's overhead (Python, dispatch: ~60 us on one core);
    # in a batch of 128 it shares it and costs ~3 us of arithmetic: about 15-20 x per image
    # on an idle machine. 5 x leaves room for load that slows the batch's arithmetic more
    # than the single call's overhead; a batch timed image by image, or rows mixed up,
    # gives ~1 x.
    assert median[1, 128] > 5, gains


def test_p50_agrees_with_torch_benchmark_timer_within_10_percent() -> None:
    """Same call, same thread count, interleaved rounds; the least disturbed round of each
    is compared (as timeit advises on a shared machine: CPU steal only ever adds time).
    A burst of load can spoil every one of a few rounds, so rounds go on (up to 24) until
    the minima agree; a systematic difference never does and fails."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        source = fresh_generator("sagan", ["model.width=0.5"])
        settings = LatencySettings(batch_sizes=(16,), warmup=3, min_time_s=0.3)
        G, _ = prepare_generator(source, settings)
        z = torch.randn(16, 128)
        ours, theirs = [], []
        for _ in range(24):
            (row,) = measure_rows([Timed("G", G, (128,))], settings, CPU, CallTimer(CPU))
            ours.append(row["latency_p50_s"])
            timer = Timer(
                "with torch.inference_mode(): G(z)",
                globals={"G": G, "z": z, "torch": torch},
                num_threads=1,
            )
            theirs.append(timer.blocked_autorange(min_run_time=0.3).median)
            if len(ours) >= 4 and min(ours) == pytest.approx(min(theirs), rel=0.10):
                break
    finally:
        torch.set_num_threads(threads)
    assert min(ours) == pytest.approx(min(theirs), rel=0.10), (ours, theirs)


def test_every_field_has_a_unit_and_the_latency_page_documents_it() -> None:
    rows = rows_for(
        sleeper_source(Sleeper(0.001)), LatencySettings(batch_sizes=(2,), warmup=1, repeats=3)
    )
    fields = set(rows[0])
    assert fields == set(base_row("fp32", "off", 1, LatencySettings()))
    unitless = sorted(f for f in fields - UNITLESS if not f.endswith(UNITS))
    assert not unitless, f"fields without a unit: {unitless}"
    page = docs_text("latency.md")
    missing = sorted(f for f in fields if f"`{f}`" not in page)
    assert not missing, f"latency fields not documented in docs/latency.md: {missing}"
    row = rows[0]
    assert row["timer"] == "perf_counter"
    assert 0 < row["timer_resolution_s"] < 1e-4
    assert row["peak_cuda_alloc_bytes"] is None and row["rss_growth_bytes"] >= 0
    assert row["weights_bytes"] == 4  # the one fp32 parameter


def test_timer_resolution_is_a_real_clock_step() -> None:
    resolution = perf_counter_resolution_s()
    assert 0 < resolution < 1e-4
    assert resolution >= time.get_clock_info("perf_counter").resolution


def test_an_out_of_memory_batch_is_recorded_and_the_others_still_run() -> None:
    settings = LatencySettings(batch_sizes=(64, 1, 2), warmup=1, repeats=3)
    rows = rows_for(sleeper_source(Sleeper(0.001, oom_at=64)), settings)
    assert [r["status"] for r in rows] == ["oom", "ok", "ok"]
    assert "out of memory" in rows[0]["reason"] and rows[0]["latency_p50_s"] is None


class Huge(Sleeper):
    """A generator whose weights alone do not fit on the device."""

    def _apply(self, fn, recurse=True):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


def test_weights_that_do_not_fit_mark_every_row_of_their_precision_oom() -> None:
    settings = LatencySettings(batch_sizes=(1, 2), precisions=("bf16",), warmup=1, repeats=2)
    rows = rows_for(sleeper_source(Huge(0.0)), settings)  # casting to bf16 moves the weights
    assert [r["status"] for r in rows] == ["oom", "oom"]
    assert "80.00 GiB" in rows[0]["reason"]


def test_noise_is_drawn_outside_the_timed_call_unless_asked() -> None:
    for include, distinct in ((False, 1), (True, 8)):
        sleeper = Sleeper(0.0)
        settings = LatencySettings(
            batch_sizes=(2,), warmup=1, warmup_max_s=0.0, repeats=5, include_sampling=include
        )
        (row,) = rows_for(sleeper_source(sleeper), settings)
        assert row["status"] == "ok" and len(sleeper.seen) == 8  # 1 warm-up, 5 timed, block 2
        assert len({tuple(z.flatten().tolist()) for z in sleeper.seen}) == distinct


def test_a_generator_error_fails_its_row_only() -> None:
    settings = LatencySettings(batch_sizes=(3, 1), warmup=1, repeats=2)
    bad, good = rows_for(sleeper_source(Sleeper(0.0, fail_at=3)), settings)
    assert bad["status"] == "failed" and bad["reason"] == "ValueError: a bug in the generator"
    assert good["status"] == "ok"


def test_channels_last_reaches_the_convolutions() -> None:
    source = fresh_generator("dcgan", ["model.width=0.25", "dataset.image_size=16"])
    formats: list[bool] = []
    conv = next(m for m in source.generator.modules() if isinstance(m, nn.ConvTranspose2d))
    conv.register_forward_hook(
        lambda m, args, out: formats.append(out.is_contiguous(memory_format=torch.channels_last))
    )
    for channels_last in (False, True):
        formats.clear()
        settings = LatencySettings(
            batch_sizes=(4,), warmup=1, repeats=2, channels_last=channels_last
        )
        (row,) = rows_for(source, settings)
        assert row["status"] == "ok" and row["channels_last"] is channels_last
        assert formats and all(f is channels_last for f in formats)


def test_threads_apply_while_timing_and_are_restored(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    settings = LatencySettings(batch_sizes=(1,), warmup=1, repeats=2, threads=1)
    result = run_latency(sleeper_source(Sleeper(0.0)), settings, CPU, tmp_path)
    assert result.environment["torch_threads"] == 1
    assert torch.get_num_threads() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_exits_2(tmp_path: Path) -> None:
    result = invoke("--model", "mlp", "--device", "cuda", "--output", str(tmp_path / "never"))
    assert result.exit_code == 2 and "no CUDA device is visible" in result.output
    assert not (tmp_path / "never").exists()


def test_unsupported_combinations_are_skipped_with_the_reason(monkeypatch) -> None:
    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    settings = LatencySettings(
        batch_sizes=(1,),
        precisions=("fp32", "fp16"),
        compile_modes=("off", "default", "cuda-graphs"),
        repeats=2,
    )
    rows = rows_for(sleeper_source(Sleeper(0.001)), settings)
    status = {(r["precision"], r["compile"]): (r["status"], r["reason"]) for r in rows}
    assert status[("fp32", "off")] == ("ok", None)
    assert status[("fp32", "cuda-graphs")] == ("skipped", "CUDA graphs need a CUDA device")
    assert status[("fp32", "default")][0] == "skipped"
    assert "torch.compile is not supported" in status[("fp32", "default")][1]
    for mode in ("off", "default"):
        skipped, reason = status[("amp-fp16", mode)]  # fp16: an alias
        assert skipped == "skipped" and "fp16 on the CPU" in reason


def test_bf16_casts_weights_and_activations() -> None:
    source = fresh_generator("dcgan", ["model.width=0.25", "dataset.image_size=16"])
    # bf16 first: its cast works on a copy, so the fp32 row after it is fp32.
    settings = LatencySettings(batch_sizes=(4,), precisions=("bf16", "fp32"), warmup=1, repeats=3)
    bf16, fp32 = rows_for(source, settings)
    assert fp32["status"] == bf16["status"] == "ok"
    assert bf16["output_finite"] is True
    # Half the bytes, but for batch norm's int64 counters, which stay as they are.
    assert bf16["weights_bytes"] == pytest.approx(fp32["weights_bytes"] / 2, rel=0.01)


def test_torch_compile_runs_on_the_cpu_with_its_first_call_reported() -> None:
    source = fresh_generator(
        "mlp", ["model.hidden=16", "model.depth=1", "dataset.image_size=8", "dataset.channels=1"]
    )
    settings = LatencySettings(batch_sizes=(2,), compile_modes=("off", "default"), repeats=5)
    eager, compiled = rows_for(source, settings)
    assert eager["status"] == "ok" and compiled["status"] == "ok", compiled["reason"]
    assert compiled["first_call_s"] > 10 * compiled["latency_p50_s"]  # compilation


def test_folding_spectral_norm_keeps_the_output_and_drops_the_parametrisation() -> None:
    source = fresh_generator("sagan", ["model.width=0.25", "dataset.image_size=16"])
    G = source.generator
    G.train()
    G(torch.randn(8, 128))  # a power iteration: u, v no longer the initial ones
    G.eval()
    z = torch.randn(4, 128)
    with torch.inference_mode():
        before = G(z)
        assert fold_spectral_norm(G) == 2  # 16 px: z -> 4x4 and 4x4 -> 8x8 (the output has none)
        after = G(z)
    torch.testing.assert_close(after, before)
    assert not any(hasattr(m, "parametrizations") for m in G.modules())
    with pytest.raises(ValueError, match="eval mode"):
        fold_spectral_norm(G.train())


# ------------------------------------------------------------------ files and sources


def test_files_are_written_and_ctrl_c_keeps_the_rows_measured(tmp_path: Path) -> None:
    settings = LatencySettings(batch_sizes=(1, 8, 16), warmup=1, repeats=3)
    source = sleeper_source(Sleeper(0.001, stop_at=8))
    result = run_latency(source, settings, CPU, tmp_path / "out")
    assert result.interrupted
    assert [r["status"] for r in result.rows] == ["ok", "interrupted", "interrupted"]
    document = json.loads((tmp_path / "out" / JSON_FILE).read_text())
    assert document["interrupted"] and document["rows"][0]["latency_count"] == 3
    assert document["environment"]["torch"] == torch.__version__
    frame = pd.read_csv(tmp_path / "out" / CSV_FILE)
    assert list(frame["status"]) == ["ok", "interrupted", "interrupted"]
    # An interval is [low, high] in latency.json, two columns in latency.csv.
    low, high = document["rows"][0]["latency_p50_ci_s"] or (None, None)
    assert "latency_p50_ci_s" not in frame and low is None  # 3 calls: no interval yet
    assert frame["latency_p50_ci_low_s"].isna().all() and "latency_p99_ci_high_s" in frame
    # The command draws latency.png from these rows (the plot lives with the reports).
    plot = plot_latency(document["rows"], latency_title(document), tmp_path / "out" / PLOT_FILE)
    assert plot.stat().st_size > 10_000


def trained_checkpoint(write_suite) -> Path:
    suite = write_suite(tiny_suite(dataset={"name": "synthetic", "image_size": 8, "channels": 1}))
    result = runner.invoke(app, ["train-suite", str(suite)])
    assert result.exit_code == 0, result.output
    return suite


def test_a_suite_runs_checkpoint_is_timed_with_its_trained_weights(write_suite, tmp_path):
    suite = trained_checkpoint(write_suite)
    out = tmp_path / "lat"
    args = ["--suite", str(suite), "--run", "tiny", "--batch-sizes", "1,4", "--repeats", "3"]
    result = invoke(*args, "--warmup", "1", "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["generator"]["origin"] == "checkpoint"
    assert (
        document["generator"]["iteration"] == 6 and document["generator"]["run_id"] == "tiny-seed0"
    )
    assert [r["batch_size"] for r in document["rows"]] == [1, 4]
    assert json.loads((out / JSON_FILE).read_text())["rows"] == document["rows"]
    checkpoint = tmp_path / "out" / "tiny-seed0" / "checkpoint.pt"
    source = generator_from_checkpoint(checkpoint)
    saved = torch.load(checkpoint, weights_only=True)["G"]
    for name, tensor in source.generator.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])
    # --set output_dir finds a suite's runs where they were trained to.
    (tmp_path / "out").rename(tmp_path / "moved")
    moved = ["--set", f"output_dir={tmp_path / 'moved'}", "--output", str(tmp_path / "lat2")]
    result = invoke(*args, "--warmup", "1", *moved)
    assert result.exit_code == 0, result.output
    result = invoke(*args, *moved[:2], "--set", "model.width=2")
    assert result.exit_code == 2 and "a checkpoint's model is fixed" in result.output


def test_a_fresh_model_says_its_weights_are_random(tmp_path: Path) -> None:
    result = invoke(
        "--model", "mlp", "--set", "dataset.image_size=8", "--set", "dataset.channels=1",
        "--batch-sizes", "1", "--repeats", "2", "--warmup", "1", "--output", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("latency does not depend on") == 1  # said once, not in every title
    assert "a mlp generator (random)" in text and "weights random" in text
    assert "results:" in result.output and (tmp_path / CSV_FILE).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "mlp", "--batch-sizes", "0,abc"], "--batch-sizes 0,abc: expected positive"),
        (["--model", "mlp", "--precision", "fp32,fp8"], "--precision fp32,fp8: unknown fp8"),
        (["--model", "mlp", "--compile", "fastest"], "--compile fastest: unknown fastest"),
        (["--model", "mlp", "--device", "tpu"], "--device tpu: choose one of auto, cpu, cuda"),
        (["--model", "mlp", "--repeats", "3", "--min-time", "1"], "choose one"),
        (["--model", "mlp", "--repeats", "3", "--max-time", "1"], "caps --min-time's calls"),
        (["--model", "gan9000"], "unknown 'gan9000'"),
        (["--model", "mlp", "--set", "model.depth=99"], "model.depth"),
        (["--model", "mlp", "--set", "budget.iterations=5"], "model.* and dataset.*"),
        (["--checkpoint", "missing.pt"], "--checkpoint missing.pt: file not found"),
        (["--set", "model.width=2"], "choose a generator"),  # none given, but a --set
        (["--suite", "quick"], "--suite and --run go together"),
    ],
)
def test_bad_input_gives_one_clear_message_and_exit_2(args, message, tmp_path) -> None:
    result = invoke(*args, "--output", str(tmp_path / "never"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "never").exists()


def test_a_checkpoint_of_another_model_or_no_checkpoint_exits_2(write_suite, tmp_path) -> None:
    untrained = write_suite(tiny_suite(), name="untrained.yaml")
    result = invoke("--suite", str(untrained), "--run", "tiny")
    assert result.exit_code == 2 and "run tiny-seed0 has no checkpoint yet" in result.output
    trained_checkpoint(write_suite)
    checkpoint = tmp_path / "out" / "tiny-seed0" / "checkpoint.pt"
    result = invoke("--checkpoint", str(checkpoint), "--model", "sagan")
    assert result.exit_code == 2 and "holds a mlp generator, not sagan" in result.output
    state = torch.load(checkpoint, weights_only=True)
    state["config"]["model"] = {"name": "dcgan"}  # a config that does not fit the weights
    state["config"]["dataset"]["image_size"] = 16
    torch.save(state, tmp_path / "mismatch.pt")
    result = invoke("--checkpoint", str(tmp_path / "mismatch.pt"))
    assert result.exit_code == 2 and "generator weights do not fit the dcgan" in result.output
    torch.save({"weights": torch.ones(3)}, tmp_path / "other.pt")
    result = invoke("--checkpoint", str(tmp_path / "other.pt"))
    assert result.exit_code == 2 and "not a ganbench run checkpoint" in result.output
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    result = invoke("--checkpoint", str(tmp_path / "junk.pt"))
    assert result.exit_code == 2 and "not a checkpoint (not a PyTorch file" in result.output
    # A summary.json given by mistake, and a pickle with objects: ganbench's words, never
    # torch's advice to load with weights_only=False (which could run the file's code).
    (tmp_path / "summary.json").write_text('{"status": "finished"}')
    result = invoke("--checkpoint", str(tmp_path / "summary.json"))
    assert result.exit_code == 2 and "not a checkpoint (not a PyTorch file" in result.output
    torch.save({"config": {}, "G": Path("x")}, tmp_path / "objects.pt")
    result = invoke("--checkpoint", str(tmp_path / "objects.pt"))
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "which ganbench does not unpickle" in output
    assert "weights_only" not in output
    result = invoke("--checkpoint", str(checkpoint), "--set", "model.width=2")
    assert result.exit_code == 2 and "a checkpoint's model is fixed" in result.output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_in_a_real_process_keeps_the_measured_rows(tmp_path: Path, stop) -> None:
    out = tmp_path / "lat"
    command = [sys.executable, "-m", "ganbench", "latency", "--model", "mlp"]
    command += ["--set", "dataset.image_size=8", "--batch-sizes", "1,2,4", "--min-time", "5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Started as a background job is (SIGINT ignored, inherited): a kill -INT still stops it.
    proc = subprocess.Popen(
        [*command, "--output", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the first row is written (5 s of calls)
        assert proc.poll() is None
        if (out / JSON_FILE).is_file() and json.loads((out / JSON_FILE).read_text())["rows"]:
            break
        time.sleep(0.05)
    proc.send_signal(stop)  # inside the second row's 5 s
    assert proc.wait(timeout=60) == 128 + stop
    document = json.loads((out / JSON_FILE).read_text())
    assert document["interrupted"]
    assert [r["status"] for r in document["rows"]] == ["ok", "interrupted", "interrupted"]
    named = "Ctrl-C" if stop == signal.SIGINT else "SIGTERM"
    assert {r["reason"] for r in document["rows"][1:]} == {named}
    assert document["rows"][0]["latency_count"] >= 10
    assert (out / CSV_FILE).is_file() and (out / PLOT_FILE).is_file()


def test_a_fresh_generator_is_the_same_every_time_and_leaves_the_global_rng() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = fresh_generator("dcgan", ["model.width=0.25", "dataset.image_size=16"])
    assert torch.equal(torch.rand(3), expected)
    second = fresh_generator("dcgan", ["model.width=0.25", "dataset.image_size=16"])
    again = second.generator.state_dict()
    for name, tensor in first.generator.state_dict().items():
        assert torch.equal(tensor, again[name])
    assert first.shape == (3, 16, 16) and first.describe()["parameters"] > 0


def test_precisions_use_the_levers_names_with_fp16_and_bf16_as_aliases() -> None:
    settings = LatencySettings.from_options(precision="fp32,bf16,amp-bf16,fp16")
    assert settings.precisions == ("fp32", "amp-bf16", "amp-fp16")  # one name each, once
    assert LatencySettings(precisions=("bf16",)).precisions == ("amp-bf16",)


def test_a_row_whose_calls_varied_widely_is_flagged_unsteady() -> None:
    from ganbench.cli.render_results import unsteady_rows

    row = base_row("fp32", "off", 32, LatencySettings())
    steady = {**row, "status": "ok", "latency_mean_s": 0.010, "latency_std_s": 0.001}
    shaky = {**steady, "batch_size": 256, "latency_std_s": 0.009}
    (line,) = unsteady_rows([steady, shaky])
    assert line.startswith("fp32 compile off batch 256: std 9 ms is 90% of the mean")


def test_torchscript_and_export_files_are_named_for_what_they_are(tmp_path) -> None:
    """Not "holds objects other than tensors ... could run code", nor torch's warning:
    the archive's names say what it is, and nothing is loaded."""
    import warnings

    from ganbench.errors import UserError

    net = nn.Sequential(nn.Linear(4, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
        torch.jit.script(net).save(str(tmp_path / "g.ts.pt"))
    torch.export.save(torch.export.export(net, (torch.randn(2, 4),)), str(tmp_path / "g.pt2"))
    for name, kind in (("g.ts.pt", "a TorchScript archive"), ("g.pt2", "a torch.export")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch.load's "looks like a TorchScript" warning
            with pytest.raises(UserError, match=f"{name}: {kind}.* not a ganbench run checkpoint"):
                generator_from_checkpoint(tmp_path / name)


def test_the_title_names_the_timer_of_a_row_that_was_timed() -> None:
    """An interrupted first row has no timer: the title takes the first row that has one,
    else '-', never 'None'."""
    from types import SimpleNamespace

    from ganbench.cli.render_results import _latency_title

    generator = {"model": {"name": "mlp"}, "weights": "random"}
    rows = [{"timer": None}, {"timer": "perf_counter"}]
    result = SimpleNamespace(
        generators=[generator], generator=generator, settings={"channels_last": False},
        device="cpu", environment={"torch_threads": 2}, rows=rows,
    )  # fmt: skip
    assert _latency_title(result).endswith("2 threads; timer perf_counter")
    result.rows = [{"timer": None}]
    assert _latency_title(result).endswith("timer -")
