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
