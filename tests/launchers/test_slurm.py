"""The slurm launcher through submitit's local executor (the same pickles, signals and
requeues as on a cluster, as processes of this machine): results identical to the
inline launcher's, SIGUSR2 -> checkpoint -> requeue -> resume, a stop that checkpoints,
a detached submission followed by a later train-suite; and the sbatch script a real
cluster would get from the launcher's fields."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import yaml

from ganbench.config import load_suite
from ganbench.launchers.slurm import JOB_FILE, SlurmConfig, SlurmLauncher, executor_parameters
from ganbench.results import RunStore, read_events
from ganbench.run.plan import plan_suite
from tests.cli.test_commands import invoke
from tests.conftest import doc_section, needs_fmnist
from tests.launchers.remote_helpers import (
    Recorder,
    StopAfterFirstCheckpoint,
    busy_suite,
    inline_reference,
    same_parameters,
    signal_a_running_run,
    spans,
)

submitit = pytest.importorskip("submitit")

LOCAL = {"name": "slurm", "cluster": "local", "cpus_per_run": 1, "time": "30"}


def launcher(**fields) -> SlurmLauncher:
    return SlurmLauncher(SlurmConfig(**{**LOCAL, **fields}))


def test_runs_train_as_jobs_with_the_inline_results(write_suite, tmp_path) -> None:
    path = write_suite(busy_suite(iterations=150, seeds=3))
    loaded = load_suite(path)
    observer = Recorder()
    summaries = launcher().run_suite(loaded, plan_suite(loaded), observer)
    assert [s.status for s in summaries] == ["finished"] * 3
    # The local executor would start every task at once: this machine's CPUs bound it.
    intervals = spans(loaded.output_dir)
    assert max(sum(a <= t < b for a, b in intervals) for t, _ in intervals) <= os.cpu_count()
    # The live view names where each run trains (its node; its GPUs on a GPU node).
    assert {r["where"] for r in observer.logged_records} == {socket.gethostname()}
    assert {r["run_id"] for r in observer.logged_records} == {s.run_id for s in summaries}
    assert {s.environment["launcher"] for s in summaries} == {"slurm"}
    assert all(s.environment["torch_threads"] == 1 for s in summaries)
    assert os.getpid() not in {s.environment["pid"] for s in summaries}
    inline_reference(path, tmp_path / "inline")
    for s in summaries:
        store = RunStore(loaded.output_dir / s.run_id)
        assert (store.folder / JOB_FILE).is_file()
        assert same_parameters(store, RunStore(tmp_path / "inline" / s.run_id)), s.run_id


@pytest.mark.parametrize(
    "signals", [("SIGUSR2",), ("SIGTERM", "SIGUSR2")], ids=["time-limit", "preemption"]
)
@pytest.mark.slow
def test_sigusr2_checkpoints_requeues_and_resumes_to_the_inline_parameters(
    write_suite, tmp_path, signals
) -> None:
    """What Slurm sends ahead of a time limit (SIGUSR2) or on a preemption (SIGTERM,
    then SIGUSR2): the run stops at an iteration with a checkpoint, submitit requeues
    the job, the requeued task resumes."""
    path = write_suite(busy_suite(iterations=2000, seeds=1, checkpoint_every=100))
    loaded = load_suite(path)
    summary, store, started = signal_a_running_run(
        launcher(), loaded, 100, *(signal.Signals[name] for name in signals)
    )
    assert summary.status == "finished" and summary.iterations == 2000, summary.reason
    events = read_events(store.events)
    ends = [e for e in events if e["event"] == "end"]
    assert ends[0]["status"] == "interrupted"
    assert ends[0]["reason"].startswith(f"stopped by {signals[0]} at iteration")
    resume = next(e for e in events if e["event"] == "resume")
    assert resume["environment"]["pid"] != started["environment"]["pid"]  # a new task
    assert resume["iteration"] == ends[0]["iteration"]  # from the stop's checkpoint
    inline_reference(path, tmp_path / "inline")
    assert same_parameters(store, RunStore(tmp_path / "inline" / "tiny-seed0"))


def test_a_stop_in_the_driver_checkpoints_every_running_job(write_suite) -> None:
    path = write_suite(busy_suite(iterations=100_000, seeds=2))
    loaded = load_suite(path)
    stop = StopAfterFirstCheckpoint(loaded.output_dir)
    summaries = launcher().run_suite(loaded, plan_suite(loaded), stop=stop)
    assert 1 <= len(summaries) <= 2  # a job that had not started yet stays planned
    for s in summaries:
        assert s.status == "interrupted" and s.reason.startswith("stopped by SIGTERM")
        store = RunStore(loaded.output_dir / s.run_id)
        assert store.load_checkpoint()["train"]["iteration"] == s.iterations
    again = {p.run.id: p.action for p in plan_suite(loaded)}
    assert all(again[s.run_id] == "resume" for s in summaries)


@pytest.mark.slow
def test_detach_then_train_suite_again_follows_the_jobs(write_suite) -> None:
    suite = busy_suite(iterations=5000, seeds=1, checkpoint_every=500)
    path = write_suite({**suite, "launcher": LOCAL})
    first = invoke("train-suite", str(path), "--detach")
    assert first.exit_code == 0, first.output
    output = " ".join(first.output.split())
    assert "submitted 1 run as job" in output and "detached:" in output
    store = RunStore(path.parent / "out" / "tiny-seed0")
    second = invoke("train-suite", str(path))
    assert second.exit_code == 0, second.output
    output = " ".join(second.output.split())
    assert "already queued or running as Slurm job" in output
    assert "submitted 1 run" not in output  # followed, not submitted twice
    assert "tiny-seed0 finished 5000" in output
    assert [e["event"] for e in read_events(store.events)].count("start") == 1


def test_the_sbatch_script_carries_the_launcher_fields(tmp_path) -> None:
    from submitit.slurm.slurm import _make_sbatch_string

    cfg = SlurmConfig(
        partition="gpu",
        time="2-00:00:00",
        mem_gb=16,
        account="proj",
        qos="high",
        constraint="h100",
        setup=["module load cuda/12.4"],
        sbatch={"mail_type": "END", "exclusive": True, "requeue": False},
        array_parallelism=8,
    )
    params = executor_parameters(cfg, "ganbench-thesis", gpus=2, cpus=8)
    script = _make_sbatch_string(command="python -m x", folder=tmp_path, map_count=10, **params)
    assert "--requeue" not in script  # a flag set to false is left out
    cpu_only = executor_parameters(cfg, "ganbench-thesis", gpus=0, cpus=8)
    assert "gpus" not in _make_sbatch_string(command="x", folder=tmp_path, **cpu_only)
    for line in (
        "#SBATCH --exclusive",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=2880",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=16384M",
        "#SBATCH --account=proj",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=h100",
        "#SBATCH --signal=USR2@120",
        "#SBATCH --array=0-9%8",
        "#SBATCH --mail-type=END",
        "#SBATCH --job-name=ganbench-thesis",
        "module load cuda/12.4",
    ):
        assert line in script, line


@pytest.mark.parametrize(
    ("text", "minutes"), [("90", 90), ("01:30:00", 90), ("2-00:00:00", 2880), ("0:10:30", 11)]
)
def test_time_limits_in_slurm_s_formats(text, minutes) -> None:
    assert SlurmConfig(time=text).minutes == minutes


def test_without_submitit_the_launcher_is_refused_before_planning(write_suite, monkeypatch):
    monkeypatch.setitem(os.sys.modules, "submitit", None)
    path = write_suite({**busy_suite(iterations=5, seeds=1), "launcher": LOCAL})
    result = invoke("train-suite", str(path))
    assert result.exit_code == 2
    assert "--launcher slurm needs submitit: pip install 'ganbench[cluster]'" in result.output
    assert not (path.parent / "out").exists()


def test_a_run_taken_by_another_process_is_left_to_it(write_suite) -> None:
    """A job that starts while another process holds its run (an inline train-suite
    started after a detached submission) leaves the run alone and says so."""
    from ganbench.results.lock import FolderLock

    loaded = load_suite(write_suite(busy_suite(iterations=20, seeds=1)))
    plans = plan_suite(loaded)
    with FolderLock(plans[0].store.folder, "run folder"):
        observer = Recorder()
        started = time.monotonic()
        summaries = launcher().run_suite(loaded, plans, observer)
    assert summaries == [] and time.monotonic() - started < 120
    assert any("is in use by" in n for n in observer.notes), observer.notes


def slurm_docs() -> str:
    return doc_section("cluster.md", "## Running a suite as a Slurm job array")


def test_the_docs_slurm_section_is_valid_and_documents_every_field() -> None:
    section = slurm_docs()
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = SlurmConfig.model_validate(yaml.safe_load(block)["launcher"])
    assert cfg.minutes == 2880 and cfg.constraint == "h100"
    missing = [f for f in SlurmConfig.model_fields if f != "name" and f"`{f}`" not in section]
    assert not missing, f"launcher.slurm fields not in docs/cluster.md: {missing}"


@needs_fmnist
def test_the_docs_slurm_trial_command_plans_as_typed() -> None:
    """``--launcher slurm --set launcher.cluster=local`` on the quick suite (dry run)."""
    command = next(
        line.split("#")[0].split()
        for line in slurm_docs().splitlines()
        if "launcher.cluster=local" in line
    )
    assert command[:2] == ["ganbench", "train-suite"]
    result = invoke(*command[1:], "--dry-run")
    assert result.exit_code == 0, result.output
    assert "quick" in result.output


class QueuedJob:
    """A stand-in for a submitit job in Slurm's queue (no Slurm here)."""

    def __init__(self, state: str, folder: Path) -> None:
        self.state = state
        self.cancelled = False
        self.paths = type("Paths", (), {"result_pickle": folder / "none_result.pkl"})()

    def cancel(self, check: bool = False) -> None:
        self.cancelled = True


def test_a_stop_cancels_queued_jobs_and_leaves_their_runs_planned(write_suite, tmp_path):
    """Slurm may take minutes to report a cancelled job; the driver does not wait for
    it, and its run is not recorded as failed (it stays planned)."""
    from ganbench.launchers.remote import Flight
    from ganbench.launchers.slurm import _SlurmFlights

    loaded = load_suite(write_suite(busy_suite(iterations=5, seeds=2)))
    plans = plan_suite(loaded)
    queued, running = QueuedJob("PENDING", tmp_path), QueuedJob("RUNNING", tmp_path)
    flights = _SlurmFlights(launcher(), None, StopAfterFirstCheckpoint(loaded.output_dir))
    flights.pending = [Flight(plans[0], queued, None, 0.0), Flight(plans[1], running, None, 0.0)]
    flights.stop_queued()
    assert queued.cancelled and not running.cancelled
    assert [f.handle for f in flights.pending] == [running]
    assert not plans[0].store.summary.exists()
