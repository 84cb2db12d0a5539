"""The regression gate: a baseline of per-configuration figures (every seed's value, so
the spread travels with it) and the environment, and a check of a suite folder against it.

Each gated figure is a non-inferiority test on the log scale: the change of the mean
(checked over baseline), its standard error from the run-to-run spread pooled over every
configuration with two or more seeds in the baseline and the folder, and the gate passes
the figure when the change's one-sided 95 % bound on the worse side lies within the
tolerance. ``regression``: the change itself is beyond the tolerance and clearly worse
than the baseline (Holm across the gated figures); ``unproven``: the bound is beyond it,
the change is not; ``blind``: even no change would not be shown within it. Each is a
failure; so is a configuration whose runs no longer all finish, or that is missing.
Lower-is-better figures (memory, energy, times) are judged in their own direction.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ganbench.errors import UserError
from ganbench.report.collect import SuiteRuns, load_suites
from ganbench.report.compare import figure_fractions
from ganbench.report.estimate import ALPHA, estimate
from ganbench.report.notes import device_notes
from ganbench.report.profile_diff import (
    Profile,
    configuration_profile,
    operator_table,
    phase_table,
)
from ganbench.report.render import markdown_table
from ganbench.report.steadiness import machine_speed_change, suite_machine_speed
from ganbench.report.table import Table, cell
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
        configurations[name] = {
            "statuses": runs["status"].value_counts().to_dict(),
            "seeds": sorted(int(s) for s in runs["seed"].dropna()),
            "figures": _finished_values(suite, finished, name),
        }
        profile = configuration_profile(folder, name)
        if profile is not None:
            configurations[name]["profile"] = profile.as_document()
    document = {
        "kind": KIND,
        "format": FORMAT,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "suite": str(folder),
        "suite_name": read_suite_meta(folder).get("name"),
        "environment": next(iter(environments.values()), {}),  # the first run's
        "environments": environments,
        "directions": suite.directions,
        "machine_speed": suite_machine_speed(suite),  # how fast the machine was meanwhile
        "pipelines": dict(
            zip(suite.runs["run_id"], suite.runs.get("metrics_protocols", []), strict=False)
        ),
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
    return {**DEFAULT_TOLERANCES, **figure_fractions(text, "--tolerance", known)}


BLIND = "blind"  # even no change at all would not be shown within the tolerance
UNPROVEN = "unproven"  # not shown within the tolerance, not clearly worse either
BLOCKING = ("missing", "status", BLIND, UNPROVEN)
WORSE = ("regression", UNPROVEN)  # the verdicts whose cause the profiles may show


@dataclass
class Verdict:
    configuration: str
    figure: str
    baseline: str
    current: str
    change: float | None  # relative, signed: + is higher
    tolerance: float | None
    bound: float | None  # relative, signed: the change at the worse end of its one-sided
    # 95 % interval (the gate passes when it is within the tolerance)
    detectable: float | None  # the change this comparison catches 80 % of the time
    verdict: str  # ok, improved, regression, unproven, blind, missing, status
    p_worse: float | None = None  # one-sided p-value of being no worse than the baseline

    @property
    def failed(self) -> bool:
        confirmed = self.verdict == f"{UNPROVEN} (confirmed)"  # check --confirm
        return self.verdict.startswith("regression") or self.verdict in BLOCKING or confirmed


@dataclass
class CheckResult:
    verdicts: list[Verdict]
    warnings: list[str]
    causes: list[Table] = field(default_factory=list)  # profile differences, worse ones

    @property
    def failed(self) -> bool:
        return any(v.failed for v in self.verdicts)

    def as_document(self) -> dict[str, Any]:
        """For machines: the verdict and every figure's comparison (changes as fractions)."""
        return {
            "passed": not self.failed,
            "verdicts": [{**asdict(v), "failed": v.failed} for v in self.verdicts],
            "warnings": self.warnings,
            "causes": [asdict(t) for t in self.causes],
        }

    def table(self) -> Table:
        """The verdicts as shown (changes and tolerances in per cent)."""
        rows = [
            [v.configuration, v.figure, v.baseline, v.current, _pct(v.change, "+.1f"),
             _pct(v.bound, "+.1f"), _pct(v.tolerance, ".0f"), _pct(v.detectable, ".1f"),
             v.verdict]
            for v in self.verdicts
        ]  # fmt: skip
        headers = ["configuration", "figure", "baseline", "current", "change", "bound"]
        headers += ["tolerance", "detectable", "verdict"]
        return Table(
            "check against the baseline: passes where the change's one-sided 95% bound is "
            "within the tolerance; detectable: the change caught 80% of the time",
            headers,
            rows,
        )

    def blind_lines(self) -> list[tuple[str, str]]:
        """(verdict, why) for each blind or unproven figure."""
        lines = []
        for v in self.verdicts:
            if v.verdict == BLIND:
                why = (
                    f"{v.configuration} {v.figure}: even an unchanged figure would not be "
                    f"shown within the {_pct(v.tolerance, '.0f')} tolerance by this "
                    f"comparison (it catches changes of {_pct(v.detectable, '.1f')}); run "
                    "more seeds or longer, widen --tolerance, or pass --allow-blind"
                )
                if v.detectable is None:
                    why = (
                        f"{v.configuration} {v.figure}: one seed on every side, so no "
                        "estimate of the noise; run two or more seeds (--seeds 0,1,2) or "
                        "pass --allow-blind"
                    )
                lines.append((BLIND, why))
            elif v.verdict.split(" (")[0] == UNPROVEN:
                why = (
                    f"{v.configuration} {v.figure}: changed {_pct(v.change, '+.1f')}, but "
                    f"could be {_pct(v.bound, '+.1f')} (one-sided 95% bound), beyond the "
                    f"{_pct(v.tolerance, '.0f')} tolerance; run more seeds to tell"
                )
                lines.append((UNPROVEN, why))
        return lines

    def headline(self) -> str:
        failed = [v for v in self.verdicts if v.failed]
        if not failed:
            return "PASS: every gated figure shown within its tolerance"
        unsure = sum(v.verdict.split(" (")[0] in (BLIND, UNPROVEN) for v in failed)
        return (
            f"FAIL: {len(failed) - unsure} regression(s) or missing result(s), "
            f"{unsure} figure(s) not shown within tolerance"
        )

    def markdown(self, title: str) -> str:
        """For a CI job summary: the headline, the table, the blind figures, warnings."""
        icon = "x" if self.failed else "white_check_mark"
        lines = [f"### :{icon}: {title}: {self.headline()}", "", markdown_table(self.table())]
        lines += [f"- {verdict}: {line}" for verdict, line in self.blind_lines()]
        lines += [f"- warning: {w}" for w in self.warnings]
        for table in self.causes:
            lines += ["", markdown_table(table)]
        return "\n".join(lines) + "\n"


def _pct(fraction: float | None, spec: str) -> str:
    return "-" if fraction is None else f"{fraction * 100:{spec}} %"


def check(
    baseline_path: Path | dict[str, Any],
    folder: Path,
    tolerance_text: str | None = None,
    allow_blind: bool = False,
    allow_mismatch: frozenset[str] = frozenset(),
) -> CheckResult:
    """Compare a suite folder with a baseline (a file, or a document in its format, e.g.
    made from the history); raise UserError on unusable input, and on a baseline measured
    on another machine, with other settings or another metric pipeline unless
    ``allow_mismatch`` names every field that differs. A figure that even unchanged could
    not be shown within its tolerance is ``blind`` (a failure: the gate cannot see a
    change of that size) unless ``allow_blind``."""
    if isinstance(baseline_path, dict):
        baseline, baseline_path = baseline_path, Path(baseline_path.get("source", "history"))
    else:
        baseline = read_baseline(baseline_path)
    suite = load_suites([folder])
    directions = {**baseline.get("directions", {}), **suite.directions}
    known = sorted({f for c in baseline["configurations"].values() for f in c["figures"]})
    tolerances = parse_tolerances(tolerance_text, known)
    environments = environment_of(suite)
    warnings = refuse_mismatches(baseline, environments, allow_mismatch)
    warnings += _pipeline_mismatches(baseline, suite, tolerances, allow_mismatch)
    warnings += _suite_environment_warnings(environments, configuration_of(suite))
    warnings += device_notes(suite)  # seeds spread over a mixed cluster
    probes = machine_speed_change(baseline.get("machine_speed"), suite_machine_speed(suite))
    warnings += [probes] if probes else []
    _same_suite(baseline, baseline_path, folder, suite)
    current = _current_values(suite, baseline)
    noise = {f: pooled_noise(baseline, current, f) for f in tolerances}
    verdicts: list[Verdict] = []
    for name, base in baseline["configurations"].items():
        verdicts += _run_verdicts(name, base, suite)
        if name not in current:
            continue
        for figure in gated(tolerances, base["figures"], current[name]):
            old, new = base["figures"].get(figure) or [], current[name].get(figure) or []
            if old:
                gate = Gate(tolerances[figure], directions.get(figure, "min"), noise[figure])
                verdicts.append(gate.judge(name, figure, old, new))
    verdicts = _holm_regressions(verdicts)
    if allow_blind:
        for v in verdicts:
            v.verdict = "blind (allowed)" if v.verdict == BLIND else v.verdict
    return CheckResult(verdicts, warnings, causes(baseline, folder, verdicts))


def causes(baseline: dict[str, Any], folder: Path, verdicts: list[Verdict]) -> list[Table]:
    """For each configuration called worse whose baseline and checked runs both have a
    profile window: the operators whose self time changed most, and the phase shares."""
    tables: list[Table] = []
    worse = dict.fromkeys(v.configuration for v in verdicts if v.verdict in WORSE)
    for name in worse:
        old = Profile.from_document(baseline["configurations"].get(name, {}).get("profile"))
        new = configuration_profile(folder, name)
        if old is not None and new is not None:
            tables += [operator_table(name, old, new), phase_table(name, old, new)]
    return tables


def _run_verdicts(name: str, base: dict[str, Any], suite: SuiteRuns) -> list[Verdict]:
    """A configuration missing from the folder, or whose runs no longer all finish."""
    mine = suite.runs[suite.runs["configuration"] == name]
    if mine.empty:
        return [Verdict(name, "runs", "present", "missing", None, None, None, None, "missing")]
    statuses = mine["status"].value_counts().to_dict()
    if set(statuses) - {"finished"} and not set(base["statuses"]) - {"finished"}:
        shown = ", ".join(f"{n} {s}" for s, n in statuses.items())
        return [Verdict(name, "runs", "all finished", shown, None, None, None, None, "status")]
    return []


def _current_values(suite: SuiteRuns, baseline: dict[str, Any]) -> dict[str, dict[str, list]]:
    """The checked folder's finished values per configuration of the baseline and
    figure, in the baseline's layout."""
    finished = suite.runs[suite.runs["status"] == "finished"]
    return {
        name: _finished_values(suite, finished, name)
        for name in baseline["configurations"]
        if (suite.runs["configuration"] == name).any()
    }


def _finished_values(suite: SuiteRuns, finished, name: str) -> dict[str, list[float]]:
    """Every figure's finite values over ``name``'s finished runs (``finished``: the
    suite's finished rows)."""
    done = finished[finished["configuration"] == name]
    return {
        f: [float(v) for v in done[f] if v is not None and math.isfinite(v)]
        for f in suite.figures()
    }


def gated(
    tolerances: dict[str, float],
    old: dict[str, list[float]],
    new: dict[str, list[float]],
) -> list[str]:
    """The figures to gate for one configuration, each distinct quantity once: at a fixed
    batch (every run's images/s over iterations/s the same, here and in the baseline)
    iterations/s is images/s divided by a constant, so only images/s is gated."""
    figures = list(tolerances)
    pair = ("images_per_s", "iterations_per_s")
    if all(f in figures for f in pair) and _fixed_ratio(old, new, *pair):
        figures.remove("iterations_per_s")
    return figures


def _fixed_ratio(old: dict, new: dict, a: str, b: str) -> bool:
    ratios = [
        x / y
        for side in (old, new)
        for x, y in zip(side.get(a) or [], side.get(b) or [], strict=False)
        if y
    ]
    return bool(ratios) and max(ratios) - min(ratios) <= 1e-6 * abs(max(ratios))


def pooled_noise(
    baseline: dict[str, Any], current: dict[str, dict[str, list]], figure: str
) -> tuple[float, int] | None:
    """The run-to-run spread of ``figure`` on the log scale, pooled over every
    configuration with two or more positive values, in the baseline and in the checked
    folder: (variance, degrees of freedom), or None when none has two."""
    groups = [c["figures"].get(figure) or [] for c in baseline["configurations"].values()]
    groups += [values.get(figure) or [] for values in current.values()]
    squares, df = 0.0, 0
    for values in groups:
        logs = np.log([v for v in values if v > 0])
        if len(logs) > 1:
            squares += float(((logs - logs.mean()) ** 2).sum())
            df += len(logs) - 1
    return (squares / df, df) if df else None


@dataclass(frozen=True)
class Gate:
    """A non-inferiority test of one figure: the change's one-sided 95 % bound on the
    worse side must lie within ``tolerance``."""

    tolerance: float
    direction: str  # "max": higher is better
    noise: tuple[float, int] | None  # pooled log-scale variance and its df

    def judge(self, name: str, figure: str, old: list[float], new: list[float]) -> Verdict:
        a, b = estimate(old), estimate(new)
        if not b.n:
            return Verdict(name, figure, _show(a), "-", None, self.tolerance, None, None, "missing")
        change = b.mean / a.mean - 1 if a.mean > 0 else math.inf
        verdict = Verdict(name, figure, _show(a), _show(b), change, self.tolerance, None, None, "")
        if self.noise is None or not (a.mean > 0 and b.mean > 0):
            verdict.verdict = BLIND  # one seed everywhere: no noise estimate
            return verdict
        variance, df = self.noise
        se = math.sqrt(variance * (1 / a.n + 1 / b.n))
        sign = 1 if self.direction == "min" else -1  # + is worse
        worse, allowed = sign * math.log(b.mean / a.mean), math.log(1 + self.tolerance)
        t = float(stats.t.ppf(1 - ALPHA, df))
        verdict.bound = math.exp(sign * (worse + t * se)) - 1
        verdict.detectable = math.exp((t + float(stats.t.ppf(0.8, df))) * se) - 1
        verdict.p_worse = float(stats.t.sf(worse / se, df)) if se else float(worse <= 0)
        if worse + t * se <= allowed:
            verdict.verdict = "improved" if worse + t * se < -allowed else "ok"
        elif t * se > allowed:
            verdict.verdict = BLIND
        else:
            verdict.verdict = "regression" if worse > allowed else UNPROVEN
        return verdict


def _holm_regressions(verdicts: list[Verdict]) -> list[Verdict]:
    """Holm across the gated figures for the word ``regression``: a figure worse than its
    tolerance is called a regression only when it is also clearly worse than the
    baseline at its Holm level (else ``unproven``); both fail. The pass needs no
    adjustment: it requires every figure's own 5 % test (an intersection-union test), so
    the chance of passing any one regressed figure stays at most 5 %."""
    tested = sorted((v for v in verdicts if v.verdict == "regression"), key=lambda v: v.p_worse)
    m = sum(v.p_worse is not None for v in verdicts)
    for i, v in enumerate(tested):
        if v.p_worse > ALPHA / (m - i):
            for later in tested[i:]:
                later.verdict = UNPROVEN
            break
    return verdicts


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


def refuse_mismatches(
    baseline: dict[str, Any], runs: dict[str, dict[str, Any]], allowed: frozenset[str]
) -> list[str]:
    """The environment's differences from the baseline: a UserError naming each one not
    in ``allowed`` (exit 2: unlike figures are never compared); the allowed ones, and
    fields the baseline does not record, as warnings."""
    warnings = _environment_warnings(baseline, runs)
    refused = [w for w in warnings if w.startswith(DIFFERS) and _field(w) not in allowed]
    if refused:
        fields = ",".join(dict.fromkeys(_field(w) for w in refused))
        raise UserError(
            "the baseline was measured on another machine or with other settings: "
            + "; ".join(w.removeprefix(DIFFERS) for w in refused)
            + f". Compare runs of one machine, or pass --allow-mismatch {fields} to "
            "compare anyway"
        )
    return [w + " (allowed)" if w.startswith(DIFFERS) else w for w in warnings]


def _field(warning: str) -> str:
    return warning.removeprefix(DIFFERS).split(" ", 1)[0]


def _pipeline_mismatches(
    baseline: dict[str, Any], suite: SuiteRuns, tolerances: dict[str, float], allowed
) -> list[str]:
    """Gated quality figures measured with another metric pipeline (extractor, weights,
    reference statistics, resizing, sample count) than the baseline's: refused unless
    ``pipeline`` is allowed."""
    old = baseline.get("pipelines") or {}
    metrics = {f.split(".")[1] for f in tolerances if f.startswith(("quality.", "time_to_target."))}
    if not old or not metrics:
        return []
    new = dict(zip(suite.runs["run_id"], suite.runs.get("metrics_protocols", []), strict=False))
    found = []
    for run_id, protocols in new.items():
        # the baseline's run of the same id, else every one of its runs
        for theirs in [old[run_id]] if run_id in old else list(old.values()):
            for metric in sorted(metrics):
                a, b = (theirs or {}).get(metric), (protocols or {}).get(metric)
                if a and b and a != b:
                    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                    found.append(f"{metric} pipeline differs in {', '.join(keys)} (run {run_id})")
    if found and "pipeline" not in allowed:
        raise UserError(
            "the baseline's quality figures came from another metric pipeline: "
            + "; ".join(dict.fromkeys(found))
            + ". Compare like with like, or pass --allow-mismatch pipeline to compare anyway"
        )
    return [f + " (allowed)" for f in dict.fromkeys(found)]


DIFFERS = "environment differs from the baseline's: "


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
        f"{DIFFERS}{key} {old} -> {new} ({_runs(ids, runs)})"
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
