"""The NVML sampler, absent or simulated."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch

from ganbench.trackers import nvml as gpu_module
from ganbench.trackers.nvml import GpuMonitor

CPU = torch.device("cpu")

# ---------------------------------------------------------------------- NVML


def test_no_nvml_gives_null_fields_with_a_reason() -> None:
    monitor = GpuMonitor(CPU, 10)
    monitor.start()
    monitor.stop()
    s = monitor.summary(images=100)
    assert s.gpu_monitor_reason == "not a CUDA run"
    assert s.energy_j is None and s.gpu_util_mean_pct is None

    class Broken:
        def nvmlInit(self) -> None:
            raise OSError("NVML Shared Library Not Found")

    monitor = GpuMonitor(torch.device("cuda"), 10, nvml=Broken())
    monitor.start()
    monitor.stop()
    s = monitor.summary(images=100)
    assert s.gpu_monitor_reason.startswith("NVML unavailable: OSError")
    assert s.energy_j_per_image is None


class FakeNvml:
    """NVML as a driver answers it: utilisation alternating 40/80 %, 250 W, an energy
    counter that advances 1 J per call, throttling for power on every other sample."""

    NVML_CLOCK_SM = 0
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, energy: bool = True) -> None:
        self.calls, self.energy_mj, self.has_energy = 0, 1_000_000, energy

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetUtilizationRates(self, h):
        self.calls += 1
        return SimpleNamespace(gpu=40 if self.calls % 2 else 80, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=2 * 2**30)

    def nvmlDeviceGetPowerUsage(self, h):
        return 250_000

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1980 if self.calls % 2 else 1755

    def nvmlDeviceGetTemperature(self, h, kind):
        return 60 + self.calls

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4 if self.calls % 2 == 0 else 0x0

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        import os

        return [SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * 2**30)]

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.has_energy:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        self.energy_mj += 1000
        return self.energy_mj


def test_sampler_aggregates_nvml_readings_and_subtracts_excluded_energy(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: "handle")
    fake = FakeNvml()
    monitor = GpuMonitor(torch.device("cuda"), 200, tmp_path / "gpu.csv", nvml=fake)
    monitor.start()  # energy read 1
    time.sleep(0.2)
    with monitor.excluded():  # reads 2 and 3: 1 J excluded
        pass
    monitor.stop()  # read 4: counter moved 3 J, 1 J of it excluded
    s = monitor.summary(images=400)
    assert s.gpu_monitor_reason is None and s.gpu_samples >= 2
    assert s.energy_method == "counter"
    assert s.energy_j == pytest.approx(2.0) and s.energy_j_per_image == pytest.approx(0.005)
    assert 40 <= s.gpu_util_mean_pct <= 80 and s.power_mean_w == pytest.approx(250)
    assert s.sm_clock_min_mhz == 1755 and s.sm_clock_max_mhz == 1980
    assert s.gpu_process_mem_max_bytes == 3 * 2**30
    assert 0.2 < s.throttle_reason_share["sw_power_cap"] < 0.8
    rows = (tmp_path / "gpu.csv").read_text().splitlines()
    assert rows[0].startswith("time_s,unix_s,gpu_util_pct") and len(rows) == s.gpu_samples + 1


class FakeClock:
    """A clock that moves only when told to: training time as the test decides it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition, limit_s: float = 30.0) -> None:
    """Until the sampler thread has done something (a limit for a hang, not a timing)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the sampler thread did not sample"
        time.sleep(0.001)


def test_without_an_energy_counter_power_is_integrated(tmp_path, monkeypatch) -> None:
    """On an injected clock, so a busy machine's delays to the sampler thread change
    nothing: a sample at the start, 0.5 s of training, a sample after it, the stop. The
    power is integrated over exactly that: 250 W x 0.5 s."""
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: "handle")
    csv = tmp_path / "gpu.csv"
    fake, clock = FakeNvml(energy=False), FakeClock()
    monitor = GpuMonitor(torch.device("cuda"), 100, csv, nvml=fake, clock=clock)
    monitor.start()  # the clock read as the start
    wait_for(lambda: fake.calls >= 1)  # a sample began, its time read before this
    clock.now += 0.5
    seen = fake.calls
    wait_for(lambda: fake.calls >= seen + 2)  # the second of them began after the move
    monitor.stop()  # the sample under way finishes first
    s = monitor.summary(images=10)
    assert s.energy_method == "power_integral"
    assert "energy" in s.gpu_unsupported_queries
    times = [float(row.split(",")[0]) for row in csv.read_text().splitlines()[1:]]
    assert len(times) == s.gpu_samples >= 3
    assert times[0] == 0.0 and times[-1] == 0.5  # from the start's reading of the clock
    assert s.energy_j == pytest.approx(250 * 0.5)  # the whole span, nothing more


class TwoGpus(FakeNvml):
    """Two boards, each with its own energy counter advancing 1 J per read."""

    def __init__(self) -> None:
        super().__init__()
        self.counters = {"gpu0": 1_000_000, "gpu1": 5_000_000}

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self.counters[h] += 1000
        return self.counters[h]


def test_every_gpu_is_sampled_and_their_energy_summed(tmp_path, monkeypatch) -> None:
    """DataParallel's devices: a fake two-GPU NVML gives twice one GPU's energy; an
    excluded window's energy and samples count nowhere."""
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: f"gpu{device.index}")
    for indices, expected in ((None, 2.0), ([0, 1], 4.0)):
        fake = TwoGpus()
        cuda0 = torch.device("cuda", 0)
        monitor = GpuMonitor(cuda0, 200, tmp_path / f"{expected}.csv", nvml=fake, indices=indices)
        monitor.start()  # each counter read once
        boards = len(indices or [0])
        wait_for(lambda f=fake, n=boards: f.calls >= 2 * n)
        with monitor.excluded():  # read twice more: 1 J per GPU excluded
            wait_for(lambda m=monitor: sum(t["excluded_samples"] for t in m.per_gpu()) >= 1)
        monitor.stop()  # read again: 3 J per GPU moved, 1 J of it excluded
        s = monitor.summary(images=100)
        assert s.gpu_count == len(indices or [0]) and len(s.gpus) == s.gpu_count
        assert s.energy_j == pytest.approx(expected) and s.energy_j_per_image == expected / 100
        assert [g["energy_j"] for g in s.gpus] == pytest.approx([2.0] * s.gpu_count)
        assert s.power_mean_w == pytest.approx(250.0 * s.gpu_count)  # the group's draw
        assert s.gpu_samples_excluded >= 1 and s.gpu_samples > s.gpu_samples_excluded
        totals = monitor.per_gpu()
        counted = sum(sum(t["counts"].values()) for t in totals)
        assert counted and all(
            t["counts"]["power_w"] == t["samples"] - t["excluded_samples"] for t in totals
        )
        rows = (tmp_path / f"{expected}.csv").read_text().splitlines()
        assert rows[0].endswith(",gpu") and {r.split(",")[-1] for r in rows[1:]} == {
            str(i) for i in (indices or [0])
        }


def test_ddp_ranks_gpus_combine_on_rank_0(monkeypatch) -> None:
    """Each rank's totals, gathered: the group's energy is the sum of the ranks'."""
    monkeypatch.setattr(gpu_module, "open_device", lambda device, nvml: f"gpu{device.index}")
    ranks = []
    for index in (0, 1):
        fake = TwoGpus()
        monitor = GpuMonitor(torch.device("cuda", index), 200, nvml=fake)
        monitor.start()
        wait_for(lambda f=fake: f.calls >= 1)
        monitor.stop()
        ranks.append(monitor)
    group = [gpu for m in ranks for gpu in m.per_gpu()]
    s = ranks[0].summary(images=10, group=group)
    assert s.gpu_count == 2 and s.energy_j == pytest.approx(2 * 1.0)
    assert s.energy_j == pytest.approx(sum(m.summary(images=10).energy_j for m in ranks))


def test_the_achieved_sampling_rate_is_measured() -> None:
    from ganbench.trackers.nvml import combine

    totals = {"samples": 11, "intervals": 10, "interval_s": 2.0, "energy_method": None}
    s = combine([{"index": 0, **totals}], images=1, rate_hz=10.0, reason=None, unsupported=[])
    assert s["gpu_sample_hz"] == pytest.approx(5.0) and s["gpu_sample_hz_target"] == 10.0
