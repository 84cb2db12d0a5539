"""What keeps unlike figures apart and points in order: the configuration id (every setting
but seed, name, order and data folder), commit dates across time zones, --since as a full
SHA, the metric pipeline under `check --history`, a database ganbench cannot use."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytest.importorskip("sqlalchemy", reason="the history extra: pip install 'ganbench[history]'")

from ganbench.errors import UserError  # noqa: E402
from ganbench.history.db import database_url, open_database  # noqa: E402
from ganbench.history.identity import config_identity  # noqa: E402
from ganbench.history.query import Selection, load_series  # noqa: E402
from ganbench.history.record import record_folder  # noqa: E402
from ganbench.results import read_suite_meta, write_suite_meta  # noqa: E402
from tests.history.conftest import commit_folder  # noqa: E402
from tests.report.test_report import invoke  # noqa: E402

CONFIG = {
    "name": "srfb",
    "seed": 3,
    "dataset": {"name": "fashion-mnist", "root": "/data", "image_size": 32},
    "model": {"name": "sagan", "width": 0.25},
    "schedule": {"order": "interleaved", "block": 1, "position": 4},
}


def test_the_configuration_id_keeps_every_setting_but_seed_name_order_and_data_folder():
    same = {**CONFIG, "name": "other", "seed": 0, "schedule": {"block": 0, "position": 0}}
    same["dataset"] = {**CONFIG["dataset"], "root": "/elsewhere"}
    assert config_identity(same) == config_identity(CONFIG)
    for change in ({"dataset": {**CONFIG["dataset"], "name": "cifar10"}},
                   {"model": {**CONFIG["model"], "name": "dcgan"}}):  # fmt: skip
        assert config_identity({**CONFIG, **change}) != config_identity(CONFIG)
    assert config_identity(CONFIG)["dataset"] == {"name": "fashion-mnist", "image_size": 32}


def dated(folder, commit_time: str):
    meta = read_suite_meta(folder)
    meta["repository"]["commit_time"] = commit_time
    write_suite_meta(folder, "s", folder / "suite.yaml", "a", [], meta["repository"])
    return folder


def test_points_follow_the_commits_instants_not_their_text(tmp_path):
    """09:00 UTC, then 10:30+05:00 (05:30 UTC): the second commit came first."""
    engine = open_database(str(tmp_path / "h.sqlite"))
    first = dated(commit_folder(tmp_path, "aaa", {"a": [1.0]}, 1), "2026-11-03T09:00:00+00:00")
    second = dated(commit_folder(tmp_path, "bbb", {"a": [2.0]}, 2), "2026-11-03T10:30:00+05:00")
    for folder in (first, second):
        record_folder(engine, folder)
    (series,) = load_series(engine, Selection(figure="images_per_s"))
    assert [p.commit[:3] for p in series.points] == ["bbb", "aaa"]
    full = "aaa" + "0" * 37  # a 40-digit SHA, as CI passes it
    (since,) = load_series(engine, Selection(figure="images_per_s", since=full))
    assert [p.commit[:3] for p in since.points] == ["aaa"]


def test_check_history_refuses_quality_figures_of_another_pipeline(tmp_path):
    db = str(tmp_path / "h.sqlite")
    engine = open_database(db)
    protocol = {"fd_classifier": {"num_samples": 2048, "feature_extractor": "cnn-v1"}}
    for i in range(2):
        folder = commit_folder(tmp_path / "h", f"p{i}", {"a": [100.0, 101.0]}, i + 1,
                               metrics_protocol=protocol)  # fmt: skip
        record_folder(engine, folder)
    other = {"fd_classifier": {"num_samples": 10000, "feature_extractor": "cnn-v1"}}
    checked = commit_folder(tmp_path, "new", {"a": [100.0, 101.0]}, 9, metrics_protocol=other)
    gate = ["check", checked, "--history", "2", "--db", db, "--allow-blind"]
    quality = ["--tolerance", "quality.fd_classifier.best=10%"]
    result = invoke(*gate, *quality)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "fd_classifier pipeline differs in num_samples (run a-seed0)" in said
    assert "--allow-mismatch pipeline" in said
    assert invoke(*gate, *quality, "--allow-mismatch", "pipeline").exit_code == 0
    assert invoke(*gate).exit_code == 0  # speed alone does not depend on the pipeline


def test_check_history_takes_only_points_up_to_the_checked_commit(tmp_path):
    db = str(tmp_path / "h.sqlite")
    engine = open_database(db)
    for i, speed in enumerate((100.0, 100.0, 100.0, 50.0, 50.0)):
        record_folder(engine, commit_folder(tmp_path / "h", f"t{i}", {"a": [speed, speed * 1.01]},
                                            i + 1))  # fmt: skip
    old = commit_folder(tmp_path, "old", {"a": [100.0, 101.0]}, 3)  # dated with t2
    result = invoke("check", old, "--history", "2", "--db", db, "--format", "json")
    assert result.exit_code == 0, result.output
    (speed,) = [v for v in json.loads(result.stdout)["verdicts"] if v["figure"] == "images_per_s"]
    assert speed["baseline"].startswith("100")


def test_a_database_ganbench_cannot_use_is_one_message(tmp_path):
    with pytest.raises(UserError, match="not a SQLite or PostgreSQL database"):
        database_url("mysql://u@h/db")
    junk = tmp_path / "baseline.json"
    junk.write_text('{"kind": "ganbench-baseline"}' * 200)
    with pytest.raises(UserError, match="cannot open it"):
        open_database(str(junk))
    newer = tmp_path / "newer.sqlite"
    open_database(str(newer))
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(UserError, match=r"revision 0099\) is newer than this ganbench's"):
        open_database(str(newer))
