"""The history database: migrations from an empty database, recording that adds nothing
the second time, concurrent recording from two processes, series never pooled across
machines or pipelines, and the same against a real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the history extra: pip install 'ganbench[history]'")

import sqlalchemy as sa  # noqa: E402

from ganbench.errors import UserError  # noqa: E402
from ganbench.history.db import HEAD, database_url, open_database  # noqa: E402
from ganbench.history.query import Selection, load_series  # noqa: E402
from ganbench.history.record import record_folder  # noqa: E402
from tests.history.conftest import commit_folder  # noqa: E402
from tests.report.test_report import CPU_ENV  # noqa: E402

TABLES = {"machines", "pipelines", "configurations", "recordings", "runs", "figures"}
TABLES |= {"operators", "phases", "alembic_version"}


def counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def test_an_empty_database_is_migrated_to_the_newest_schema(tmp_path):
    engine = open_database(str(tmp_path / "h.sqlite"))
    with engine.connect() as c:
        assert TABLES <= set(sa.inspect(c).get_table_names())
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    again = open_database(str(tmp_path / "h.sqlite"))  # already there: nothing to do
    assert counts(again)["alembic_version"] == 1


def test_recording_twice_changes_nothing_and_series_follow_the_commits(tmp_path):
    engine = open_database(str(tmp_path / "h.sqlite"))
    first = commit_folder(tmp_path, "aaa", {"a": [100.0, 102.0], "b": [50.0, 51.0]}, day=1)
    second = commit_folder(tmp_path, "bbb", {"a": [90.0, 91.0], "b": [50.0, 52.0]}, day=2)
    done = record_folder(engine, second)
    assert (done.new_runs, done.known_runs, done.commit) == (4, 0, "bbb000000000")
    record_folder(engine, first)
    before = counts(engine)
    again = record_folder(engine, second)
    assert (again.new_runs, again.known_runs) == (0, 4)
    assert counts(engine) == before
    series = load_series(engine, Selection(figure="images_per_s", configuration="a"))
    assert len(series) == 1
    assert [p.commit[:3] for p in series[0].points] == ["aaa", "bbb"]  # commit order
    assert series[0].points[1].values == (90.0, 91.0)
    assert series[0].direction == "max"
    assert series[0].machine_label == "EPYC"


def test_series_are_never_pooled_across_machines(tmp_path):
    engine = open_database(str(tmp_path / "h.sqlite"))
    h100 = {**CPU_ENV, "device": "cuda", "gpu_name": "NVIDIA H100", "driver": "550.54"}
    newer = {**h100, "driver": "560.35"}
    for i, env in enumerate((h100, h100, newer)):
        record_folder(engine, commit_folder(tmp_path, f"c{i}", {"a": [100.0]}, i + 1, env))
    series = load_series(engine, Selection(figure="images_per_s"))
    assert sorted(len(s.points) for s in series) == [1, 2]
    assert {s.machine_label for s in series} == {
        "NVIDIA H100 x1, driver 550.54",
        "NVIDIA H100 x1, driver 560.35",
    }


def test_quality_figures_are_split_by_metric_pipeline(tmp_path):
    engine = open_database(str(tmp_path / "h.sqlite"))
    protocol = {"fd_classifier": {"num_samples": 2048, "feature_extractor": "cnn-v1"}}
    other = {"fd_classifier": {"num_samples": 10000, "feature_extractor": "cnn-v1"}}
    for i, p in enumerate((protocol, protocol, other)):
        folder = commit_folder(tmp_path, f"q{i}", {"a": [100.0]}, i + 1, metrics_protocol=p)
        record_folder(engine, folder)
    quality = load_series(engine, Selection(figure="quality.fd_classifier.best"))
    assert sorted(len(s.points) for s in quality) == [1, 2]
    assert len({s.pipeline for s in quality}) == 2
    speed = load_series(engine, Selection(figure="images_per_s"))
    assert [len(s.points) for s in speed] == [3]  # speed does not depend on the pipeline


def test_since_takes_a_commit_or_a_date_and_names_a_wrong_one(tmp_path):
    engine = open_database(str(tmp_path / "h.sqlite"))
    for i in range(4):
        record_folder(engine, commit_folder(tmp_path, f"d{i}", {"a": [100.0]}, i + 1))
    by_commit = load_series(engine, Selection(figure="images_per_s", since="d2"))
    by_date = load_series(engine, Selection(figure="images_per_s", since="2026-11-02"))
    assert [p.commit[:2] for p in by_commit[0].points] == ["d2", "d3"]
    assert [p.commit[:2] for p in by_date[0].points] == ["d1", "d2", "d3"]
    with pytest.raises(UserError, match="--since zz9: neither a recorded commit nor a date"):
        load_series(engine, Selection(since="zz9"))


def test_a_database_that_cannot_be_opened_is_one_message(tmp_path):
    with pytest.raises(UserError, match="--db .*nowhere/h.sqlite: no folder"):
        database_url(str(tmp_path / "nowhere" / "h.sqlite"))
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(UserError, match="history database postgresql.*cannot open it"):
        open_database("postgresql://nobody@127.0.0.1:1/none")


RECORD = """
import sys
from pathlib import Path
from ganbench.history.db import open_database
from ganbench.history.record import record_folder
engine = open_database(sys.argv[1])
for folder in sys.argv[2:]:
    record_folder(engine, Path(folder))
"""


def test_two_processes_recording_at_once_lose_nothing(tmp_path):
    """Both record the same three folders (one of them twice) into a new database:
    both migrate it, and every run is stored exactly once."""
    folders = [
        str(commit_folder(tmp_path, f"p{i}", {c: [100.0 + i] * 3 for c in "abcd"}, i + 1))
        for i in range(3)
    ]
    db = str(tmp_path / "h.sqlite")
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    procs = [
        subprocess.Popen([sys.executable, str(script), db, *order], cwd=Path.cwd())
        for order in (folders, folders[::-1])
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    engine = open_database(db)
    found = counts(engine)
    assert (found["runs"], found["recordings"], found["alembic_version"]) == (36, 3, 1)
    assert found["figures"] == 36 * len(record_folder_figures(engine))


def record_folder_figures(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(sa.text("SELECT DISTINCT name FROM figures")).scalars())


def test_postgresql_from_an_empty_database_with_two_processes_recording(tmp_path, postgres_url):
    """Against a real server: the schema made by the migrations, two processes recording
    the same folders at once (one migrating while the other waits), nothing twice."""
    folders = [
        str(commit_folder(tmp_path, f"g{i}", {c: [10.0 + i] * 2 for c in "ab"}, i + 1))
        for i in range(3)
    ]
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    procs = [
        subprocess.Popen([sys.executable, str(script), postgres_url, *order])
        for order in (folders, folders[::-1])
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    engine = open_database(postgres_url)
    found = counts(engine)
    assert (found["runs"], found["recordings"], found["alembic_version"]) == (12, 3, 1)
    assert record_folder(engine, Path(folders[0])).new_runs == 0
    series = load_series(engine, Selection(figure="images_per_s", configuration="a"))
    assert [p.mean for p in series[0].points] == pytest.approx([10.0, 11.0, 12.0])


def test_the_migrations_make_exactly_the_tables_schema_py_declares(tmp_path):
    """A change to schema.py without its migration (or the other way round) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ganbench.history.schema import metadata

    engine = open_database(str(tmp_path / "h.sqlite"))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
