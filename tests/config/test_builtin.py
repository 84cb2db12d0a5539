"""The built-in suites: package data found by name from any folder, listed by `ganbench
suites`, copied to edit by `ganbench init`; a path still wins over a name."""

from __future__ import annotations

from pathlib import Path

import yaml

from ganbench.config import load_suite
from ganbench.config.builtin import SUITES_DIR, builtin_suites, find_suite
from tests.cli.test_commands import invoke
from tests.conftest import ROOT

NAMES = ["growth", "quick", "speedups", "stability", "thesis"]


def test_the_suites_ship_inside_the_package_and_the_checkout_points_there() -> None:
    assert SUITES_DIR == ROOT / "ganbench" / "suites"
    assert (ROOT / "suites").resolve() == SUITES_DIR
    assert [s.name for s in builtin_suites()] == NAMES
    for suite in builtin_suites():
        assert suite.description, suite.name
        assert load_suite(suite.path).name == suite.name  # each one is a valid suite


def test_a_bare_name_finds_the_built_in_suite_from_any_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_suite(Path("quick")) == SUITES_DIR / "quick.yaml"
    # The README's spelling, typed outside a checkout.
    assert find_suite(Path("suites/thesis.yaml")) == SUITES_DIR / "thesis.yaml"
    result = invoke("train-suite", "quick", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "alternating" in result.output


def test_a_path_wins_over_a_name_and_a_project_s_suites_folder_over_the_built_in(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "quick.yaml").write_text("name: mine\n")
    assert find_suite(Path("quick")) == Path("suites/quick.yaml")
    assert find_suite(Path("suites/quick.yaml")) == Path("suites/quick.yaml")
    (tmp_path / "quick").write_text("name: file\n")  # a file named like a suite
    assert find_suite(Path("quick")) == Path("quick")


def test_an_unknown_suite_names_the_built_in_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("train-suite", "quik")
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "quik: suite file not found" in output
    assert "growth, quick, speedups, stability, thesis" in output and "ganbench init" in output


def test_suites_lists_every_built_in_suite_with_its_description() -> None:
    result = invoke("suites")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    for suite in builtin_suites():
        assert f"{suite.name} {' '.join(suite.description.split())[:40]}" in output


def test_init_copies_a_suite_to_edit(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "quick")
    assert result.exit_code == 0, result.output
    assert "wrote quick.yaml" in result.output
    assert (tmp_path / "quick.yaml").read_text() == (SUITES_DIR / "quick.yaml").read_text()

    result = invoke("init", "quick")  # never over a file unasked
    assert result.exit_code == 2 and "quick.yaml already exists" in result.output
    (tmp_path / "quick.yaml").write_text("edited")
    assert invoke("init", "quick", "--force").exit_code == 0
    assert (tmp_path / "quick.yaml").read_text() != "edited"

    (tmp_path / "mine").mkdir()
    assert invoke("init", "thesis", "mine").exit_code == 0  # a folder: NAME.yaml in it
    assert (tmp_path / "mine" / "thesis.yaml").is_file()
    assert invoke("init", "thesis", "new/").exit_code == 0  # a folder to make
    assert (tmp_path / "new" / "thesis.yaml").is_file()
    result = invoke("init", "thesis", "my thesis.yaml")
    assert result.exit_code == 2 and "'my thesis.yaml' cannot name a suite" in result.output

    # Another file name becomes the suite's name: its results get their own folder.
    assert invoke("init", "quick", "exp/lr-sweep.yaml").exit_code == 0
    copied = yaml.safe_load((tmp_path / "exp" / "lr-sweep.yaml").read_text())
    assert copied["name"] == "lr-sweep"
    assert load_suite(tmp_path / "exp" / "lr-sweep.yaml").output_dir == Path("reports/lr-sweep")

    result = invoke("init", "nope")
    assert result.exit_code == 2 and "unknown suite 'nope' (choose: growth, quick" in result.output
