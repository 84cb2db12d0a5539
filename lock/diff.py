"""What `make lock` changed: the pinned versions added, removed or moved between two lock
files (uv's requirements format; a pin may carry an environment marker).

    python lock/diff.py OLD NEW
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


Pin = tuple[str, str]  # (package, environment marker or "")


def pins(text: str) -> dict[Pin, str]:
    """(package, marker) -> the version pinned there."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            found[(name.lower(), marker or "")] = version
    return found


def changes(old: dict[Pin, str], new: dict[Pin, str]) -> list[str]:
    """One line per pin added, removed or moved, sorted by package."""
    lines = []
    for name, marker in sorted(old.keys() | new.keys()):
        before, after = old.get((name, marker)), new.get((name, marker))
        where = f"  ; {marker}" if marker else ""
        if before == after:
            continue
        if before is None:
            lines.append(f"added    {name} {after}{where}")
        elif after is None:
            lines.append(f"removed  {name} {before}{where}")
        else:
            lines.append(f"changed  {name} {before} -> {after}{where}")
    return lines


def main(argv: list[str]) -> int:
    old_path, new_path = (Path(a) for a in argv)
    old = pins(old_path.read_text(encoding="utf-8")) if old_path.is_file() else {}
    new = pins(new_path.read_text(encoding="utf-8"))
    lines = changes(old, new)
    print("\n".join(lines) if lines else f"{new_path}: no version changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
