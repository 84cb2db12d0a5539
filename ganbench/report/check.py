"""The regression gate: a baseline of per-configuration figures (every seed's value, so
the spread travels with it) and the environment, and a check of a suite folder against it.

A figure regresses when it is worse than the baseline's mean by more than its tolerance
*and* by more than the noise: the half-width of the 95% Welch interval of the difference
of means, when both sides have two or more seeds (with one seed on either side the
tolerance alone decides, and the verdict says so). A configuration whose runs no longer
all finish, or that is missing, fails the check too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ganbench.errors import UserError
from ganbench.report.aggregate import estimate, welch_t
from ganbench.report.build import Table, cell, device_notes
from ganbench.report.collect import SPEED, SuiteRuns, load_suites
from ganbench.report.render import markdown_table
from ganbench.results import read_suite_meta, write_atomic

# Format 2: images/s and iterations/s of the steady state, the training-only CUDA peak.
KIND, FORMAT = "ganbench-baseline", 2
# Figures gated unless --tolerance says otherwise (relative tolerances).
DEFAULT_TOLERANCES = {
    "images_per_s": 0.05,
    "iterations_per_s": 0.05,
    "peak_cuda_alloc_bytes": 0.05,
    "energy_j_per_image": 0.10,
}
# Environment fields that make figures incomparable when they differ. The machine's are
# the same for every run on one machine (the GPU's maximum and application clocks, not
# the momentary ones); the settings' a configuration's levers may change (cudnn_benchmark,
# tf32), so they are compared between runs of one configuration only.
MACHINE_KEYS = (
    "device",
    "gpu_name",
    "driver",
    "cuda",
    "torch",
    "cpu_model",
    "torch_threads",
    "gpu_power_limit_w",
    "gpu_sm_clock_max_mhz",
    "gpu_mem_clock_max_mhz",
    "gpu_sm_clock_app_mhz",
    "gpu_mem_clock_app_mhz",
    "gpu_mig_mode",
)
SETTING_KEYS = (
    "cudnn_enabled",
    "cudnn_benchmark",
    "cudnn_deterministic",
    "cudnn_allow_tf32",
    "matmul_allow_tf32",
    "float32_matmul_precision",
)
ENVIRONMENT_KEYS = MACHINE_KEYS + SETTING_KEYS


def environment_of(suite: SuiteRuns) -> dict[str, dict[str, Any]]:
    """Each run's compared environment fields, by run id in run order (a field the run did
    not record, e.g. by an older ganbench, is left out rather than taken as None)."""
    found = {}
    for run_id, env in zip(suite.runs["run_id"], suite.runs.get("environment", []), strict=False):
        if isinstance(env, dict) and env:
            found[run_id] = {k: env[k] for k in ENVIRONMENT_KEYS if k in env}
    return found


def configuration_of(suite: SuiteRuns) -> dict[str, str]:
    return dict(zip(suite.runs["run_id"], suite.runs["configuration"], strict=True))


def save_baseline(folder: Path, output: Path) -> dict[str, Any]:
    """Every finished seed's value of every figure, per configuration, with run statuses
    and every run's environment (``environments``, by run id; ``environment`` is the first
    run's, all a baseline held before); written to ``output`` as JSON."""
    suite = load_suites([folder])
    finished = suite.runs[suite.runs["status"] == "finished"]
    configurations, environments = {}, environment_of(suite)
    for name, runs in suite.runs.groupby("configuration", sort=False):
        done = finished[finished["configuration"] == name]
        configurations[name] = {
            "statuses": runs["status"].value_counts().to_dict(),
            "seeds": sorted(int(s) for s in runs["seed"].dropna()),
            "figures": {
                f: [float(v) for v in done[f] if v is not None and math.isfinite(v)]
                for f in suite.figures()
            },
        }
    document = {
        "kind": KIND,
        "format": FORMAT,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "suite": str(folder),
        "suite_name": read_suite_meta(folder).get("name"),
        "environment": next(iter(environments.values()), {}),  # the first run's
        "environments": environments,
        "directions": suite.directions,
        "configurations": configurations,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, json.dumps(document, indent=2) + "\n")
    return document


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise UserError(
            f"--baseline {path}: file not found (make one: ganbench baseline save "
            "reports/<suite> -o baseline.json)"
        ) from None
    except json.JSONDecodeError as err:
        raise UserError(f"--baseline {path}: not JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise UserError(f"--baseline {path}: not a ganbench baseline (ganbench baseline save)")
    if document.get("format") == 1:
        raise UserError(
            f"--baseline {path}: saved by an older ganbench, whose images/s counted warm-up "
            "and compilation and whose CUDA peak counted evaluation; train the baseline again "
            "with this ganbench and save it (ganbench train-suite SUITE --fresh; ganbench "
            "baseline save reports/<suite> -o baseline.json)"
        )
    if document.get("format") != FORMAT:
        raise UserError(f"--baseline {path}: format {document.get('format')}, expected {FORMAT}")
    return document


def parse_tolerances(text: str | None, known: list[str]) -> dict[str, float]:
    """``images_per_s=5%,peak_cuda_alloc_bytes=0.05`` on top of the defaults."""
    tolerances = dict(DEFAULT_TOLERANCES)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, raw = item.strip().partition("=")
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(%?)\s*", raw)
        if not sep or match is None:
            raise UserError(f"--tolerance {item}: expected figure=5% or figure=0.05")
        if name not in known:
            raise UserError(
                f"--tolerance {name}: not a figure of the baseline (choose: {', '.join(known)})"
            )
        value = float(match.group(1))
        tolerances[name] = value / 100 if match.group(2) else value
    return tolerances


BLIND = "blind"  # the noise is wider than the tolerance: the gate cannot see such a change
BLOCKING = ("missing", "status", BLIND)


@dataclass
class Verdict:
    configuration: str
    figure: str
    baseline: str
    current: str
    change: float | None  # relative, signed: + is higher
    tolerance: float | None
    noise: float | None  # relative half-width of the difference's interval: the smallest
    # change this comparison can tell from noise
    verdict: str  # ok, improved, within noise, regression, blind, missing, status

    @property
    def failed(self) -> bool:
        return self.verdict.startswith("regression") or self.verdict in BLOCKING


@dataclass
class CheckResult:
    verdicts: list[Verdict]
    warnings: list[str]

    @property
    def failed(self) -> bool:
        return any(v.failed for v in self.verdicts)

    def as_document(self) -> dict[str, Any]:
        """For machines: the verdict and every figure's comparison (changes as fractions)."""
        return {
            "passed": not self.failed,
            "verdicts": [{**asdict(v), "failed": v.failed} for v in self.verdicts],
            "warnings": self.warnings,
        }

    def table(self) -> Table:
        """The verdicts as shown (changes and tolerances in per cent)."""
        rows = [
            [v.configuration, v.figure, v.baseline, v.current, _pct(v.change, "+.1f"),
             _pct(v.tolerance, ".0f"), _pct(v.noise, ".1f"), v.verdict]
            for v in self.verdicts
        ]  # fmt: skip
        headers = ["configuration", "figure", "baseline", "current", "change", "tolerance"]
        return Table("check against the baseline", [*headers, "detectable", "verdict"], rows)

    def blind_lines(self) -> list[str]:
        """Why each blind figure fails: the smallest change this comparison could see."""
        return [
            f"{v.configuration} {v.figure}: the smallest change this comparison can see is "
            f"{_pct(v.noise, '.1f')}, wider than the {_pct(v.tolerance, '.0f')} tolerance "
            "(run more seeds or longer, widen --tolerance, or pass --allow-blind)"
            for v in self.verdicts
            if v.verdict == BLIND
        ]

    def headline(self) -> str:
        failed = [v for v in self.verdicts if v.failed]
        if not failed:
            return "PASS: no regression beyond tolerance and noise"
        blind = sum(v.verdict == BLIND for v in failed)
        return (
            f"FAIL: {len(failed) - blind} regression(s) or missing result(s), "
            f"{blind} figure(s) the gate cannot judge"
        )

    def markdown(self, title: str) -> str:
        """For a CI job summary: the headline, the table, the blind figures, warnings."""
        icon = "x" if self.failed else "white_check_mark"
        lines = [f"### :{icon}: {title}: {self.headline()}", "", markdown_table(self.table())]
        lines += [f"- blind: {line}" for line in self.blind_lines()]
        lines += [f"- warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def _pct(fraction: float | None, spec: str) -> str:
    return "-" if fraction is None else f"{fraction * 100:{spec}} %"


def check(
    baseline_path: Path,
    folder: Path,
    tolerance_text: str | None = None,
    allow_blind: bool = False,
) -> CheckResult:
    """Compare a suite folder with a baseline; raise UserError on unusable input. A figure
    whose noise is wider than its tolerance is ``blind`` (a failure: the gate could not
    see a change of that size) unless ``allow_blind``."""
    baseline = read_baseline(baseline_path)
    suite = load_suites([folder])
    directions = {**baseline.get("directions", {}), **suite.directions}
    known = sorted({f for c in baseline["configurations"].values() for f in c["figures"]})
    tolerances = parse_tolerances(tolerance_text, known)
    environments = environment_of(suite)
    warnings = _environment_warnings(baseline, environments)
    warnings += _suite_environment_warnings(environments, configuration_of(suite))
    warnings += device_notes(suite)  # seeds spread over a mixed cluster
    _same_suite(baseline, baseline_path, folder, suite)
    finished = suite.runs[suite.runs["status"] == "finished"]
    verdicts: list[Verdict] = []
    for name, base in baseline["configurations"].items():
        mine = suite.runs[suite.runs["configuration"] == name]
        if mine.empty:
            verdicts.append(
                Verdict(name, "runs", "present", "missing", None, None, None, "missing")
            )
            continue
        statuses = mine["status"].value_counts().to_dict()
        unfinished = {s: n for s, n in statuses.items() if s != "finished"}
        if unfinished and not set(base["statuses"]) - {"finished"}:
            shown = ", ".join(f"{n} {s}" for s, n in statuses.items())
            verdicts.append(
                Verdict(name, "runs", "all finished", shown, None, None, None, "status")
            )
        done = finished[finished["configuration"] == name]
        for figure, tolerance in tolerances.items():
            values = base["figures"].get(figure) or []
            if not values or figure not in done:
                continue
            verdict = _compare(name, figure, values, done[figure].tolist(), tolerance, directions)
            if allow_blind and verdict.verdict == BLIND:
                verdict.verdict = "blind (allowed)"
            verdicts.append(verdict)
    return CheckResult(verdicts, warnings)


def _compare(name, figure, old, new, tolerance, directions) -> Verdict:
    a, b = estimate(old), estimate(new)
    if not b.n:
        return Verdict(name, figure, _show(a), "-", None, tolerance, None, "missing")
    change = (b.mean - a.mean) / a.mean if a.mean else math.inf
    higher_better = directions.get(figure, SPEED.get(figure, "min")) == "max"
    worse = -change if higher_better else change
    noise = None
    if a.n > 1 and b.n > 1:
        va, vb = a.std**2 / a.n, b.std**2 / b.n
        half = welch_t(va, a.n, vb, b.n) * math.sqrt(va + vb) if va + vb > 0 else 0.0
        noise = half / abs(a.mean) if a.mean else math.inf
    beyond_noise = noise is None or abs(change) > noise
    if worse > tolerance:
        verdict = "regression" if beyond_noise else "within noise"
        if not beyond_noise and noise > tolerance:
            verdict = BLIND
    elif -worse > tolerance and beyond_noise:
        verdict = "improved"
    else:
        verdict = BLIND if noise is not None and noise > tolerance else "ok"
    if noise is None and verdict in ("regression", "improved"):
        verdict += " (one seed: tolerance only)"
    return Verdict(name, figure, _show(a), _show(b), change, tolerance, noise, verdict)


def _same_suite(baseline: dict[str, Any], path: Path, folder: Path, suite: SuiteRuns) -> None:
    """A baseline of another suite, sharing no configuration with the folder: said as
    such (exit 2), not as every configuration missing."""
    theirs, mine = baseline.get("suite_name"), read_suite_meta(folder).get("name")
    shared = set(baseline["configurations"]) & set(suite.runs["configuration"])
    if theirs and mine and theirs != mine and not shared:
        raise UserError(
            f"--baseline {path}: this baseline is for suite {theirs!r}, and {folder} holds "
            f"suite {mine!r} (no configuration in common); check against {mine!r}'s "
            f"baseline (make one: ganbench baseline save {folder} -o baseline.json)"
        )


def _show(e) -> str:
    return cell(e) + (f" (n={e.n})" if e.n else "")


def _environment_warnings(baseline: dict[str, Any], runs: dict[str, dict[str, Any]]) -> list[str]:
    """Each run's environment against the baseline's run of the same id (every field), or,
    where the baseline has no such run, against its first run (the machine's fields: the
    settings are a configuration's own). One warning per change, naming the runs; fields
    the baseline does not record (saved by an older ganbench) are named once, not compared."""
    first, per_run = baseline.get("environment") or {}, baseline.get("environments") or {}
    changes: dict[tuple[str, str, str], list[str]] = {}
    unrecorded = set() if "environments" in baseline else set(SETTING_KEYS)
    for run_id, env in runs.items():
        old = per_run.get(run_id)
        keys = ENVIRONMENT_KEYS if old is not None else MACHINE_KEYS
        old = first if old is None else old
        for key in (k for k in keys if k in env):
            if key not in old:
                unrecorded.add(key)
            elif old[key] != env[key]:
                changes.setdefault((key, repr(old[key]), repr(env[key])), []).append(run_id)
    warnings = [
        f"environment differs from the baseline's: {key} {old} -> {new} ({_runs(ids, runs)})"
        for (key, old, new), ids in changes.items()
    ]
    unrecorded &= {k for env in runs.values() for k in env}
    if unrecorded:
        names = ", ".join(k for k in ENVIRONMENT_KEYS if k in unrecorded)
        warnings.append(
            f"not compared with the baseline, which does not record them (saved by an older "
            f"ganbench; save it again to compare them): {names}"
        )
    return warnings


def _suite_environment_warnings(
    runs: dict[str, dict[str, Any]], configurations: dict[str, str]
) -> list[str]:
    """Runs of the checked suite that differ among themselves: in the machine's fields
    across all runs, in the settings between seeds of one configuration."""
    warnings = [
        f"runs of this suite differ among themselves: {key} {values}"
        for key in MACHINE_KEYS
        if (values := _differing(runs, key))
    ]
    for name in dict.fromkeys(configurations.values()):
        mine = {r: env for r, env in runs.items() if configurations.get(r) == name}
        warnings += [
            f"seeds of {name} differ among themselves: {key} {values}"
            for key in SETTING_KEYS
            if (values := _differing(mine, key))
        ]
    return warnings


def _differing(runs: dict[str, dict[str, Any]], key: str) -> str | None:
    """``'a' (runs x, y), 'b' (run z)`` where the runs recording ``key`` disagree on it."""
    groups: dict[str, list[str]] = {}
    for run_id, env in runs.items():
        if key in env:
            groups.setdefault(repr(env[key]), []).append(run_id)
    if len(groups) < 2:
        return None
    return ", ".join(f"{value} ({_runs(ids, runs)})" for value, ids in groups.items())


def _runs(ids: list[str], runs: dict[str, Any], shown: int = 4) -> str:
    """``run x``, ``runs x, y``, ``runs x, y, z, w and 3 more``, or ``all 7 runs``."""
    if len(ids) > 1 and len(ids) == len(runs):
        return f"all {len(ids)} runs"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"run{'s' if len(ids) > 1 else ''} {', '.join(ids[:shown])}{more}"
