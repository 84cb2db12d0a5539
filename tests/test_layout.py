"""The layout keeps its shape: no import cycles (between modules or between the package's
folders, function-level imports included), functions that fit on a screen, classes of a
readable size, and few modules at the package's top level."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "ganbench"
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250
MAX_TOP_LEVEL_MODULES = 8  # besides __init__ and __main__


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
        "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST) -> list[str]:
    """Every ``ganbench`` name a module imports, at any depth (function bodies included),
    except under ``if TYPE_CHECKING`` (never executed)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                names.extend(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names.extend(f"{child.module}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return [n for n in names if n.startswith("ganbench.")]


def _resolve(name: str) -> str:
    """The module an imported name lives in (``ganbench.run.train.train_run`` ->
    ``ganbench.run.train``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules importing it executes: the target and the target's packages
    (a module's own packages are already being imported, so they are not edges)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets: set[str] = set()
        for imported in imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            target = _resolve(imported)
            while target not in ("", "ganbench", name):
                if not f"{name}.".startswith(f"{target}."):
                    targets.add(target)
                target = target.rpartition(".")[0]
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if not state.get(target) and (found := visit(target, path)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if not state.get(node) and (found := visit(node, [])):
            return found
    return None


def folder(module: str) -> str:
    """``ganbench.run.loop`` -> ``run``; a top-level module is its own folder."""
    return module.split(".")[1]


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert graph["ganbench.run.loop"] >= {"ganbench.run.log", "ganbench.trackers.clock"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_package_folders_import_one_way() -> None:
    folders: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        for target in targets:
            if folder(module) != folder(target):
                folders.setdefault(folder(module), set()).add(folder(target))
    assert find_cycle(folders) is None, " -> ".join(find_cycle(folders) or [])
    # The directions the design fixes: reports read only results; latency and reports
    # do not import each other; trackers know nothing of GANs.
    assert folders.get("report", set()) <= {"errors", "results"}
    assert "report" not in folders["latency"] and "latency" not in folders["report"]
    assert folders.get("trackers", set()) <= {"errors", "registry"}


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_functions_and_classes_stay_small() -> None:
    too_long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            limit = (
                MAX_CLASS_LINES
                if isinstance(node, ast.ClassDef)
                else MAX_FUNCTION_LINES
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                else None
            )
            if limit is not None and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1}")
    assert not too_long, too_long


def test_few_modules_at_the_top_level() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
