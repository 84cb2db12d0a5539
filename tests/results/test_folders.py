"""The suite folders written are remembered in ganbench's home: commands with no folder
named find the one written last from any working folder."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml

from ganbench.results.folders import REMEMBERED, remembered, suite_folders
from tests.cli.test_commands import invoke
from tests.conftest import tiny_suite


def train_into(suite_dir: Path, output_dir: Path, name: str) -> Path:
    suite = tiny_suite()
    suite.update(name=name, output_dir=str(output_dir), baseline="base", runs=[{"name": "base"}])
    path = suite_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    result = invoke("train-suite", str(path))
    assert result.exit_code == 0, result.output
    return output_dir


def test_report_and_latency_find_the_folder_written_last_wherever_it_was(
    tmp_path: Path, own_home: Path, monkeypatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(project)
    train_into(project, Path("reports/older"), "older")  # under ./reports
    time.sleep(0.05)
    newest = train_into(project, tmp_path / "results" / "newer", "newer")  # anywhere
    monkeypatch.chdir(elsewhere)  # no reports/ here
    result = invoke("report")
    assert result.exit_code == 0, result.output
    output = "".join(result.output.split())  # a long path may wrap anywhere
    assert f"reporting{newest},thesuitefolderwrittenlast;1more" in output
    assert (newest / "report.md").is_file()
    result = invoke("latency", "--batch-sizes", "1,2", "--repeats", "2", "--warmup", "1")
    assert result.exit_code == 0, result.output
    assert f"{newest}/base-seed0/checkpoint.pt" in "".join(result.output.split())
    result = invoke("runs")
    output = "".join(result.output.split())
    assert str(newest) in output and str(project / "reports" / "older") in output
    assert not (elsewhere / "data").exists()  # the data and caches are in the home
    assert [p.name for p in (elsewhere / "reports").iterdir()] == ["latency"]  # its output


def test_the_memory_keeps_each_folder_once_newest_first_and_forgets_removed_ones(
    tmp_path: Path, own_home: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    a = train_into(tmp_path, tmp_path / "a", "a")
    b = train_into(tmp_path, tmp_path / "b", "b")
    train_into(tmp_path, a, "a")  # again: moves to the front, not a second entry
    assert [e["path"] for e in remembered()] == [str(a.resolve()), str(b.resolve())]
    assert {e["cwd"] for e in remembered()} == {str(tmp_path.resolve())}
    shutil.rmtree(a)
    assert [f.path for f in suite_folders()] == [Path("b")]  # shown relative to the cwd
    (own_home / REMEMBERED).write_text("{not json")  # a damaged memory costs only itself
    assert suite_folders() == [] and remembered() == []
    train_into(tmp_path, b, "b")
    assert json.loads((own_home / REMEMBERED).read_text()) == [
        {"path": str(b.resolve()), "cwd": str(tmp_path.resolve())}
    ]


def test_a_project_s_own_folders_come_before_newer_ones_written_from_elsewhere(
    tmp_path: Path, own_home: Path, monkeypatch
) -> None:
    """On a machine shared by two projects, `check` in one never gates the other's runs."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir(), theirs.mkdir()
    monkeypatch.chdir(mine)
    own = train_into(mine, tmp_path / "out" / "own", "own")  # outside ./reports
    time.sleep(0.05)
    monkeypatch.chdir(theirs)
    other = train_into(theirs, tmp_path / "out" / "other", "other")  # newer
    monkeypatch.chdir(mine)
    assert [f.path for f in suite_folders()] == [own]
    monkeypatch.chdir(tmp_path / "out")  # nothing written from here: every one known
    assert [f.path for f in suite_folders()] == [Path("other"), Path("own")]
    assert other.is_dir()
