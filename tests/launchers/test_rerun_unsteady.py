"""``train-suite --rerun-unsteady N``: runs measured while the machine was off the suite's
speed are trained again (the replaced attempts kept under replaced/, out of the report's
sight), up to N times each, never redone by a resume; and a CPU hog started half-way
through a suite is flagged on the runs it hit, which a re-run then replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.config import load_suite, parse_seeds
from ganbench.launchers.rerun import RECORD_FILE, REPLACED_DIR, kept_attempts
from ganbench.report.collect import load_suites
from ganbench.report.steadiness import (
    machine_speed_change,
    plot_machine_speed,
    probe_frame,
    replaced_runs,
    steadiness_notes,
    suite_machine_speed,
    unsteady_runs,
)
from ganbench.run.plan import plan_suite
from ganbench.run.speed_probe import SpeedProbe
from tests.conftest import run_suite, tiny_suite

runner = CliRunner()


def summary_of(out: Path, run_id: str) -> dict[str, Any]:
    return json.loads((out / run_id / "summary.json").read_text())


@pytest.fixture
def probe_seconds(monkeypatch) -> dict[str, float]:
    """Each run's probe takes what this mapping says for its run id (else 50 ms)."""
    seconds: dict[str, float] = {}
    init = SpeedProbe.__init__

    def fixed(self: SpeedProbe, ctx: Any) -> None:
        init(self, ctx)
        run_id = self.session.run.id
        if self.workload is not None:
            self.workload.seconds = lambda: seconds.get(run_id, 0.05)  # type: ignore[method-assign]

    monkeypatch.setattr(SpeedProbe, "__init__", fixed)
    return seconds


def test_unsteady_runs_are_rerun_up_to_n_times_and_a_resume_redoes_none(
    write_suite, probe_seconds, tmp_path: Path
) -> None:
    path = write_suite(tiny_suite(budget={"iterations": 4}))
    out = path.parent / "out"
    probe_seconds["tiny-seed2"] = 0.2  # its machine: 4x slower, whatever is done

    def train(*options: str) -> str:
        result = runner.invoke(app, ["train-suite", str(path), "--seeds", "0,1,2", *options])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    said = train("--rerun-unsteady", "1")
    assert "tiny-seed2: its machine-speed probe took 4.00x the suite's median" in said
    assert "re-run 1 of 1 (the run so far is kept in replaced/tiny-seed2.attempt-0)" in said
    assert "tiny-seed2: still unsteady after 1 re-run(s)" in said
    kept = kept_attempts(out, "tiny-seed2")
    assert kept == [out / REPLACED_DIR / "tiny-seed2.attempt-0"]
    original = json.loads((kept[0] / "summary.json").read_text())
    assert original["machine_speed"]["median_s"] == 0.2
    assert json.loads((kept[0] / RECORD_FILE).read_text())["attempt"] == 0
    replaces = summary_of(out, "tiny-seed2")["replaces"]
    assert replaces["run_id"] == "tiny-seed2" and replaces["attempt"] == 1
    assert replaces["kept"] == "replaced/tiny-seed2.attempt-0"
    assert replaces["reason"].startswith("its machine-speed probe took 4.00x")
    assert "replaces" not in summary_of(out, "tiny-seed0")

    # A resume with the same N: every run skipped, no replacement redone.
    said = train("--rerun-unsteady", "1")
    assert "re-run" not in said.replace("still unsteady after 1 re-run(s)", "")
    assert len(kept_attempts(out, "tiny-seed2")) == 1

    # One more attempt allowed, on a machine now steady: replaced again, and steady.
    probe_seconds["tiny-seed2"] = 0.05
    said = train("--rerun-unsteady", "2")
    assert "re-run 2 of 2" in said and "still unsteady" not in said
    assert len(kept_attempts(out, "tiny-seed2")) == 2
    assert summary_of(out, "tiny-seed2")["replaces"]["attempt"] == 2

    # The report reads the latest attempts only, and says which runs were replaced.
    suite = load_suites([out])
    assert sorted(suite.runs["run_id"]) == ["tiny-seed0", "tiny-seed1", "tiny-seed2"]
    assert unsteady_runs(suite) == {}
    assert replaced_runs(suite)["tiny-seed2"]["attempt"] == 2
    (note,) = steadiness_notes(suite)
    assert note.startswith("replaced by re-runs") and "tiny-seed2 (re-run 2: its" in note
    assert "replaces.attempt" in (out / "runs.csv").read_text().splitlines()[0]


def test_the_report_side_reads_samples_plots_them_and_compares_suites(
    write_suite, probe_seconds, tmp_path: Path
) -> None:
    path = write_suite(tiny_suite(budget={"iterations": 3}))
    probe_seconds.update({"tiny-seed1": 0.1})
    loaded = load_suite(path, [], parse_seeds("0,1,2"))
    run_suite(loaded, plan_suite(loaded))
    suite = load_suites([loaded.output_dir])
    # Through the flattened columns alone: a run counts by its median, at its start.
    frame = probe_frame(suite)
    assert list(frame["run_id"]) == ["tiny-seed0", "tiny-seed1", "tiny-seed2"]
    assert list(frame["seconds"]) == [0.05, 0.1, 0.05]
    assert list(unsteady_runs(suite)) == ["tiny-seed1"]
    (note,) = steadiness_notes(suite)
    assert note.startswith("tiny-seed1: its machine-speed probe took 2.00x")
    # With each run's machine_speed kept as a dict column (every sample).
    summaries = [summary_of(loaded.output_dir, r) for r in suite.runs["run_id"]]
    suite.runs["machine_speed"] = [s["machine_speed"] for s in summaries]
    frame = probe_frame(suite)
    assert len(frame) == sum(s["machine_speed"]["count"] for s in summaries)
    assert frame["suite_s"].min() == 0 and frame["suite_s"].is_monotonic_increasing
    assert frame["run_wall_s"].notna().all()
    png = plot_machine_speed(frame, tmp_path / "plots" / "machine_speed.png", ["tiny-seed1"])
    assert png.read_bytes().startswith(b"\x89PNG")
    # check: the baseline's probe against the candidate's.
    recorded = suite_machine_speed(suite)
    assert recorded is not None and recorded["median_s"] == 0.05
    assert machine_speed_change(recorded, recorded) is None
    slower = {**recorded, "median_s": 0.06}
    assert "took 1.20x the baseline's (60 ms vs 50 ms)" in machine_speed_change(recorded, slower)
    other = {**recorded, "workload": "speed-probe v1: 1 x matmul 1x1 float32, 1 torch threads"}
    assert "not comparable" in machine_speed_change(recorded, other)
    assert machine_speed_change(None, recorded) is None


class Hog:
    """Processes spinning on the CPU, twice as many as cores: a thread of the suite's
    process gets a fifth of a core or so, however loaded the machine was already."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        spin = [sys.executable, "-S", "-c", "while True: pass"]
        for _ in range(2 * (os.cpu_count() or 1)):
            self.procs.append(subprocess.Popen(spin))
        time.sleep(0.3)  # spinning before the run's first probe

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.procs = []


class HogFrom:
    """An observer that starts the hog when the suite's run ``index`` starts."""

    def __init__(self, hog: Hog, index: int) -> None:
        self.hog, self.index, self.hit = hog, index, []

    def run_started(self, plan, index: int, total: int) -> None:
        if index == self.index:
            self.hog.start()
        if index >= self.index:
            self.hit.append(plan.run.id)

    def logged(self, record) -> None: ...

    def run_ended(self, plan, summary) -> None: ...

    def noted(self, text: str) -> None: ...


@pytest.fixture
def one_thread():
    """One torch thread: the probe then slows down as its share of the CPU shrinks. With
    two, each of its products waits for both threads at a barrier, and a busy machine
    makes that wait a matter of the scheduler's luck (2 to 10 times slower under the same
    load), which no threshold separates from a hog."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_a_hog_started_half_way_is_flagged_and_rerun_replaces_those_runs(write_suite) -> None:
    """Five runs, the hog from the fourth on: the two it hit are flagged (each run's probe
    median against the median of the five, that of a run the hog missed; here the hit
    runs' probes took about 5x), and a re-run with the hog gone replaces them. Runs the
    hog missed may be flagged too on a machine that others load unevenly: only the hit
    ones are asserted."""
    suite = tiny_suite(budget={"iterations": 6}, measure={"speed_probe_every_s": 0.5})
    path = write_suite({**suite, "order": "grouped"})
    loaded = load_suite(path, [], parse_seeds("0,1,2,3,4"))
    hog = Hog()
    observer = HogFrom(hog, index=3)
    try:
        run_suite(loaded, plan_suite(loaded), observer)
    finally:
        hog.stop()
    assert observer.hit == ["tiny-seed3", "tiny-seed4"]
    out = loaded.output_dir
    flagged = unsteady_runs(load_suites([out]))
    assert set(observer.hit) <= set(flagged), flagged
    for run_id in observer.hit:
        assert "slower than for the other runs" in flagged[run_id]

    summaries = run_suite_again(loaded, rerun=1)
    assert {s.run_id for s in summaries} == {f"tiny-seed{i}" for i in range(5)}
    replaced = replaced_runs(load_suites([out]))
    assert set(observer.hit) <= set(replaced)
    for run_id in observer.hit:
        assert kept_attempts(out, run_id) == [out / REPLACED_DIR / f"{run_id}.attempt-0"]
        assert replaced[run_id]["reason"] == flagged[run_id]
    note = steadiness_notes(load_suites([out]))[-1]
    assert all(f"{run_id} (re-run 1: " in note for run_id in observer.hit), note


def run_suite_again(loaded, rerun: int) -> list[Any]:
    from ganbench.launchers.inline import InlineConfig, InlineLauncher

    plans = plan_suite(loaded)
    assert {p.action for p in plans} == {"skip"}
    return InlineLauncher(InlineConfig()).run_suite(loaded, plans, rerun_unsteady_times=rerun)
