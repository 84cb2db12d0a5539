"""RunSummary, RunStatus and flatten; a run folder written by ganbench 0.1 before the
redesign (tests/results/data/v0.1-run) still loads, resumes and reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ganbench.config import load_suite
from ganbench.report.collect import load_suites
from ganbench.results import RunStatus, RunStore, RunSummary, flatten
from ganbench.run.plan import plan_suite
from tests.conftest import run_suite

DATA = Path(__file__).resolve().parent / "data"


def test_statuses_say_which_are_final_and_which_ended_in_step() -> None:
    final = {s.value for s in RunStatus if s.final}
    in_step = {s.value for s in RunStatus if s.in_step}
    assert final == {"finished", "diverged", "oom"}
    assert in_step == {"finished", "interrupted", "diverged"}
    assert RunStatus("oom") == "oom" and str(RunStatus.FAILED) == "failed"


def test_flatten_names_nested_figures_with_dots_and_leaves_lists_out() -> None:
    summary = {
        "status": RunStatus.FINISHED,
        "phases": {"data": {"share": 0.25, "time_s": 1.0}},
        "quality": {"fid": {"final": 30.0, "direction": "min"}},
        "epoch_times_s": [1.0, 2.0],
        "levers_skipped": {},
    }
    assert flatten(summary) == {
        "status": "finished",
        "phases.data.share": 0.25,
        "phases.data.time_s": 1.0,
        "quality.fid.final": 30.0,
        "quality.fid.direction": "min",
    }


def test_a_summary_writes_only_what_was_set_and_keeps_unknown_fields() -> None:
    summary = RunSummary(run_id="a-seed0", name="a", status="failed", reason="x", later=1)
    assert summary.to_json_dict() == {
        "run_id": "a-seed0",
        "name": "a",
        "status": "failed",
        "reason": "x",
        "later": 1,
    }
    assert summary.model_copy(update={"skipped": True}).to_json_dict() == summary.to_json_dict()


def test_a_summary_of_ganbench_0_1_loads_field_for_field() -> None:
    raw = json.loads((DATA / "v0.1-run" / "summary.json").read_text())
    summary = RunSummary.model_validate(raw)
    assert summary.status == RunStatus.FINISHED and summary.iterations == 6
    assert summary.to_json_dict() == raw  # nothing lost, nothing renamed
    assert set(raw) <= set(RunSummary.model_fields)  # every 0.1 field is a typed one


@pytest.fixture
def old_suite(tmp_path: Path) -> Path:
    """The 0.1 suite with its finished run folder, in a folder of this test's."""
    suite = tmp_path / "suite.yaml"
    shutil.copy(DATA / "v0.1-suite.yaml", suite)
    shutil.copytree(DATA / "v0.1-run", tmp_path / "out" / "old-seed0")
    return suite


def test_a_0_1_run_is_skipped_resumed_and_reported(old_suite: Path, monkeypatch) -> None:
    monkeypatch.chdir(old_suite.parent)
    # Its quality values carry no direction (0.1 did not record them): reports know them.
    runs = load_suites([old_suite.parent / "out"])
    assert runs.directions["quality.modes_covered.final"] == "max"
    assert runs.runs.loc[0, "quality.modes_covered.final"] == 0.0
    loaded = load_suite(old_suite)
    assert [p.action for p in plan_suite(loaded)] == ["skip"]
    longer = load_suite(old_suite, ["budget.iterations=10"])
    plans = plan_suite(longer)
    assert [p.action for p in plans] == ["resume"]
    (summary,) = run_suite(longer, plans)
    assert summary.status == "finished" and summary.iterations == 10, summary.reason
    assert summary.quality["modes_covered"]["direction"] == "max"  # recorded from now on
    assert RunStore(old_suite.parent / "out" / "old-seed0").load_summary().iterations == 10


def test_an_older_summary_is_read_in_todays_terms() -> None:
    """Before the steady state was measured, images/s was over all training time: it is
    read as images_per_s_overall, never compared with today's steady figure."""
    from ganbench.results.summary import in_todays_terms

    raw = json.loads((DATA / "v0.1-run" / "summary.json").read_text())
    today = in_todays_terms(raw)
    assert "images_per_s" not in today and today["images_per_s_overall"] == raw["images_per_s"]
    assert "iterations_per_s" not in today
    phase = next(iter(today["phases"].values()))
    assert "time_s" not in phase and "time_overall_s" in phase
    current = {"iterations": 3, "steady_s": 1.0, "images_per_s": 5.0}
    assert in_todays_terms(current) is current
