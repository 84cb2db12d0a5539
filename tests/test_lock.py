"""The lock holds what pyproject asks for (a dependency added without `make lock` fails
here), torch where lock/torch.txt holds it, and `make lock` says what moved."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

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
    assert version("torch").split("+")[0] == held["torch"]  # this environment: the lock's


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
