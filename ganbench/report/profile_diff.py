"""Where the time went: a configuration's profile window (operators' self time per profiled
iteration, device time on CUDA, and the training phases' shares) from its runs, averaged
over seeds, and the difference between two such profiles: the operators whose self time
changed most, and the phase shares side by side. Profiles come from the runs' own window
(``measure.profile`` in the suite) or from ``ganbench profile`` runs of the configuration
(``<suite>/profiles/<name>-seed<N>/``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.report.table import Table
from ganbench.results import RunStore, flatten

PROFILES_DIR = "profiles"  # where `ganbench profile` writes, inside the suite folder
TOP = 10


@dataclass
class Profile:
    """Self seconds per profiled iteration and share, per operator; share per phase."""

    operators: dict[str, tuple[float, float]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    runs: int = 0

    def as_document(self) -> dict[str, Any]:
        return {"operators": {k: list(v) for k, v in self.operators.items()},
                "phases": self.phases, "runs": self.runs}  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> Profile | None:
        if not document or not document.get("operators"):
            return None
        operators = {k: (float(v[0]), float(v[1])) for k, v in document["operators"].items()}
        return cls(operators, dict(document.get("phases") or {}), int(document.get("runs", 1)))


def run_operators(folder: Path, summary: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A run's profiled operators: (self seconds per profiled iteration, share)."""
    import pandas as pd

    profile = summary.get("profile") or {}
    table, active = profile.get("top_ops"), profile.get("active")
    if not isinstance(table, str) or not isinstance(active, int | float) or active <= 0:
        return {}
    try:
        frame = pd.read_csv(folder / table)
    except (OSError, ValueError):
        return {}
    device = str((summary.get("environment") or {}).get("device", ""))
    key = "self_device_s" if device.startswith("cuda") else "self_cpu_s"
    if key not in frame or "operator" not in frame:
        return {}
    seconds = frame.groupby("operator", sort=False)[key].sum()
    total = float(seconds.sum())
    return {str(op): (float(s) / active, float(s) / total if total > 0 else 0.0)
            for op, s in seconds.items()}  # fmt: skip


def run_phases(summary: dict[str, Any]) -> dict[str, float]:
    """A run's training phases' shares of training time."""
    fields = flatten({"phases": summary.get("phases") or {}})
    return {
        name.split(".")[1]: float(value)
        for name, value in fields.items()
        if name.endswith(".share") and isinstance(value, int | float) and math.isfinite(value)
    }


def configuration_profile(folder: Path, name: str) -> Profile | None:
    """``name``'s profile, averaged over its runs that have one: the suite's own runs
    first, else its `ganbench profile` runs; None where none has a profile."""
    for candidates in (folder.glob(f"{name}-seed*"), (folder / PROFILES_DIR).glob(f"{name}-*")):
        found = []
        for run in sorted(candidates):
            summary = RunStore(run).read_summary() or {}
            if summary.get("name", name) == name and (ops := run_operators(run, summary)):
                found.append((ops, run_phases(summary)))
        if found:
            return mean_profile(found)
    return None


def mean_profile(found: list[tuple[dict, dict]]) -> Profile:
    """Each operator's and phase's mean over the runs (0 where a run lacks it)."""
    n = len(found)
    ops = {op for o, _ in found for op in o}
    phases = {p for _, ph in found for p in ph}
    operators = {
        op: (sum(o.get(op, (0, 0))[0] for o, _ in found) / n,
             sum(o.get(op, (0, 0))[1] for o, _ in found) / n)
        for op in ops
    }  # fmt: skip
    return Profile(operators, {p: sum(ph.get(p, 0.0) for _, ph in found) / n for p in phases}, n)


def operator_table(name: str, old: Profile, new: Profile, top: int = TOP) -> Table:
    """The ``top`` operators whose self time per iteration changed most (either way)."""
    ops = set(old.operators) | set(new.operators)
    delta = {op: new.operators.get(op, (0, 0))[0] - old.operators.get(op, (0, 0))[0] for op in ops}
    rows = []
    for op in sorted(ops, key=lambda o: -abs(delta[o]))[:top]:
        (a, sa), (b, sb) = old.operators.get(op, (0.0, 0.0)), new.operators.get(op, (0.0, 0.0))
        rows.append([op, f"{a * 1e3:.3f}", f"{b * 1e3:.3f}", f"{delta[op] * 1e3:+.3f}",
                     f"{sa:.1%}", f"{sb:.1%}"])  # fmt: skip
    headers = ["operator", "ms/it before", "ms/it now", "change ms/it", "share before"]
    return Table(
        f"{name}: the operators whose self time changed most (per profiled iteration; "
        f"{old.runs} and {new.runs} profiled run(s))",
        [*headers, "share now"],
        rows,
    )


def phase_table(name: str, old: Profile, new: Profile) -> Table:
    """The phases' shares of training time, before and now."""
    phases = sorted(set(old.phases) | set(new.phases), key=lambda p: -new.phases.get(p, 0.0))
    rows = [[p, f"{old.phases.get(p, 0.0):.1%}", f"{new.phases.get(p, 0.0):.1%}"] for p in phases]
    return Table(f"{name}: share of training time by phase", ["phase", "before", "now"], rows)
