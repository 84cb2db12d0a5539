"""`ganbench check`'s environment warnings: every run against the baseline's run of the same
id, runs of one suite among themselves, and baselines saved before a field was recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ganbench.errors import UserError
from ganbench.report.check import ENVIRONMENT_KEYS, check, save_baseline
from ganbench.results import write_suite_meta
from tests.report.test_report import make_run

H100 = {
    "device": "cuda",
    "gpu_name": "NVIDIA H100 80GB HBM3",
    "driver": "550.54.15",
    "cuda": "12.4",
    "torch": "2.15.0",
    "cpu_model": "EPYC",
    "torch_threads": 8,
    "gpu_power_limit_w": 700.0,
    "gpu_sm_clock_mhz": 1755,  # momentary: recorded, never compared
    "gpu_sm_clock_max_mhz": 1980,
    "gpu_mem_clock_max_mhz": 2619,
    "gpu_sm_clock_app_mhz": 1980,
    "gpu_mem_clock_app_mhz": 2619,
    "gpu_mig_mode": "disabled",
    "cudnn_enabled": True,
    "cudnn_benchmark": False,
    "cudnn_deterministic": False,
    "cudnn_allow_tf32": True,
    "matmul_allow_tf32": False,
    "float32_matmul_precision": "highest",
}
BENCHMARKED = {**H100, "cudnn_benchmark": True}  # configuration b's lever
DIFFERS = "environment differs from the baseline's: "


def suite(root: Path, changed: dict[str, dict[str, Any]] | None = None, **extra) -> Path:
    """Configurations a (plain) and b (cudnn_benchmark on), three seeds each, on one H100;
    ``changed``: fields that differ, by run id; ``extra``: more configurations' runs."""
    root.mkdir(parents=True)
    runs = {f"a-seed{s}": H100 for s in range(3)} | {f"b-seed{s}": BENCHMARKED for s in range(3)}
    for run_id, env in {**runs, **extra}.items():
        name, seed = run_id.rsplit("-seed", 1)
        make_run(
            root, name, int(seed), 1000.0, environment={**env, **(changed or {}).get(run_id, {})}
        )
    write_suite_meta(root, "s", Path("suite.yaml"), "a", [])
    return root


def warnings_of(tmp_path: Path, changed=None, baseline: Path | None = None, **extra) -> list[str]:
    """The check's warnings with every differing field allowed (``--allow-mismatch``);
    without, a difference is refused (exit 2) naming the same fields."""
    if baseline is None:
        baseline = tmp_path / "baseline.json"
        save_baseline(suite(tmp_path / "base"), baseline)
    folder = suite(tmp_path / "new", changed, **extra)
    warnings = check(baseline, folder, allow_mismatch=frozenset(ENVIRONMENT_KEYS)).warnings
    differing = [w.removesuffix(" (allowed)") for w in warnings if w.startswith(DIFFERS)]
    if differing:
        with pytest.raises(UserError) as refused:
            check(baseline, folder)
        for w in differing:
            assert w.removeprefix(DIFFERS) in str(refused.value)
    return [w.removesuffix(" (allowed)") for w in warnings]


def test_a_difference_is_refused_naming_the_field_unless_allowed(tmp_path):
    """Unlike figures are never compared: exit 2 with what differs and the option."""
    save_baseline(suite(tmp_path / "base"), tmp_path / "baseline.json")
    folder = suite(tmp_path / "new", {"a-seed0": {"driver": "560.35.03"}})
    with pytest.raises(UserError) as refused:
        check(tmp_path / "baseline.json", folder)
    assert str(refused.value) == (
        "the baseline was measured on another machine or with other settings: driver "
        "'550.54.15' -> '560.35.03' (run a-seed0). Compare runs of one machine, or pass "
        "--allow-mismatch driver to compare anyway"
    )
    allowed = check(tmp_path / "baseline.json", folder, allow_mismatch=frozenset({"driver"}))
    assert DIFFERS + "driver '550.54.15' -> '560.35.03' (run a-seed0) (allowed)" in (
        allowed.warnings
    )
    with pytest.raises(UserError, match="--allow-mismatch driver to compare"):
        check(tmp_path / "baseline.json", folder, allow_mismatch=frozenset({"torch"}))


def test_the_same_environment_gives_no_warning_though_configurations_differ(tmp_path):
    assert warnings_of(tmp_path) == []
    document = json.loads((tmp_path / "baseline.json").read_text())
    assert document["environments"]["b-seed2"]["cudnn_benchmark"] is True
    assert document["environment"] == {k: v for k, v in H100.items() if k != "gpu_sm_clock_mhz"}


def test_a_change_in_any_run_is_named_not_only_in_the_first(tmp_path):
    """The gate used to look at the first run's environment alone."""
    warnings = warnings_of(tmp_path, {"b-seed1": {"gpu_power_limit_w": 500.0}})
    assert DIFFERS + "gpu_power_limit_w 700.0 -> 500.0 (run b-seed1)" in warnings
    among = "runs of this suite differ among themselves: gpu_power_limit_w "
    among += "700.0 (runs a-seed0, a-seed1, a-seed2, b-seed0 and 1 more), 500.0 (run b-seed1)"
    assert among in warnings
    assert len(warnings) == 2, warnings


def test_settings_are_compared_run_by_run_and_between_seeds(tmp_path):
    """b-seed0 lost its cudnn_benchmark lever: against its own baseline run, and against
    the other seeds of b; a's and b's differing flags are no finding."""
    warnings = warnings_of(
        tmp_path, {"b-seed0": {"cudnn_benchmark": False, "gpu_sm_clock_mhz": 1410}}
    )
    assert warnings == [
        DIFFERS + "cudnn_benchmark True -> False (run b-seed0)",
        "seeds of b differ among themselves: cudnn_benchmark False (run b-seed0), "
        "True (runs b-seed1, b-seed2)",
    ]


def test_a_run_the_baseline_lacks_is_compared_with_its_first_run_on_the_machines_fields(tmp_path):
    """c (TF32 matmuls on, a lever) is new: its settings have nothing to be compared with;
    its power limit and MIG mode are the machine's and are compared with a-seed0's."""
    c = {**H100, "matmul_allow_tf32": True, "float32_matmul_precision": "high"}
    warnings = warnings_of(
        tmp_path,
        {"c-seed0": {"gpu_power_limit_w": 400.0, "gpu_mig_mode": "enabled"}},
        **{"c-seed0": c},
    )
    assert DIFFERS + "gpu_power_limit_w 700.0 -> 400.0 (run c-seed0)" in warnings
    assert DIFFERS + "gpu_mig_mode 'disabled' -> 'enabled' (run c-seed0)" in warnings
    assert not [w for w in warnings if "matmul" in w]
    every = warnings_of(
        tmp_path / "all", {f"{c}-seed{s}": {"torch": "2.16.0"} for c in "ab" for s in range(3)}
    )
    assert every[0] == DIFFERS + "torch '2.15.0' -> '2.16.0' (all 6 runs)"


def test_a_baseline_saved_before_the_new_fields_names_them_once_and_still_compares_the_old(
    tmp_path,
):
    old_keys = ("device", "gpu_name", "driver", "cuda", "torch", "cpu_model", "torch_threads")
    document = {
        "kind": "ganbench-baseline",
        "format": 2,  # with only the first run's environment, of the seven older fields
        "suite_name": "s",
        "environment": {k: H100[k] for k in old_keys},
        "directions": {"images_per_s": "max"},
        "configurations": {
            name: {
                "statuses": {"finished": 3},
                "seeds": [0, 1, 2],
                "figures": {"images_per_s": [1000.0] * 3},
            }
            for name in "ab"
        },
    }
    baseline = tmp_path / "old.json"
    baseline.write_text(json.dumps(document))
    warnings = warnings_of(tmp_path, {"a-seed2": {"driver": "560.28.03"}}, baseline=baseline)
    assert DIFFERS + "driver '550.54.15' -> '560.28.03' (run a-seed2)" in warnings
    note = [w for w in warnings if w.startswith("not compared with the baseline")]
    assert note == [
        "not compared with the baseline, which does not record them (saved by an older ganbench; "
        "save it again to compare them): gpu_power_limit_w, gpu_sm_clock_max_mhz, "
        "gpu_mem_clock_max_mhz, gpu_sm_clock_app_mhz, gpu_mem_clock_app_mhz, gpu_mig_mode, "
        "cudnn_enabled, cudnn_benchmark, cudnn_deterministic, cudnn_allow_tf32, "
        "matmul_allow_tf32, float32_matmul_precision"
    ]
    assert not [w for w in warnings if "power" in w and w not in note]


def test_a_baseline_of_the_older_definitions_is_refused_with_the_fix(tmp_path) -> None:
    """Format 1 held whole-run images/s and a CUDA peak with evaluation in it: a gate
    comparing today's steady figures with those would pass a slowdown."""
    from ganbench.errors import UserError
    from ganbench.report.check import read_baseline

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"kind": "ganbench-baseline", "format": 1}))
    with pytest.raises(UserError, match="train the baseline again with this ganbench"):
        read_baseline(path)
