"""NVML sampler: GPU utilisation, memory, power, clocks, temperature, throttling, energy.

A background thread samples every GPU the process trains on (its own device; under
DataParallel every visible one) through nvidia-ml-py at a fixed rate while training
runs. Clocks cannot be locked on shared machines, so the SM clock and the clock-event
("throttle") reasons are recorded instead, as the share of samples in which each reason
was active. Energy comes from each GPU's total-energy counter (Volta and later) read at
start and stop, with the excluded windows (evaluation, checkpoints, the profiler's
export ...) subtracted; where the counter is missing, sampled power is integrated over
training time instead, and the method is named in the summary. Samples taken inside an
excluded window are written to the CSV but left out of every average, extreme and share.
Under ddp each rank samples its own GPU and rank 0 sums the group (``combine``). No GPU,
no NVML or an unsupported query gives null fields with a reason, never an error.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ganbench.trackers.base import Tracker

# NVML clock-event reason bits (nvmlClocksEventReason*), named as in nvidia-smi.
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

CSV_FIELDS = (
    "time_s",
    "unix_s",  # the same instant as the run's events' times (what places it at an iteration)
    "gpu_util_pct",
    "mem_util_pct",
    "mem_used_bytes",
    "process_mem_bytes",
    "power_w",
    "sm_clock_mhz",
    "temperature_c",
    "throttle_reasons",
    "gpu",
)


def load_nvml() -> ModuleType:
    import pynvml

    return pynvml


def open_device(device: torch.device, nvml: ModuleType) -> Any:
    """The NVML handle of a torch CUDA device (by UUID, so CUDA_VISIBLE_DEVICES is safe)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    if uuid is not None:
        with contextlib.suppress(Exception):
            return nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
    return nvml.nvmlDeviceGetHandleByIndex(index)


def driver_version(nvml: ModuleType | None = None) -> str | None:
    try:
        nvml = nvml or load_nvml()
        nvml.nvmlInit()
        version = nvml.nvmlSystemGetDriverVersion()
    except Exception:  # noqa: BLE001  (no NVML: no driver version)
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


class GpuMonitor(Tracker):
    """Samples the run's GPUs in a thread between ``start()`` and ``stop()``;
    ``summary()`` after. ``indices``: every CUDA device the process trains on (None: the
    run's device only)."""

    def __init__(
        self,
        device: torch.device,
        rate_hz: float,
        csv_path: Path | None = None,
        nvml: ModuleType | None = None,
        clock: Callable[[], float] = time.perf_counter,
        indices: list[int] | None = None,
    ) -> None:
        """``clock``: seconds for the samples' times and the power integral (a test's
        stand-in; the sampling period is waited for on the real clock)."""
        self.rate_hz, self.csv_path, self.clock = rate_hz, csv_path, clock
        self.reason: str | None = None
        self.nvml: ModuleType | None = None
        self.gpus: list[_Gpu] = []
        self.unsupported: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._excluding = False
        self._t0 = 0.0
        if device.type != "cuda":
            self.reason = "not a CUDA run"
        elif rate_hz <= 0:
            self.reason = "sampler off (measure.gpu_sample_hz: 0)"
        else:
            self._open(device, indices, nvml)

    def _open(self, device: torch.device, indices: list[int] | None, nvml: Any) -> None:
        try:
            self.nvml = nvml or load_nvml()
            self.nvml.nvmlInit()
            devices = [torch.device("cuda", i) for i in indices] if indices else [device]
            self.gpus = [_Gpu(d.index, open_device(d, self.nvml)) for d in devices]
        except Exception as err:  # noqa: BLE001  (recorded as the reason)
            self.nvml, self.reason = None, f"NVML unavailable: {type(err).__name__}: {err}"

    @property
    def active(self) -> bool:
        return self.nvml is not None

    @property
    def totals(self) -> _Totals:
        """The first GPU's totals (the run's own device)."""
        return self.gpus[0].totals

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> GpuMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self.active:
            return
        self._t0 = self.clock()
        for gpu in self.gpus:
            gpu.energy_start_mj = self._energy_mj(gpu)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ganbench-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and add this session's energy to the totals (idempotent)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        for gpu in self.gpus:
            end = self._energy_mj(gpu)
            with self._lock:
                gpu.close_energy(end)

    @contextlib.contextmanager
    def excluded(self, phase: str = "") -> Iterator[None]:
        """A window (evaluation, checkpoint ...) that is not training: its energy and its
        samples are left out."""
        if not self.active or self._thread is None:
            yield
            return
        before = [self._energy_mj(gpu) for gpu in self.gpus]
        self._excluding = True
        try:
            yield
        finally:
            self._excluding = False
            for gpu, mj in zip(self.gpus, before, strict=True):
                after = self._energy_mj(gpu)
                if mj is not None and after is not None:
                    gpu.excluded_mj += after - mj

    def _energy_mj(self, gpu: _Gpu) -> int | None:
        """A GPU's total-energy counter in millijoules (None where unsupported)."""
        return self._query("energy", self.nvml.nvmlDeviceGetTotalEnergyConsumption, gpu.handle)

    # ----------------------------------------------------------------- sampling

    def _loop(self) -> None:
        writer, file = self._open_csv()
        period = 1.0 / self.rate_hz
        try:
            while True:
                for row in self.sample_once():
                    if writer is not None:
                        writer.writerow(row)
                if file is not None:
                    file.flush()
                if self._stop.wait(period):
                    break
        finally:
            if file is not None:
                file.close()

    def _open_csv(self) -> tuple[Any, Any]:
        if self.csv_path is None:
            return None, None
        new = not self.csv_path.exists()
        fields = CSV_FIELDS if new else _header(self.csv_path) or CSV_FIELDS
        file = open(self.csv_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        # A run resumed from an older ganbench's folder keeps its file's columns.
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        return writer, file

    def sample_once(self) -> list[dict[str, Any]]:
        """Query every field of every GPU once and fold it into the totals; the rows."""
        counted = not self._excluding
        rows = []
        for gpu in self.gpus:
            now = self.clock()
            row, reasons = self._sample(gpu.handle)
            row.update(time_s=now - self._t0, unix_s=time.time(), gpu=gpu.index)
            with self._lock:
                gpu.add(row, reasons, now, counted)
            rows.append(row)
        return rows

    def _sample(self, h: Any) -> tuple[dict[str, Any], int | None]:
        nv = self.nvml
        util = self._query("utilization", nv.nvmlDeviceGetUtilizationRates, h)
        memory = self._query("memory", nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = self._query("power", nv.nvmlDeviceGetPowerUsage, h)
        clock = self._query("sm_clock", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
        temp = self._query("temperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
        reasons = self._query("throttle", self._throttle_mask, h)
        row = {
            "gpu_util_pct": util.gpu if util is not None else None,
            "mem_util_pct": util.memory if util is not None else None,
            "mem_used_bytes": memory.used if memory is not None else None,
            "process_mem_bytes": self._process_memory(h),
            "power_w": power_mw / 1000 if power_mw is not None else None,
            "sm_clock_mhz": clock,
            "temperature_c": temp,
            "throttle_reasons": "|".join(_reason_names(reasons)) if reasons is not None else None,
        }
        return row, reasons

    def _throttle_mask(self, handle: Any) -> int:
        nv = self.nvml
        getter = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or (
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        return int(getter(handle))

    def _process_memory(self, handle: Any) -> int | None:
        procs = self._query(
            "process_memory", self.nvml.nvmlDeviceGetComputeRunningProcesses, handle
        )
        if procs is None:
            return None
        mine = [p.usedGpuMemory for p in procs if p.pid == os.getpid() and p.usedGpuMemory]
        return max(mine) if mine else None

    def _query(self, field: str, fn: Any, *args: Any) -> Any:
        """One NVML call; a field that fails once (not supported) is not asked again."""
        if field in self.unsupported:
            return None
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001  (pynvml raises one class per NVML error code)
            self.unsupported.add(field)
            return None

    # ------------------------------------------------------------------ results

    def per_gpu(self) -> list[dict[str, Any]]:
        """Every GPU's totals as plain numbers (a deep copy: the thread keeps adding)."""
        with self._lock:
            return [{"index": g.index, **copy.deepcopy(g.totals.__dict__)} for g in self.gpus]

    def state_dict(self) -> dict[str, Any]:
        return {"gpu": self.per_gpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("gpu")
        if isinstance(saved, dict):  # an older ganbench's: one GPU
            saved = [saved]
        for gpu, totals in zip(self.gpus, saved or [], strict=False):
            gpu.totals = _Totals(**{k: v for k, v in totals.items() if k != "index"})

    def summary(self, images: int, group: list[dict[str, Any]] | None = None) -> GpuUse:
        """GPU figures of the training loop so far; ``images``: real images trained on
        by the group; ``group``: every GPU's ``per_gpu()`` entries where other processes
        trained too (ddp, gathered to rank 0), else this process's GPUs."""
        gpus = group if group is not None else self.per_gpu()
        return GpuUse(**combine(gpus, images, self.rate_hz, self.reason, sorted(self.unsupported)))


class _Gpu:
    """One sampled GPU: its NVML handle, totals and this session's energy counter."""

    def __init__(self, index: int | None, handle: Any) -> None:
        self.index, self.handle = index, handle
        self.totals = _Totals()
        self.energy_start_mj: int | None = None
        self.excluded_mj = 0
        self.last_t: float | None = None

    def add(self, row: dict[str, Any], reasons: int | None, now: float, counted: bool) -> None:
        dt = now - self.last_t if self.last_t is not None else None
        self.last_t = now
        self.totals.add(row, reasons, dt, counted)

    def close_energy(self, end: int | None) -> None:
        totals = self.totals
        if self.energy_start_mj is not None and end is not None:
            totals.energy_counter_j += (end - self.energy_start_mj - self.excluded_mj) / 1000
            totals.energy_method = "counter"
        elif totals.power_samples:
            totals.energy_method = "power_integral"
        self.energy_start_mj, self.excluded_mj, self.last_t = None, 0, None


@dataclass(frozen=True)
class GpuUse:
    """What NVML saw while a run trained, over every GPU it trained on: utilisation,
    memory, power, clocks, temperature, throttling and energy, with the excluded windows
    (evaluation, checkpoints ...) left out of all of them; None where not measured, with
    the reason. Group figures: energy and mean power are sums over the GPUs, utilisation
    and clock means are means over them, maxima are the highest any GPU reached; ``gpus``
    holds each GPU's own."""

    gpu_monitor_reason: str | None
    gpu_unsupported_queries: list[str]
    gpu_count: int | None
    gpu_samples: int
    gpu_samples_excluded: int
    gpu_sample_hz: float | None
    gpu_sample_hz_target: float | None
    gpu_util_mean_pct: float | None
    gpu_mem_util_mean_pct: float | None
    gpu_mem_used_max_bytes: float | None
    gpu_process_mem_max_bytes: float | None
    power_mean_w: float | None
    power_max_w: float | None
    sm_clock_mean_mhz: float | None
    sm_clock_min_mhz: float | None
    sm_clock_max_mhz: float | None
    temperature_max_c: float | None
    throttle_reason_share: dict[str, float] | None
    energy_j: float | None
    energy_method: str | None
    energy_j_per_image: float | None
    gpus: list[dict[str, Any]] | None


class _Totals:
    """Running sums, extrema and energy of one GPU across a run's sessions (plain
    numbers: resumable). Samples inside excluded windows are only counted."""

    def __init__(self, **state: Any) -> None:
        self.samples = 0
        self.excluded_samples = 0
        self.intervals = 0
        self.interval_s = 0.0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.maxima: dict[str, float] = {}
        self.minima: dict[str, float] = {}
        self.throttle_counts: dict[str, int] = {}
        self.throttle_samples = 0
        self.power_samples = 0
        self.energy_counter_j = 0.0
        self.energy_power_j = 0.0
        self.energy_method: str | None = None
        self.__dict__.update(state)

    def add(self, row: dict[str, Any], reasons: int | None, dt: float | None, counted: bool):
        self.samples += 1
        if dt is not None:
            self.intervals += 1
            self.interval_s += dt
        if not counted:
            self.excluded_samples += 1
            return
        for key, value in row.items():
            if key in ("time_s", "unix_s", "throttle_reasons", "gpu") or value is None:
                continue
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
            self.maxima[key] = max(self.maxima.get(key, value), value)
            self.minima[key] = min(self.minima.get(key, value), value)
        if reasons is not None:
            self.throttle_samples += 1
            for name in _reason_names(reasons):
                self.throttle_counts[name] = self.throttle_counts.get(name, 0) + 1
        if row["power_w"] is not None:
            self.power_samples += 1
            self.energy_power_j += row["power_w"] * (dt or 0.0)

    def mean(self, key: str) -> float | None:
        return self.sums[key] / self.counts[key] if self.counts.get(key) else None

    def energy_j(self) -> float | None:
        if self.energy_method == "counter":
            return self.energy_counter_j
        if self.energy_method == "power_integral":
            return self.energy_power_j
        return None

    def own(self, index: int | None) -> dict[str, Any]:
        """This GPU's figures, for the summary's ``gpus`` list."""
        return {
            "index": index,
            "samples": self.samples,
            "gpu_util_mean_pct": self.mean("gpu_util_pct"),
            "power_mean_w": self.mean("power_w"),
            "gpu_mem_used_max_bytes": self.maxima.get("mem_used_bytes"),
            "sm_clock_mean_mhz": self.mean("sm_clock_mhz"),
            "energy_j": self.energy_j(),
        }


def combine(
    gpus: list[dict[str, Any]],
    images: int,
    rate_hz: float,
    reason: str | None,
    unsupported: list[str],
) -> dict[str, Any]:
    """The group's figures from every GPU's totals (see ``GpuUse``)."""
    each = [(g.get("index"), _Totals(**{k: v for k, v in g.items() if k != "index"})) for g in gpus]
    totals = [t for _, t in each]
    samples = sum(t.samples for t in totals)
    if reason is None and not samples:
        reason = "no samples taken (run shorter than one sampling period?)"
    energies = [t.energy_j() for t in totals]
    energy = sum(energies) if totals and None not in energies else None
    methods = {t.energy_method for t in totals}
    intervals, interval_s = sum(t.intervals for t in totals), sum(t.interval_s for t in totals)
    throttled = sum(t.throttle_samples for t in totals)
    reasons: dict[str, int] = {}
    for t in totals:
        for name, count in t.throttle_counts.items():
            reasons[name] = reasons.get(name, 0) + count
    return {
        "gpu_monitor_reason": reason,
        "gpu_unsupported_queries": unsupported,
        "gpu_count": len(totals) if reason is None else None,
        "gpu_samples": samples,
        "gpu_samples_excluded": sum(t.excluded_samples for t in totals),
        "gpu_sample_hz": intervals / interval_s if reason is None and interval_s > 0 else None,
        "gpu_sample_hz_target": rate_hz if reason is None else None,
        "gpu_util_mean_pct": _mean([t.mean("gpu_util_pct") for t in totals]),
        "gpu_mem_util_mean_pct": _mean([t.mean("mem_util_pct") for t in totals]),
        "gpu_mem_used_max_bytes": _extreme(totals, "maxima", "mem_used_bytes", max),
        "gpu_process_mem_max_bytes": _extreme(totals, "maxima", "process_mem_bytes", max),
        "power_mean_w": _sum([t.mean("power_w") for t in totals]),
        "power_max_w": _extreme(totals, "maxima", "power_w", max),
        "sm_clock_mean_mhz": _mean([t.mean("sm_clock_mhz") for t in totals]),
        "sm_clock_min_mhz": _extreme(totals, "minima", "sm_clock_mhz", min),
        "sm_clock_max_mhz": _extreme(totals, "maxima", "sm_clock_mhz", max),
        "temperature_max_c": _extreme(totals, "maxima", "temperature_c", max),
        "throttle_reason_share": {k: v / throttled for k, v in reasons.items()}
        if throttled
        else None,
        "energy_j": energy,
        "energy_method": methods.pop() if len(methods) == 1 else None,
        "energy_j_per_image": energy / images if energy is not None and images else None,
        "gpus": [t.own(index) for index, t in each] if reason is None else None,
    }


def _header(path: Path) -> list[str] | None:
    """The column names of an existing samples file (None when it has none)."""
    with open(path, newline="", encoding="utf-8") as file:
        return next(csv.reader(file), None)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _sum(values: list[float | None]) -> float | None:
    return sum(values) if values and None not in values else None


def _extreme(totals: list[_Totals], kind: str, key: str, pick: Callable) -> float | None:
    values = [getattr(t, kind)[key] for t in totals if key in getattr(t, kind)]
    return pick(values) if values else None


def _reason_names(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
