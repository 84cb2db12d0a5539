"""How busy the machine was during a run: load average at its start and end, the CPU
share other processes took, and CPU steal (a VM's host serving someone else). A run
measured on a busy or stolen-from machine is slower for reasons that are not the run's;
these say when. Read from cumulative counters: nothing is sampled or slept on."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class LoadWatch:
    """Started with a run; ``during()`` says how busy the machine was since."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.load_start = load_average()
        self.cpu = psutil.cpu_times()
        self.own = self.process.cpu_times()
        self.wall = time.monotonic()

    def during(self) -> dict[str, Any]:
        """``load_average_1m`` at start and end, ``others_cpu_pct`` (the machine's CPU time
        not spent by this process, as a share of all CPUs) and ``cpu_steal_pct``."""
        cpu, own = psutil.cpu_times(), self.process.cpu_times()
        capacity = (time.monotonic() - self.wall) * (psutil.cpu_count() or 1)
        busy = sum(cpu) - sum(self.cpu) - _idle(cpu) + _idle(self.cpu)
        mine = (own.user + own.system) - (self.own.user + self.own.system)
        steal = getattr(cpu, "steal", None)
        return {
            "load_average_1m_start": self.load_start,
            "load_average_1m_end": load_average(),
            "others_cpu_pct": _pct(busy - mine, capacity),
            "cpu_steal_pct": _pct(steal - self.cpu.steal, capacity) if steal is not None else None,
        }


def _idle(times: Any) -> float:
    return times.idle + getattr(times, "iowait", 0.0) + getattr(times, "steal", 0.0)


def _pct(part: float, whole: float) -> float | None:
    # The counters and the clock are read a moment apart: kept within 0-100 %.
    return round(min(100.0, max(0.0, 100.0 * part / whole)), 1) if whole > 0 else None
