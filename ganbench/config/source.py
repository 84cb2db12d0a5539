"""A suite file found and read, and the command line's ``--set`` and ``--seeds`` parsed,
with nothing heavier than YAML: a mistake there is said at once, before the schema (and
with it torch, through the registries) is imported to expand and validate the runs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ganbench.config.bounds import check_bounds, check_file_size, clip
from ganbench.config.builtin import find_suite, not_found
from ganbench.errors import UserError

if TYPE_CHECKING:
    from ganbench.config.schema import Suite


def load_suite(
    path: Path,
    overrides: Sequence[str] = (),
    seeds: Sequence[int] | None = None,
    only: Sequence[str] = (),
    keep_budget: bool = False,
) -> Suite:
    """Read, merge, expand and validate a suite file; raise UserError on any problem.
    A ``--set budget.X=`` override replaces the runs' budget unless ``keep_budget``."""
    path = find_suite(path)
    raw = read_yaml(path)
    pairs = parse_overrides(overrides)
    from ganbench.config.expand import build_suite

    return build_suite(path, raw, pairs, seeds, only, keep_budget)


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``a.b=value`` pairs; values are YAML (``0.5``, ``true``, ``[1,2]``, ``{}``): a list or
    mapping replaces what the suite has there."""
    parsed = []
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\.\d+)*", path):
            raise UserError(f"--set {clip(item)}: expected path=value, e.g. budget.iterations=2000")
        where = f"--set {clip(item)}"
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise UserError(f"{where}: value is not valid YAML ({err.problem})") from None
        except ValueError as err:  # e.g. an integer beyond Python's digit limit
            raise UserError(f"{where}: {err}") from None
        except RecursionError:
            raise UserError(f"{where}: value nested too deeply") from None
        check_bounds(value, where)
        parsed.append((path, value))
    return parsed


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds {text}: expected non-negative integers, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text}: expected distinct non-negative integers, e.g. 0,1,2")
    return seeds


def read_yaml(path: Path) -> dict[str, Any]:
    """The suite file's mapping, its size and nesting within bounds; else one UserError
    naming the file and the line."""
    if not path.is_file():
        raise UserError(not_found(path))
    check_file_size(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise UserError(f"{path}: {err}") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to be a suite") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UserError(f"{path}: {where}invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with name, defaults, runs and/or matrix")
    check_bounds(data, str(path))
    return data


def parse_steps(text: str) -> tuple[int, int, int]:
    """``wait,warmup,active`` as three integers (active at least 1)."""
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or parts[2] < 1:
        raise UserError(f"--steps {text}: expected wait,warmup,active with active >= 1, e.g. 5,2,5")
    return parts[0], parts[1], parts[2]
