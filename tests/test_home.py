"""ganbench's home: where data, caches and the remembered suite folders go, the same for
every command and folder; an old ./data moved in once."""

from __future__ import annotations

import shutil
from pathlib import Path

import platformdirs
import pytest

from ganbench import home
from ganbench.data import DATASETS
from ganbench.metrics.reference import pixel_recipe
from tests.cli.test_commands import invoke


def test_the_home_is_the_user_cache_folder_unless_ganbench_home_names_one(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv(home.HOME_ENV, raising=False)
    monkeypatch.delenv(home.DATA_ENV, raising=False)
    default = platformdirs.user_cache_path("ganbench", appauthor=False)
    assert home.home() == default
    assert home.data_root() == default / "data"
    assert home.cache_dir("classifiers") == default / "cache" / "classifiers"
    monkeypatch.setenv(home.HOME_ENV, str(tmp_path / "h"))
    assert home.data_root() == tmp_path / "h" / "data"
    assert home.cache_dir("reference-stats") == tmp_path / "h" / "cache" / "reference-stats"
    monkeypatch.setenv(home.DATA_ENV, str(tmp_path / "d"))  # the data folder alone
    assert home.data_root() == tmp_path / "d"
    assert home.cache_dir("classifiers") == tmp_path / "h" / "cache" / "classifiers"


def test_a_named_dataset_shares_its_cache_key_wherever_it_lies_an_image_folder_does_not(
    tmp_path: Path,
) -> None:
    fmnist = DATASETS.get("fashion-mnist").Config
    assert pixel_recipe(fmnist(root=tmp_path / "a")) == pixel_recipe(fmnist(root=tmp_path / "b"))
    folder = DATASETS.get("image-folder").Config
    a, b = pixel_recipe(folder(root=tmp_path / "a")), pixel_recipe(folder(root=tmp_path / "b"))
    assert a != b and a["root"] == str((tmp_path / "a").resolve())


def legacy_checkout(root: Path) -> Path:
    """A folder where an older ganbench ran: ./data with its caches, a dataset it fetched,
    and a file of the user's."""
    data = root / "data"
    (data / "ganbench-cache" / "classifiers").mkdir(parents=True)
    (data / "ganbench-cache" / "classifiers" / "c.pt").write_text("classifier")
    (data / "ganbench-cache" / "reference-stats").mkdir()
    (data / "ganbench-cache" / "reference-stats" / "s.npz").write_text("stats")
    (data / "FashionMNIST" / "raw").mkdir(parents=True)
    (data / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").write_text("idx")
    (data / "mine.csv").write_text("the user's")
    return data


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(home.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(home.DATA_ENV, raising=False)
    return tmp_path / "home"


def test_an_old_data_folder_is_moved_into_the_home_once_and_said(
    tmp_path: Path, empty_home: Path, monkeypatch
) -> None:
    data = legacy_checkout(tmp_path)
    said: list[str] = []
    moved = home.migrate_legacy_data(said.append, tmp_path)
    assert sorted(moved) == [
        "data/FashionMNIST",
        "data/ganbench-cache/classifiers",
        "data/ganbench-cache/reference-stats",
    ]
    assert (empty_home / "cache" / "classifiers" / "c.pt").read_text() == "classifier"
    assert (empty_home / "cache" / "reference-stats" / "s.npz").read_text() == "stats"
    assert (empty_home / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert (data / "mine.csv").read_text() == "the user's"  # not ganbench's: stays
    assert not (data / "ganbench-cache").exists()
    (line,) = said
    assert str(empty_home) in line and "data/FashionMNIST" in line and "GANBENCH_HOME" in line
    assert home.migrate_legacy_data(said.append, tmp_path) == [] and len(said) == 1


def test_every_command_migrates_from_the_folder_it_runs_in(
    tmp_path: Path, empty_home: Path, monkeypatch
) -> None:
    legacy_checkout(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "strategies")
    assert result.exit_code == 0, result.output
    assert "note: moved data/" in " ".join(result.output.split())
    assert (empty_home / "cache" / "classifiers" / "c.pt").is_file()
    assert not (tmp_path / "data" / "FashionMNIST").exists()


def test_nothing_moves_without_ganbench_s_mark_with_ganbench_data_or_onto_what_exists(
    tmp_path: Path, empty_home: Path, monkeypatch
) -> None:
    theirs = tmp_path / "theirs"
    (theirs / "data" / "FashionMNIST" / "raw").mkdir(parents=True)  # someone else's
    assert home.migrate_legacy_data(print, theirs) == []
    assert (theirs / "data" / "FashionMNIST" / "raw").is_dir()

    (theirs / "ganbench").mkdir()  # but a ganbench checkout's data/ is ganbench's
    (theirs / "ganbench" / "home.py").write_text("")
    (theirs / "pyproject.toml").write_text("")
    assert home.migrate_legacy_data(print, theirs) == ["data/FashionMNIST"]
    shutil.rmtree(empty_home)

    legacy_checkout(tmp_path)
    monkeypatch.setenv(home.DATA_ENV, str(tmp_path / "elsewhere"))
    assert home.migrate_legacy_data(print, tmp_path) == []
    monkeypatch.delenv(home.DATA_ENV)

    kept = empty_home / "cache" / "classifiers"
    kept.mkdir(parents=True)
    (kept / "newer.pt").write_text("newer")
    moved = home.migrate_legacy_data(lambda line: None, tmp_path)
    assert "data/ganbench-cache/classifiers" not in moved  # the home's is kept
    assert (tmp_path / "data" / "ganbench-cache" / "classifiers" / "c.pt").is_file()
    assert sorted(p.name for p in kept.iterdir()) == ["newer.pt"]


def test_a_home_that_cannot_be_written_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(home.HOME_ENV, str(blocked / "home"))
    monkeypatch.delenv(home.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    legacy_checkout(tmp_path)
    result = invoke("data", "fetch", "gaussian-mixture")
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in output
    assert f"{blocked}/home/data: cannot be written" in output and "set GANBENCH_HOME" in output
    assert "note: could not move" in output  # the migration tried, said so, went on
    assert (tmp_path / "data" / "ganbench-cache" / "classifiers" / "c.pt").is_file()
