"""`ganbench history record | show | regressions | publish` as typed."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sqlalchemy", reason="the history extra: pip install 'ganbench[history]'")

from tests.history.conftest import commit_folder  # noqa: E402
from tests.report.test_report import invoke  # noqa: E402

# a 10 % slowdown of a at the 13th commit; b steady; 1 % noise
LEVELS = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8, 100.8, 99.2, 100.0, 101.2, 99.6]
SLOWER = [90.0, 90.9, 89.1, 90.5, 89.5, 90.2, 89.8, 90.7, 89.3, 90.1]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> str:
    """22 commits recorded through the command line, one folder each; the database."""
    root = tmp_path_factory.mktemp("history")
    db = str(root / "h.sqlite")
    folders = [
        commit_folder(
            root, f"c{i:02d}", {"a": [v, v * 1.002], "b": [50.0 + i % 3 * 0.3] * 2}, i + 1
        )
        for i, v in enumerate(LEVELS + SLOWER)
    ]
    result = invoke("history", "record", *folders[:2], "--db", db)
    assert result.exit_code == 0, result.output
    assert "history: 4 new run(s) of s at c00000000000" in result.output
    for folder in folders[2:]:
        assert invoke("history", "record", folder, "--db", db).exit_code == 0
    again = invoke("history", "record", folders[0], "--db", db)
    assert "0 new run(s) of s at c00000000000 (4 recorded before)" in again.output
    return db


def test_show_prints_a_row_per_commit_and_machine_documents(history, tmp_path):
    result = invoke("history", "show", "--configuration", "a", "--since", "c20", "--db", history)
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip().startswith("a ")]
    assert [r[1] for r in rows] == ["c2000000", "c2100000"]
    assert [r[-1] for r in rows] == ["-", "+0.9%"]  # 90.1 after 89.3 (geometric means)
    as_json = invoke("history", "show", "--figure", "images_per_s", "--db", history,
                     "--format", "json", "--plot", tmp_path / "a.png")  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert len(document) == 44 and {d["configuration"] for d in document} == {"a", "b"}
    assert document[0]["values"] == [100.0, 100.2]
    assert (tmp_path / "a.png").stat().st_size > 10_000
    as_csv = invoke("history", "show", "--db", history, "--format", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("suite,configuration,config_id,figure,machine")


def test_regressions_name_the_commit_range_and_size(history):
    result = invoke("history", "regressions", "--figure", "images_per_s", "--db", history,
                    "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.stdout)
    assert (found["configuration"], found["kind"]) == ("a", "regression")
    assert (found["commit_before"], found["commit"]) == ("c11000000000", "c12000000000")
    assert found["low"] < -0.1 + 0.01 and found["high"] > -0.1 - 0.01
    shown = invoke("history", "regressions", "--db", history)
    said = " ".join(shown.output.split())
    assert "c1100000..c1200000" in said and "regression" in said
    later = invoke("history", "regressions", "--since", "2026-11-20", "--db", history)
    assert "no change points" in later.output


def test_publish_writes_the_dashboard(history, tmp_path):
    result = invoke("history", "publish", tmp_path / "site", "--db", history)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "site" / "index.html").read_text()
    assert "c11000000000"[:8] in page and page.count("<svg") >= 2
