"""What a run's environment records."""

from __future__ import annotations

import torch

from ganbench.trackers.environment import capture_environment

CPU = torch.device("cpu")

# --------------------------------------------------------------- environment


def test_environment_names_versions_hardware_precision_and_seed() -> None:
    env = capture_environment(CPU, seed=7)
    assert env["seed"] == 7 and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_count"] >= 1
    assert env["gpu_name"] is None and env["driver"] is None
    for key in ("cudnn_allow_tf32", "matmul_allow_tf32", "float32_matmul_precision"):
        assert key in env


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
