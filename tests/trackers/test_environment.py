"""What a run's environment records."""

from __future__ import annotations

import torch

from ganbench.trackers import environment as environment_module
from ganbench.trackers.environment import GPU_SETTINGS, capture_environment, gpu_settings

CPU = torch.device("cpu")
CUDA = torch.device("cuda", 0)

# --------------------------------------------------------------- environment


def test_environment_names_versions_hardware_precision_and_seed() -> None:
    env = capture_environment(CPU, seed=7)
    assert env["seed"] == 7 and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_count"] >= 1
    assert env["gpu_name"] is None and env["driver"] is None
    assert env["cudnn_enabled"] is torch.backends.cudnn.enabled
    assert env["cudnn_benchmark"] is torch.backends.cudnn.benchmark
    assert env["cudnn_deterministic"] is torch.backends.cudnn.deterministic
    assert env["cudnn_allow_tf32"] is torch.backends.cudnn.allow_tf32
    assert env["matmul_allow_tf32"] is torch.backends.cuda.matmul.allow_tf32
    assert env["float32_matmul_precision"] == torch.get_float32_matmul_precision()
    assert all(env[key] is None for key in GPU_SETTINGS)  # a CPU run: no NVML asked


def test_the_environment_records_the_cudnn_and_tf32_flags_in_force(monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        env = capture_environment(CPU)
    finally:
        torch.set_float32_matmul_precision(previous)
    assert env["cudnn_benchmark"] is True and env["cudnn_deterministic"] is True
    assert env["float32_matmul_precision"] == "high"


class FakeNvml:
    """NVML as an H100 answers it: a 700 W default limit capped at 500 W, clocks in MHz,
    MIG off; ``refuse`` names queries that raise as an unsupported one does."""

    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse

    def __getattribute__(self, name: str):
        if name in object.__getattribute__(self, "refuse"):
            raise RuntimeError(f"{name}: NVML_ERROR_NOT_SUPPORTED")
        return object.__getattribute__(self, name)

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 500_000

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h):
        return 700_000

    def nvmlDeviceGetClockInfo(self, h, kind):
        return {1: 1755, 2: 2619}[kind]

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return {1: 1980, 2: 2619}[kind]

    def nvmlDeviceGetApplicationsClock(self, h, kind):
        return {1: 1980, 2: 2619}[kind]

    def nvmlDeviceGetMigMode(self, h):
        return [0, 0]


def test_gpu_power_limit_clocks_and_mig_mode_come_from_nvml(monkeypatch) -> None:
    monkeypatch.setattr(environment_module, "open_device", lambda device, nvml: "handle")
    settings = gpu_settings(CUDA, nvml=FakeNvml())
    assert settings == {
        "gpu_power_limit_w": 500.0,
        "gpu_power_default_limit_w": 700.0,
        "gpu_sm_clock_mhz": 1755,
        "gpu_mem_clock_mhz": 2619,
        "gpu_sm_clock_max_mhz": 1980,
        "gpu_mem_clock_max_mhz": 2619,
        "gpu_sm_clock_app_mhz": 1980,
        "gpu_mem_clock_app_mhz": 2619,
        "gpu_mig_mode": "disabled",
    }


def test_a_query_nvml_refuses_is_none_and_no_nvml_is_all_none(monkeypatch) -> None:
    monkeypatch.setattr(environment_module, "open_device", lambda device, nvml: "handle")
    refused = ("nvmlDeviceGetApplicationsClock", "nvmlDeviceGetMigMode")
    settings = gpu_settings(CUDA, nvml=FakeNvml(refuse=refused))
    assert settings["gpu_sm_clock_app_mhz"] is None and settings["gpu_mig_mode"] is None
    assert settings["gpu_power_limit_w"] == 500.0 and settings["gpu_sm_clock_max_mhz"] == 1980
    assert gpu_settings(CUDA, nvml=FakeNvml(refuse=("nvmlInit",))) == dict.fromkeys(GPU_SETTINGS)

    def no_device(device, nvml):
        raise RuntimeError("NVML_ERROR_NOT_FOUND")

    monkeypatch.setattr(environment_module, "open_device", no_device)
    assert gpu_settings(CUDA, nvml=FakeNvml()) == dict.fromkeys(GPU_SETTINGS)


def test_load_watch_sees_another_process_taking_the_cpu() -> None:
    """The share of the CPUs other processes took while a run ran (here: a busy child
    process for about a second, against this one sleeping)."""
    import subprocess
    import sys
    import time

    from ganbench.trackers.load import LoadWatch

    quiet = LoadWatch()
    time.sleep(0.3)
    idle = quiet.during()
    watch = LoadWatch()
    hog = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1: pass"]
    )
    hog.wait()
    busy = watch.during()
    assert set(busy) == {
        "load_average_1m_start",
        "load_average_1m_end",
        "others_cpu_pct",
        "cpu_steal_pct",
    }
    assert 0 <= idle["others_cpu_pct"] <= 100 and 0 <= busy["others_cpu_pct"] <= 100
    # One CPU of N busy for most of the window: at least a quarter of a CPU's share.
    import psutil

    assert busy["others_cpu_pct"] >= 25 / (psutil.cpu_count() or 1), busy
