"""The ray launcher on a local 2-CPU instance: runs two at a time with results identical
to the inline launcher's, a killed worker retried and resumed, a stop that checkpoints
the started runs and leaves the others planned, and an unshared output folder refused."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from ganbench.config import load_suite
from ganbench.errors import UserError
from ganbench.launchers import remote
from ganbench.launchers.ray import RayConfig, RayLauncher
from ganbench.results import RunStore, read_events
from ganbench.run.plan import plan_suite
from tests.cli.test_commands import invoke
from tests.launchers.remote_helpers import (
    StopAfterFirstCheckpoint,
    busy_suite,
    inline_reference,
    same_parameters,
    signal_a_running_run,
    spans,
)

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # address="local": our own instance, not a cluster another test worker started here
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="warning",
    )
    yield
    ray.shutdown()


def launcher() -> RayLauncher:
    return RayLauncher(RayConfig(cpus_per_run=1, max_retries=2))


def test_runs_train_two_at_a_time_with_the_inline_results(write_suite, tmp_path) -> None:
    path = write_suite(busy_suite(iterations=150, seeds=4))
    loaded = load_suite(path)
    summaries = launcher().run_suite(loaded, plan_suite(loaded))
    assert [s.status for s in summaries] == ["finished"] * 4
    assert all(s.environment["torch_threads"] == 1 for s in summaries)
    assert all(s.environment["launcher"] == "ray" for s in summaries)
    pids = {s.environment["pid"] for s in summaries}
    assert len(pids) >= 2 and os.getpid() not in pids  # trained in Ray's workers
    intervals = spans(loaded.output_dir)
    most = max(sum(a <= t < b for a, b in intervals) for t, _ in intervals)
    assert most == 2  # two at once, never more on 2 CPUs
    inline_reference(path, tmp_path / "inline")
    for s in summaries:
        ran = RunStore(loaded.output_dir / s.run_id)
        assert same_parameters(ran, RunStore(tmp_path / "inline" / s.run_id)), s.run_id


def test_a_killed_worker_is_retried_and_resumes_to_the_same_parameters(
    write_suite, tmp_path
) -> None:
    path = write_suite(busy_suite(iterations=400, seeds=1))
    loaded = load_suite(path)
    summary, store, started = signal_a_running_run(launcher(), loaded, 20, signal.SIGKILL)
    assert summary.status == "finished" and summary.iterations == 400, summary.reason
    resumes = [e for e in read_events(store.events) if e["event"] == "resume"]
    assert resumes and resumes[0]["environment"]["pid"] != started["environment"]["pid"]
    inline_reference(path, tmp_path / "inline")
    assert same_parameters(store, RunStore(tmp_path / "inline" / "tiny-seed0"))


def test_a_stop_checkpoints_started_runs_and_leaves_the_rest_planned(write_suite) -> None:
    path = write_suite(busy_suite(iterations=100_000, seeds=4))
    loaded = load_suite(path)
    stop = StopAfterFirstCheckpoint(loaded.output_dir)
    summaries = launcher().run_suite(loaded, plan_suite(loaded), stop=stop)
    # Runs that had begun stop with a checkpoint (at least the one that wrote one; at
    # most the two 2 CPUs hold); queued ones return untouched and stay planned.
    assert 1 <= len(summaries) <= 2
    for s in summaries:
        assert s.status == "interrupted"
        assert s.reason.startswith("stopped by SIGTERM at iteration")
        store = RunStore(loaded.output_dir / s.run_id)
        assert store.load_checkpoint()["train"]["iteration"] == s.iterations
    stopped = {s.run_id for s in summaries}
    untouched = [p for p in plan_suite(loaded) if p.run.id not in stopped]
    assert all(not p.store.events.exists() for p in untouched)
    again = plan_suite(load_suite(path, ["budget.iterations=30"]))
    actions = {p.run.id: p.action for p in again}
    assert actions == {p.run.id: "resume" if p.run.id in stopped else "start" for p in again}


def test_an_output_folder_the_workers_cannot_see_is_refused(write_suite, monkeypatch) -> None:
    loaded = load_suite(write_suite(busy_suite(iterations=5, seeds=1)))
    monkeypatch.setattr(remote, "write_probe", lambda folder: Path("/nonexistent/probe"))
    with pytest.raises(UserError, match="not reachable from the worker on host"):
        launcher().run_suite(loaded, plan_suite(loaded))


def test_train_suite_with_the_ray_launcher_as_documented(write_suite) -> None:
    """As docs/cluster.md types it: ``--launcher ray --cpus-per-run 1``."""
    path = write_suite(busy_suite(iterations=20, seeds=2))
    result = invoke("train-suite", str(path), "--launcher", "ray", "--cpus-per-run", "1")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "tiny-seed0 finished" in output and "tiny-seed1 finished" in output


def test_without_ray_installed_the_launcher_is_refused_before_planning(write_suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    path = write_suite(busy_suite(iterations=20, seeds=1))
    result = invoke("train-suite", str(path), "--launcher", "ray")
    assert result.exit_code == 2
    assert "--launcher ray needs Ray: pip install 'ganbench[cluster]'" in result.output
    assert not (path.parent / "out").exists()


@pytest.mark.slow
def test_a_ddp_run_is_one_task_launching_torchrun(write_suite, tmp_path) -> None:
    """A ``parallel: ddp`` run holds its processes' CPUs (GPUs) as one task on one node,
    which starts torchrun there: the same parameters as the torchrun launcher's."""
    from ganbench.launchers.torchrun import TorchrunConfig, TorchrunLauncher

    suite = busy_suite(iterations=20, seeds=1)
    suite["defaults"]["levers"] = {"parallel": "ddp"}
    path = write_suite(suite)
    loaded = load_suite(path)
    ddp = RayLauncher(RayConfig(cpus_per_run=1, nproc_per_node=2))
    (summary,) = ddp.run_suite(loaded, plan_suite(loaded, placement=ddp))
    assert summary.status == "finished", summary.reason
    assert summary.world_size == 2 and summary.ranks_in_sync is True
    assert summary.environment["launcher"] == "ray+torchrun"
    reference = load_suite(path, [f"output_dir={tmp_path / 'torchrun'}"])
    torchrun = TorchrunLauncher(TorchrunConfig(nproc_per_node=2))
    torchrun.run_suite(reference, plan_suite(reference, placement=torchrun))
    store = RunStore(loaded.output_dir / "tiny-seed0")
    assert same_parameters(store, RunStore(tmp_path / "torchrun" / "tiny-seed0"))
