"""From a suite file's mapping to its runs (``config.source`` read the file): merge
(defaults <- run entry <- matrix values <- ``--set``) into plain mappings, expand the
matrix, validate every run in one pass, and select runs by name. Nothing here touches
the disk or any device.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ganbench.config.messages import describe
from ganbench.config.order import order_runs
from ganbench.config.schema import NAMED_SECTIONS, RunConfig, Suite, SuiteFile
from ganbench.errors import UserError


def build_suite(
    path: Path,
    raw: dict[str, Any],
    overrides: list[tuple[str, Any]],
    seeds: Sequence[int] | None = None,
    only: Sequence[str] = (),
    keep_budget: bool = False,
) -> Suite:
    """Merge, expand and validate a suite file's mapping (``config.source.load_suite``
    read it and parsed ``overrides``); raise UserError on any problem. A ``--set
    budget.X=`` override replaces the runs' budget unless ``keep_budget``."""
    suite_sets, run_sets = _split_overrides(overrides)
    for key, value in suite_sets:
        raw = _set_path(raw, key, value, replace=True)
    try:
        suite_file = SuiteFile.model_validate(raw)
    except ValidationError as err:
        raise UserError(describe(err, f"{path}: ", SuiteFile)) from None
    runs = expand_runs(suite_file, run_sets, seeds, path, keep_budget, only)
    runs = order_runs(runs, suite_file.order, suite_file.order_seed)  # before --only picks
    runs = select_runs(runs, only)
    names = {run.name for run in runs}
    if suite_file.baseline is not None and suite_file.baseline not in names and not only:
        choices = ", ".join(sorted(names))
        raise UserError(
            f"{path}: baseline: unknown run {suite_file.baseline!r} (choose: {choices})"
        )
    output_dir = suite_file.output_dir or Path("reports") / suite_file.name
    return Suite(
        name=suite_file.name,
        source=path,
        output_dir=output_dir,
        baseline=suite_file.baseline,
        runs=runs,
        launcher=suite_file.launcher,
        log=suite_file.log,
    )


def _split_overrides(pairs: list[tuple[str, Any]]):
    suite_keys = set(SuiteFile.model_fields) - {"defaults", "runs", "matrix"}
    suite_sets = [(p, v) for p, v in pairs if p.split(".")[0] in suite_keys]
    run_sets = [(p, v) for p, v in pairs if p.split(".")[0] not in suite_keys]
    return suite_sets, run_sets


def expand_runs(
    suite: SuiteFile,
    overrides: Sequence[tuple[str, Any]] = (),
    seeds: Sequence[int] | None = None,
    source: Path | str = "suite",
    keep_budget: bool = False,
    only: Sequence[str] = (),
) -> list[RunConfig]:
    """Every run entry (or one empty entry) times every combination of the matrix axes
    (``overrides`` of ``budget.*`` replace the budget unless ``keep_budget``). A run that
    ``only`` leaves out is not held against the suite when it is invalid (an override
    meant for the chosen runs may not suit the others)."""
    axes = {key: _axis(key, values) for key, values in suite.matrix.items()}
    if seeds is not None:
        axes.pop("seed", None)
        axes["seed"] = [(f"seed{s}", s) for s in seeds]
    entries = suite.runs or [{}]
    runs, problems = [], []
    for index, entry in enumerate(entries):
        for combo in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combo, strict=True))
            merged, labels = _merge_run(suite, entry, chosen, overrides, keep_budget)
            merged.setdefault("name", "-".join(labels) or suite.name)
            where = f"{source}: run {merged['name']!r}" + (
                f" (runs[{index}])" if suite.runs else ""
            )
            try:
                runs.append(RunConfig.model_validate(merged))
            except ValidationError as err:
                if not _chosen(merged, only):
                    continue
                blame = _blame(source, where, entry, chosen, suite.defaults)
                problems += describe(err, blame, RunConfig, overrides).splitlines()
    if problems:  # each once: a typo in defaults: or a --set is not repeated per run
        raise UserError("\n".join(dict.fromkeys(problems)))
    _check_unique(runs, source)
    return runs


def _chosen(merged: dict, only: Sequence[str]) -> bool:
    """Whether ``--only`` patterns (none: all) may pick this merged run entry."""
    wanted = [p for item in only for p in item.split(",") if p]
    ident = f"{merged['name']}-seed{merged.get('seed', 0)}"
    return not wanted or any(
        fnmatch.fnmatchcase(merged["name"], p) or fnmatch.fnmatchcase(ident, p) for p in wanted
    )


def _blame(source, where: str, entry: dict, combo: dict, defaults: dict) -> Callable:
    """Where a bad field came from, for its message: the run entry, a matrix axis, or the
    suite's ``defaults:`` (said once for all the runs it reaches)."""

    def lead(path: str) -> str:
        if _holds(entry, path):
            return f"{where}: "
        axis = next((key for key in combo if path == key or path.startswith(f"{key}.")), None)
        if axis is not None:
            return f"{source}: matrix.{axis}: " if axis != path else f"{source}: matrix: "
        return f"{source}: defaults: " if _holds(defaults, path) else f"{where}: "

    return lead


def _holds(mapping: Any, path: str) -> bool:
    """Whether ``mapping`` sets the dotted ``path`` (list indices ignored), or a part of
    it (a section holding the bad field)."""
    node = mapping
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _merge_run(
    suite: SuiteFile,
    entry: dict[str, Any],
    combo: dict[str, Any],
    overrides,
    keep_budget: bool = False,
):
    merged = _deep_merge(_deep_merge({}, suite.defaults), entry)
    labels = [str(entry["name"])] if "name" in entry else []
    merged.pop("name", None)
    for key, (label, value) in combo.items():
        merged = _set_path(merged, key, value)
        if key != "seed":
            labels.append(label)
    if not keep_budget and any(path.startswith("budget.") for path, _ in overrides):
        # --set budget.iterations=30 means a budget of 30 iterations, not 30 iterations or
        # the suite's wall_seconds, whichever comes first (--keep-budget: that).
        merged["budget"] = {}
    for path, value in overrides:
        merged = _set_path(merged, path, value, replace=True)
    for key in ("loss", "strategy"):  # sections with a default: fields alone refine it
        if isinstance(merged.get(key), dict) and "name" not in merged[key]:
            merged[key]["name"] = (
                RunConfig.model_fields[key].get_default(call_default_factory=True).name
            )
    if labels:
        merged["name"] = "-".join(labels)
    return merged, labels


def _axis(key: str, values: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs; a mapping axis is labelled by its keys."""
    if isinstance(values, dict):
        return [(str(label), value) for label, value in values.items()]
    last = key.rsplit(".", 1)[-1]
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            label = value
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            label = value["name"]
        elif isinstance(value, bool | int | float):
            label = f"{last}{value}"
        else:
            label = f"{last}{i}"
        out.append((label, value))
    return out


def _normalise(key: str, value: Any) -> Any:
    if (key in NAMED_SECTIONS or key == "launcher") and isinstance(value, str):
        return {"name": value}
    if key == "load" and isinstance(value, str):  # load: SOURCE
        return {"source": value}
    return value


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge; a named section whose name changes is replaced, not merged."""
    for key, value in update.items():
        value = _normalise(key, copy.deepcopy(value))
        old = _normalise(key, base.get(key))
        renamed = (
            key in NAMED_SECTIONS
            and isinstance(old, dict)
            and isinstance(value, dict)
            and "name" in value
            and value.get("name") != old.get("name")
        )
        if isinstance(old, dict) and isinstance(value, dict) and not renamed:
            base[key] = _deep_merge(old, value)
        else:
            base[key] = value
    return base


def _set_path(tree: dict[str, Any], path: str, value: Any, replace: bool = False) -> dict[str, Any]:
    """Set ``a.b.c``: a mapping value is merged into what is there (a matrix axis), or
    with ``replace`` (a ``--set``) takes its place, so ``{}`` clears it; a named section
    replaced by a mapping without a name keeps its name."""
    head, _, rest = path.partition(".")
    if not rest and replace and isinstance(value, dict):
        old = _normalise(head, tree.get(head))
        named = head in NAMED_SECTIONS or head == "launcher"
        if named and isinstance(old, dict) and "name" in old and "name" not in value:
            value = {"name": old["name"], **value}
        tree[head] = copy.deepcopy(value)
        return tree
    if not rest:
        return _deep_merge(tree, {head: value})
    child = _normalise(head, tree.get(head))
    if isinstance(child, list) and rest.split(".")[0].isdigit():
        index, _, tail = rest.partition(".")
        child = list(child)
        i = int(index)
        if i >= len(child):
            raise UserError(f"--set {path}: {head} has {len(child)} entries")
        child[i] = value if not tail else _set_path(dict(child[i]), tail, value, replace)
        tree[head] = child
        return tree
    if not isinstance(child, dict):
        child = {}
    tree[head] = _set_path(child, rest, value, replace)
    return tree


def _check_unique(runs: list[RunConfig], source: Path | str) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.id] = seen.get(run.id, 0) + 1
    twice = [rid for rid, count in seen.items() if count > 1]
    if twice:
        raise UserError(
            f"{source}: runs share an id: {', '.join(twice)}. Give runs distinct names "
            "or vary a matrix axis that is part of the name"
        )


def select_runs(
    runs: Sequence[RunConfig], patterns: Sequence[str], option: str = "--only"
) -> list[RunConfig]:
    """The runs whose name or id matches any of ``patterns`` (globs, comma-separated
    lists allowed), in suite order; all runs without patterns. UserError naming
    ``option`` when none matches."""
    wanted = [p for item in patterns for p in item.split(",") if p]
    if not wanted:
        return list(runs)
    chosen = [
        r
        for r in runs
        if any(fnmatch.fnmatchcase(r.name, p) or fnmatch.fnmatchcase(r.id, p) for p in wanted)
    ]
    if not chosen:
        names = ", ".join(dict.fromkeys(r.name for r in runs))
        raise UserError(f"{option} {','.join(wanted)}: no run matches (choose: {names})")
    return chosen


def choose_run(suite: Suite, pattern: str, option: str = "--run") -> RunConfig:
    """The first run of ``suite`` whose name or id matches ``pattern`` (a glob)."""
    return select_runs(suite.runs, [pattern], option)[0]
