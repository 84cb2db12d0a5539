"""The lock holds what pyproject asks for (a dependency added without `make lock` fails
here), torch where lock/torch.txt holds it, and `make lock` says what moved."""

from __future__ import annotations

import importlib.util
import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.conftest import ROOT

LOCK = ROOT / "lock" / "requirements.txt"


def lock_diff():
    spec = importlib.util.spec_from_file_location("lock_diff", ROOT / "lock" / "diff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_and_extra_is_locked_with_hashes_and_torch_as_held() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted += [Requirement(r) for r in extra if not r.startswith("ganbench")]
    text = LOCK.read_text()
    pins = lock_diff().pins(text)
    locked = {normal(name): v for (name, _), v in pins.items()}
    missing = [r.name for r in wanted if normal(r.name) not in locked]
    assert not missing, f"not in {LOCK.name} (run make lock): {missing}"
    for requirement in wanted:  # each locked version inside pyproject's range
        chosen = [v for (n, _), v in pins.items() if normal(n) == normal(requirement.name)]
        assert all(requirement.specifier.contains(v) for v in chosen), (requirement, chosen)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    held = dict(line.split("==") for line in (ROOT / "lock/torch.txt").read_text().split()
                if "==" in line)  # fmt: skip
    assert locked["torch"] == held["torch"] and locked["torchvision"] == held["torchvision"]


def test_the_readme_names_the_versions_the_lock_holds() -> None:
    """The README's tested set (CI's Python, 3.11 on Linux: this interpreter's markers)
    is what the lock pins there, so `make lock` cannot leave it stale."""
    pins = lock_diff().pins(LOCK.read_text())
    here = {
        normal(n): v for (n, marker), v in pins.items() if not marker or Marker(marker).evaluate()
    }
    readme = " ".join((ROOT / "README.md").read_text().split())
    tested = readme[readme.index("That is the set CI tests:") :].split("(the lock also", 1)[0]
    named = re.findall(r"\b([a-z][a-z-]+) (\d+\.\d+(?:\.\d+)?)\b", tested)
    assert {"torch", "torchvision", "numpy", "pydantic", "pandas"} <= {n for n, _ in named}
    for name, pinned in named:
        if name != "python":
            assert here[normal(name)] == pinned, (name, pinned, here[normal(name)])


def test_make_lock_names_each_pin_that_moved() -> None:
    diff = lock_diff()
    old = diff.pins(
        "numpy==2.4.5 ; python_full_version == '3.11.*' \\\n    --hash=sha256:aa\n"
        "numpy==2.2.6 ; python_full_version < '3.11' \\\n"
        "uv==0.13.8 \\\n    --hash=sha256:bb\n"
        "six==1.17.0\n"
    )
    new = diff.pins(
        "numpy==2.4.6 ; python_full_version == '3.11.*' \\\n"
        "numpy==2.2.6 ; python_full_version < '3.11' \\\n"
        "uv==0.13.8 \\\n"
        "rich==15.0.0 \\\n"
    )
    assert diff.changes(old, new) == [
        "changed  numpy 2.4.5 -> 2.4.6  ; python_full_version == '3.11.*'",
        "added    rich 15.0.0",
        "removed  six 1.17.0",
    ]
    assert diff.changes(new, new) == []
