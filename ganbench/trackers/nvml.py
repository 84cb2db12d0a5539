"""NVML sampler: GPU utilisation, memory, power, clocks, temperature, throttling, energy.

A background thread samples the run's GPU through nvidia-ml-py at a fixed rate while
training runs. Clocks cannot be locked on shared machines, so the SM clock and the
clock-event ("throttle") reasons are recorded instead, as the share of samples in which
each reason was active. Energy comes from the GPU's total-energy counter (Volta and
later) read at start and stop, with evaluation and checkpoint windows subtracted; where
the counter is missing, sampled power is integrated over training time instead, and the
method is named in the summary. No GPU, no NVML or an unsupported query gives null
fields with a reason, never an error.
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
    "gpu_util_pct",
    "mem_util_pct",
    "mem_used_bytes",
    "process_mem_bytes",
    "power_w",
    "sm_clock_mhz",
    "temperature_c",
    "throttle_reasons",
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
    """Samples one GPU in a thread between ``start()`` and ``stop()``; ``summary()`` after."""

    def __init__(
        self,
        device: torch.device,
        rate_hz: float,
        csv_path: Path | None = None,
        nvml: ModuleType | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``clock``: seconds for the samples' times and the power integral (a test's
        stand-in; the sampling period is waited for on the real clock)."""
        self.rate_hz, self.csv_path, self.clock = rate_hz, csv_path, clock
        self.reason: str | None = None
        self.nvml: ModuleType | None = None
        self.handle: Any = None
        self.unsupported: set[str] = set()
        self.totals = _Totals()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._excluding = False
        self._energy_start_mj: int | None = None
        self._excluded_mj = 0
        self._last_t: float | None = None
        self._t0 = 0.0
        if device.type != "cuda":
            self.reason = "not a CUDA run"
        elif rate_hz <= 0:
            self.reason = "sampler off (measure.gpu_sample_hz: 0)"
        else:
            try:
                self.nvml = nvml or load_nvml()
                self.nvml.nvmlInit()
                self.handle = open_device(device, self.nvml)
            except Exception as err:  # noqa: BLE001  (recorded as the reason)
                self.nvml, self.reason = None, f"NVML unavailable: {type(err).__name__}: {err}"

    @property
    def active(self) -> bool:
        return self.nvml is not None

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
        self._energy_start_mj = self._energy_mj()
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
        end = self._energy_mj()
        with self._lock:
            if self._energy_start_mj is not None and end is not None:
                self.totals.energy_counter_j += (
                    end - self._energy_start_mj - self._excluded_mj
                ) / 1000
                self.totals.energy_method = "counter"
            elif self.totals.power_samples:
                self.totals.energy_method = "power_integral"
            self._energy_start_mj, self._excluded_mj = None, 0

    @contextlib.contextmanager
    def excluded(self, phase: str = "") -> Iterator[None]:
        """A window (evaluation, checkpoint) whose energy is not training energy."""
        if not self.active or self._thread is None:
            yield
            return
        before = self._energy_mj()
        self._excluding = True
        try:
            yield
        finally:
            self._excluding = False
            after = self._energy_mj()
            if before is not None and after is not None:
                self._excluded_mj += after - before

    def _energy_mj(self) -> int | None:
        """The GPU's total-energy counter in millijoules (None where unsupported)."""
        return self._query("energy", self.nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)

    # ----------------------------------------------------------------- sampling

    def _loop(self) -> None:
        writer, file = self._open_csv()
        period = 1.0 / self.rate_hz
        try:
            while True:
                row = self.sample_once()
                if writer is not None:
                    writer.writerow(row)
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
        file = open(self.csv_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        return writer, file

    def sample_once(self) -> dict[str, Any]:
        """Query every field once and fold it into the totals; return the row."""
        nv, h = self.nvml, self.handle
        now = self.clock()
        util = self._query("utilization", nv.nvmlDeviceGetUtilizationRates, h)
        memory = self._query("memory", nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = self._query("power", nv.nvmlDeviceGetPowerUsage, h)
        clock = self._query("sm_clock", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
        temp = self._query("temperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
        reasons = self._query("throttle", self._throttle_mask, h)
        row = {
            "time_s": now - self._t0,
            "gpu_util_pct": util.gpu if util is not None else None,
            "mem_util_pct": util.memory if util is not None else None,
            "mem_used_bytes": memory.used if memory is not None else None,
            "process_mem_bytes": self._process_memory(),
            "power_w": power_mw / 1000 if power_mw is not None else None,
            "sm_clock_mhz": clock,
            "temperature_c": temp,
            "throttle_reasons": "|".join(_reason_names(reasons)) if reasons is not None else None,
        }
        with self._lock:
            dt = now - self._last_t if self._last_t is not None else 0.0
            self._last_t = now
            self.totals.add(row, reasons, dt, counted=not self._excluding)
        return row

    def _throttle_mask(self, handle: Any) -> int:
        nv = self.nvml
        getter = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or (
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        return int(getter(handle))

    def _process_memory(self) -> int | None:
        procs = self._query(
            "process_memory", self.nvml.nvmlDeviceGetComputeRunningProcesses, self.handle
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

    def state_dict(self) -> dict[str, Any]:
        with self._lock:  # a deep copy: the thread keeps adding while it is saved
            return {"gpu": copy.deepcopy(self.totals.__dict__)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("gpu"):
            self.totals = _Totals(**state["gpu"])

    def summary(self, images: int) -> GpuUse:
        """GPU figures of the training loop so far; ``images``: real images trained on."""
        with self._lock:
            figures = self.totals.summary(
                images, self.rate_hz, self.reason, sorted(self.unsupported)
            )
        return GpuUse(**figures)


@dataclass(frozen=True)
class GpuUse:
    """What NVML saw while a run trained: utilisation, memory, power, clocks, temperature,
    throttling and energy (evaluation and checkpoints left out); None where not measured,
    with the reason."""

    gpu_monitor_reason: str | None
    gpu_unsupported_queries: list[str]
    gpu_samples: int
    gpu_sample_hz: float | None
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


class _Totals:
    """Running sums, extrema and energy across a run's sessions (plain numbers: resumable)."""

    def __init__(self, **state: Any) -> None:
        self.samples = 0
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

    def add(self, row: dict[str, Any], reasons: int | None, dt: float, counted: bool) -> None:
        self.samples += 1
        for key, value in row.items():
            if key in ("time_s", "throttle_reasons") or value is None:
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
            if counted:
                self.energy_power_j += row["power_w"] * dt

    def mean(self, key: str) -> float | None:
        return self.sums[key] / self.counts[key] if self.counts.get(key) else None

    def summary(
        self, images: int, rate_hz: float, reason: str | None, unsupported: list[str]
    ) -> dict[str, Any]:
        if self.energy_method == "counter":
            energy = self.energy_counter_j
        elif self.energy_method == "power_integral":
            energy = self.energy_power_j
        else:
            energy = None
        if reason is None and not self.samples:
            reason = "no samples taken (run shorter than one sampling period?)"
        return {
            "gpu_monitor_reason": reason,
            "gpu_unsupported_queries": unsupported,
            "gpu_samples": self.samples,
            "gpu_sample_hz": rate_hz if reason is None else None,
            "gpu_util_mean_pct": self.mean("gpu_util_pct"),
            "gpu_mem_util_mean_pct": self.mean("mem_util_pct"),
            "gpu_mem_used_max_bytes": self.maxima.get("mem_used_bytes"),
            "gpu_process_mem_max_bytes": self.maxima.get("process_mem_bytes"),
            "power_mean_w": self.mean("power_w"),
            "power_max_w": self.maxima.get("power_w"),
            "sm_clock_mean_mhz": self.mean("sm_clock_mhz"),
            "sm_clock_min_mhz": self.minima.get("sm_clock_mhz"),
            "sm_clock_max_mhz": self.maxima.get("sm_clock_mhz"),
            "temperature_max_c": self.maxima.get("temperature_c"),
            "throttle_reason_share": {
                name: count / self.throttle_samples for name, count in self.throttle_counts.items()
            }
            if self.throttle_samples
            else None,
            "energy_j": energy,
            "energy_method": self.energy_method,
            "energy_j_per_image": energy / images if energy is not None and images else None,
        }


def _reason_names(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
