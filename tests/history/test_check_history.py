"""`ganbench check --history N`: the baseline from the last N recorded points of the same
configuration on the same machine; a machine that differs is refused naming the field
unless allowed; `--confirm` trains what looks worse once more and fails only when the
re-run agrees; `train-suite --record` and `check --record` fill the history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the history extra: pip install 'ganbench[history]'")

from ganbench.history.db import open_database  # noqa: E402
from ganbench.history.query import Selection, load_series  # noqa: E402
from ganbench.history.record import record_folder  # noqa: E402
from tests.conftest import tiny_suite  # noqa: E402
from tests.history.conftest import commit_folder  # noqa: E402
from tests.report.test_report import CPU_ENV, invoke  # noqa: E402

STEADY = {"a": [100.0, 101.0, 99.0], "b": [50.0, 50.5, 49.5]}


def recorded(tmp_path: Path, env=CPU_ENV) -> str:
    """A history of four commits of a steady suite; its database's path."""
    db = str(tmp_path / "h.sqlite")
    engine = open_database(db)
    for i in range(4):
        record_folder(engine, commit_folder(tmp_path / "history", f"h{i}", STEADY, i + 1, env))
    return db


def test_check_against_the_history_finds_a_slowdown_and_passes_the_same(tmp_path):
    db = recorded(tmp_path)
    same = commit_folder(tmp_path, "same", {"a": [100.5, 99.5, 100.0], "b": STEADY["b"]}, 9)
    result = invoke("check", same, "--history", "3", "--db", db)
    assert result.exit_code == 0, result.output
    slow = commit_folder(tmp_path, "slow", {"a": [80.0, 80.5, 79.5], "b": STEADY["b"]}, 9)
    result = invoke("check", slow, "--history", "3", "--db", db, "--format", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    verdicts = {(v["configuration"], v["figure"]): v for v in document["verdicts"]}
    assert verdicts[("a", "images_per_s")]["verdict"] == "regression"
    assert verdicts[("a", "images_per_s")]["baseline"].endswith("(n=9)")  # 3 points x 3 seeds
    assert verdicts[("b", "images_per_s")]["verdict"] == "ok"


def test_history_from_another_machine_is_refused_naming_the_field(tmp_path):
    db = recorded(tmp_path)
    newer = {**CPU_ENV, "torch": "2.16.0"}
    other = commit_folder(tmp_path, "other", STEADY, 9, newer)
    result = invoke("check", other, "--history", "3", "--db", db)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "a was recorded only on other machines: torch '2.15.0' vs '2.16.0'" in said
    assert "--allow-mismatch torch" in said
    result = invoke("check", other, "--history", "3", "--db", db, "--allow-mismatch", "torch")
    assert result.exit_code == 0, result.output
    assert "torch '2.15.0' -> '2.16.0' (all 6 runs) (allowed)" in " ".join(result.output.split())


def test_history_mistakes_are_one_message(tmp_path):
    db = str(tmp_path / "empty.sqlite")
    folder = commit_folder(tmp_path, "x", STEADY, 9)
    result = invoke("check", folder, "--history", "3", "--db", db)
    assert result.exit_code == 2
    assert "--history: nothing recorded for" in " ".join(result.output.split())
    result = invoke("check", folder, "--history", "3", "--baseline", "b.json", "--db", db)
    assert result.exit_code == 2 and "--baseline FILE or --history N, not both" in result.output
    result = invoke("history", "show", "--db", str(tmp_path / "no" / "where.sqlite"))
    assert result.exit_code == 2 and "no folder" in result.output


def inflated(folder: Path, to: Path, factor: float) -> Path:
    """A copy of a trained suite folder whose gradient evaluations (a cost figure that
    does not vary between runs) are ``factor`` times theirs: a change a re-run will not
    repeat."""
    shutil.copytree(folder, to)
    for summary in to.glob("*/summary.json"):
        document = json.loads(summary.read_text())
        document["grad_evals"] *= factor
        document["started_at"] = "2026-12-06T00:00:00+00:00"  # another run
        summary.write_text(json.dumps(document))
    return to


def test_train_record_then_a_change_that_a_rerun_does_not_repeat_is_not_confirmed(
    tmp_path, write_suite
):
    """Gated on grad_evals, which is the same in every run of a configuration, so the
    verdicts do not hang on this busy machine's timing (its speed figures' spread over
    two 30-iteration runs is too wide to judge, and allowed as blind)."""
    suite = tiny_suite(budget={"iterations": 30})
    suite["runs"] = [{"name": "a"}]
    path = write_suite(suite)
    db = str(tmp_path / "h.sqlite")
    for _ in range(2):
        result = invoke("train-suite", path, "--seeds", "0,1", "--in-process", "--fresh",
                        "--record", "--db", db)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "history: 2 new run(s) of tiny" in " ".join(result.output.split())
    slow = inflated(tmp_path / "out", tmp_path / "slow", 2.0)
    gate = ["--history", "2", "--db", db, "--tolerance", "grad_evals=5%", "--allow-blind"]
    result = invoke("check", slow, *gate, "--format", "json")
    assert result.exit_code == 1, result.output
    result = invoke("check", slow, *gate, "--confirm", "--record", "--format", "json")
    assert result.exit_code == 0, result.output
    verdicts = {v["figure"]: v for v in json.loads(result.stdout)["verdicts"]}
    assert verdicts["grad_evals"]["verdict"] == "not confirmed"
    assert verdicts["grad_evals"]["current"] == "60 (n=2); re-run 30 (n=2)"
    assert (tmp_path / "slow-confirm" / "a-seed1" / "summary.json").is_file()
    series = load_series(open_database(db), Selection(figure="grad_evals"))
    assert sorted(p.values for s in series for p in s.points) == [
        (30.0, 30.0),  # the confirmation (the two trainings share a folder and commit)
        (30.0, 30.0, 30.0, 30.0),
        (60.0, 60.0),
    ]


def test_a_worse_verdict_stands_only_where_the_rerun_repeats_it():
    from ganbench.cli.gate import confirmed
    from ganbench.report.check import CheckResult, Verdict

    def result(*verdicts: tuple[str, str]) -> CheckResult:
        return CheckResult(
            [Verdict("a", f, "1", "2", 0.1, 0.05, 0.2, 0.1, v) for f, v in verdicts], []
        )

    first = result(("x", "regression"), ("y", "unproven"), ("z", "regression"), ("w", "ok"))
    again = result(("x", "regression"), ("y", "unproven"), ("z", "ok"), ("w", "regression"))
    merged = confirmed(first, again, Path("s-confirm"))
    shown = {v.figure: v.verdict for v in merged.verdicts}
    assert shown == {
        "x": "regression (confirmed)",
        "y": "unproven (confirmed)",
        "z": "not confirmed",
        "w": "ok",
    }
    assert [v.figure for v in merged.verdicts if v.failed] == ["x", "y"]
    assert merged.failed
