"""Hostile or runaway input is refused quickly, in little memory, with a short message."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from ganbench.config import load_suite
from ganbench.config.bounds import ECHO, MAX_FILE_BYTES
from ganbench.errors import UserError
from tests.conftest import tiny_suite

LAUGHS = """name: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
defaults: {dataset: {name: gaussian-mixture, num_samples: *i}}
"""


def refused(load, *args) -> tuple[str, float, int]:
    """The message, seconds and peak traced bytes of a refused load."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UserError) as info:
            load(*args)
        return str(info.value), time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_billion_laughs_suite_is_refused_fast_and_small(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(LAUGHS)
    message, seconds, peak = refused(load_suite, path)
    assert "expands to more than 100,000 values (through YAML aliases?)" in message
    assert seconds < 10 and peak < 200 * 2**20
    assert len(message) < 300


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\ndefaults: &d {dataset: *d}\n")
    message, _, _ = refused(load_suite, path)
    assert "a YAML alias refers to itself" in message


def test_a_huge_set_integer_is_refused_before_the_plan(write_suite) -> None:
    path = write_suite(tiny_suite())
    digits = "9" * 400
    message, seconds, peak = refused(load_suite, path, [f"budget.iterations={digits}"])
    assert "integer of 400 digits is too large" in message
    assert digits not in message and seconds < 10 and peak < 200 * 2**20
    python_limit = "9" * 5000  # beyond Python's own int-parsing limit
    message, _, _ = refused(load_suite, path, [f"seed={python_limit}"])
    assert message.startswith("--set seed=999") and len(message) < 300


def test_huge_file_long_strings_and_long_echoes_are_cut(write_suite, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n# " + "x" * MAX_FILE_BYTES + "\n")
    assert "suite files are limited to" in refused(load_suite, big)[0]
    long_value = "y" * 20_000
    path = write_suite({**tiny_suite(), "name": long_value})
    assert "a string of 20,000 characters is too long" in refused(load_suite, path)[0]
    suite = tiny_suite(batch={"size": "z" * 500})
    message, _, _ = refused(load_suite, write_suite(suite))
    got = message.split("(got ", 1)[1]
    assert len(got) <= ECHO + 1 and got.rstrip(")").endswith("...")
    assert yaml.safe_load(path.read_text())  # the file itself was fine YAML


def test_deep_nesting_is_refused(write_suite, tmp_path: Path) -> None:
    # Not through refused(): tracemalloc makes the parser's deep recursion take a minute.
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\ndefaults: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(UserError, match="nested too deeply"):
        load_suite(path)
    shallow = write_suite(tiny_suite())
    with pytest.raises(UserError, match="value nested too deeply"):
        load_suite(shallow, ["seed=" + "[" * 3000 + "]" * 3000])
