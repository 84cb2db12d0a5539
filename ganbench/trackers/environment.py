"""What the numbers were measured on: software versions, devices, threads, commit, the
GPU's power limit, clocks and MIG mode, and the cuDNN/TF32 settings in force."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import torch

import ganbench
from ganbench.trackers.nvml import driver_version, load_nvml, open_device


def git_commit() -> str | None:
    """The commit of the ganbench checkout in use (with a -dirty mark), if it is one."""
    root = Path(ganbench.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


LAUNCHER_ENV = "GANBENCH_LAUNCHER"  # set by a launcher in the processes it starts

# What NVML says about the GPU's settings, as recorded (None: not a GPU, no NVML, or a
# query this GPU or driver does not support). The clocks: current (momentary, for the
# record), the maximum the GPU can boost to, and the application clocks (the target an
# administrator may set with nvidia-smi -ac).
GPU_SETTINGS = (
    "gpu_power_limit_w",
    "gpu_power_default_limit_w",
    "gpu_sm_clock_mhz",
    "gpu_mem_clock_mhz",
    "gpu_sm_clock_max_mhz",
    "gpu_mem_clock_max_mhz",
    "gpu_sm_clock_app_mhz",
    "gpu_mem_clock_app_mhz",
    "gpu_mig_mode",
)


CLOCK_QUERIES = (
    ("", "nvmlDeviceGetClockInfo"),
    ("_max", "nvmlDeviceGetMaxClockInfo"),
    ("_app", "nvmlDeviceGetApplicationsClock"),
)


def gpu_settings(device: torch.device, nvml: ModuleType | None = None) -> dict[str, Any]:
    """Power limits (W), clocks (MHz) and MIG mode ("enabled"/"disabled") of a CUDA device
    via NVML; every field that cannot be had is None, never an error."""
    settings: dict[str, Any] = dict.fromkeys(GPU_SETTINGS)
    if device.type != "cuda":
        return settings
    try:
        nv = nvml or load_nvml()
        nv.nvmlInit()
        handle = open_device(device, nv)
    except Exception:  # noqa: BLE001  (no NVML: no settings)
        return settings
    limit = _ask(nv, "nvmlDeviceGetEnforcedPowerLimit", handle)  # mW
    default = _ask(nv, "nvmlDeviceGetPowerManagementDefaultLimit", handle)
    mig = _ask(nv, "nvmlDeviceGetMigMode", handle)  # (current, pending)
    settings["gpu_power_limit_w"] = limit / 1000 if limit is not None else None
    settings["gpu_power_default_limit_w"] = default / 1000 if default is not None else None
    settings["gpu_mig_mode"] = None if mig is None else ("enabled" if mig[0] else "disabled")
    sm, mem = getattr(nv, "NVML_CLOCK_SM", 1), getattr(nv, "NVML_CLOCK_MEM", 2)
    for kind, query in CLOCK_QUERIES:
        settings[f"gpu_sm_clock{kind}_mhz"] = _ask(nv, query, handle, sm)
        settings[f"gpu_mem_clock{kind}_mhz"] = _ask(nv, query, handle, mem)
    return settings


def _ask(nvml: ModuleType, query: str, *args: Any) -> Any:
    """One NVML query; None where this GPU, driver or pynvml does not answer it."""
    try:
        return getattr(nvml, query)(*args)
    except Exception:  # noqa: BLE001  (pynvml raises one class per NVML error code)
        return None


def capture_environment(device: torch.device, seed: int | None = None) -> dict[str, Any]:
    """Versions, hardware, precision and thread settings in force for a run."""
    cuda = device.type == "cuda"
    props = torch.cuda.get_device_properties(device) if cuda else None
    return {
        "ganbench_version": ganbench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "gpu_name": props.name if props else None,
        "gpu_capability": f"{props.major}.{props.minor}" if props else None,
        "gpu_memory_bytes": props.total_memory if props else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "driver": driver_version() if cuda else None,
        **gpu_settings(device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "host_memory_bytes": psutil.virtual_memory().total,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_enabled": torch.backends.cudnn.enabled,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "seed": seed,
        "platform": platform.platform(),
        "launcher": os.environ.get(LAUNCHER_ENV, "inline"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
