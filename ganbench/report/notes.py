"""The report's notes: runs left out of the means and why, seeds on different devices,
runs measured on a busy machine, runs that stopped at different points, what ddp's
communication cost, and what the comparisons could not say."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ganbench.report.collect import SuiteRuns, loaded_configurations, stopped_at
from ganbench.report.steadiness import steadiness_notes
from ganbench.report.table import number, text


def report_notes(suite: SuiteRuns, baseline: str | None, baseline_note: str | None) -> list[str]:
    runs = suite.runs
    notes = run_notes(suite) + device_notes(suite) + noise_notes(suite)
    notes += steadiness_notes(suite) + budget_notes(suite) + comm_notes(suite)
    single = [
        c
        for c, n in runs[runs["status"] == "finished"].groupby("configuration").size().items()
        if n < 2
    ]
    if single:
        notes.append(
            f"one finished seed for {', '.join(single)}: no interval, so no difference can be "
            "called clear (run more seeds: --seeds 0,1,2)"
        )
    if baseline_note is not None:
        notes.append(baseline_note)
    elif baseline is None:
        notes.append("no baseline configuration (set `baseline:` in the suite or --baseline)")
    elif (runs["status"] == "finished").any() and not (
        runs.loc[runs["configuration"] == baseline, "status"] == "finished"
    ).any():
        notes.append(
            f"baseline {baseline!r} has no finished run: no ratios to it (pass --baseline NAME "
            "to compare against another configuration)"
        )
    return notes


def device_notes(suite: SuiteRuns) -> list[str]:
    """A note per configuration whose finished seeds ran on different devices (a launcher
    spreading runs over a mixed cluster): its speed figures mix machines."""
    notes = []
    finished = suite.runs[suite.runs["status"] == "finished"]
    for name, group in finished.groupby("configuration", sort=False):
        devices = sorted({_device_of(e) for e in group.get("environment", [])} - {None})
        if len(devices) > 1:
            notes.append(
                f"{name}: its seeds ran on different devices ({', '.join(devices)}); its speed "
                "and memory figures mix them and are not comparable across seeds"
            )
    return notes


UNSTEADY_CV = 0.5  # iteration times' std over their mean
BUSY_PCT = 25.0  # CPU share other processes took while a run ran
STEAL_PCT = 5.0  # CPU time a VM's host took away


def budget_notes(suite: SuiteRuns) -> list[str]:
    """Seeds, or configurations, that stopped at different iterations (a wall-clock
    limit on a busy machine ...): their quality figures are at different points."""
    notes = []
    ends = {}
    loaded = loaded_configurations(suite)
    for name in suite.runs["configuration"].drop_duplicates():
        if name in loaded:
            continue  # nothing trained: no point of training to compare
        stopped = stopped_at(suite, name)
        if stopped:
            ends[name] = stopped
        if len(set(stopped)) > 1:
            notes.append(
                f"{name}: its seeds stopped at different iterations "
                f"({', '.join(f'{i:,}' for i in stopped)}); their quality figures are "
                "not at the same point of training"
            )
    finals = {name: stopped[-1] for name, stopped in ends.items()}
    if len(set(finals.values())) > 1:
        shown = ", ".join(f"{n} {i:,}" for n, i in finals.items())
        notes.append(
            f"configurations stopped at different iterations ({shown}): quality is compared "
            "at different points of training (a wall_seconds or epoch limit?)"
        )
    return notes


def noise_notes(suite: SuiteRuns) -> list[str]:
    """A note per finished run measured on a busy machine (other processes' CPU share,
    CPU steal) or whose iteration times varied widely: its speed figures are unsteady."""
    notes = []
    finished = suite.runs[suite.runs["status"] == "finished"]
    grew = set(suite.growth["run_id"]) if "run_id" in suite.growth else set()
    for _, r in finished.iterrows():
        said = []
        mean, std = r.get("iter_time_mean_s"), r.get("iter_time_std_s")
        # Iterations that differ by design (SVRE's full passes, a growing batch) vary.
        by_design = r["run_id"] in grew or (
            number(r.get("full_batch_passes")) and r.get("full_batch_passes") > 0
        )
        cv = std / mean if number(mean) and number(std) and mean > 0 else None
        if cv is not None and cv > UNSTEADY_CV and not by_design:
            said.append(f"its iteration times varied widely (CV {cv:.2f})")
        env = r.get("environment")
        load = env.get("host_load") if isinstance(env, dict) else None
        if isinstance(load, dict):
            others, steal = load.get("others_cpu_pct"), load.get("cpu_steal_pct")
            if number(others) and others > BUSY_PCT:
                said.append(f"other processes took {others:.0f} % of the CPUs meanwhile")
            if number(steal) and steal > STEAL_PCT:
                said.append(f"the VM's host took {steal:.0f} % of the CPU time (steal)")
        if said:
            notes.append(
                f"{r['run_id']}: {'; '.join(said)}: its speed figures are unsteady, "
                "compare them with care (or re-run it on a quiet machine)"
            )
    return notes


def comm_notes(suite: SuiteRuns) -> list[str]:
    """A note per configuration trained by ddp processes: what its gradient all-reduces
    moved per iteration and their share of training time (rank 0's, over its seeds)."""
    notes = []
    if "ddp_comm_share" not in suite.runs:
        return notes
    finished = suite.runs[suite.runs["status"] == "finished"]
    for name, group in finished.groupby("configuration", sort=False):
        shares = [s for s in group["ddp_comm_share"] if number(s)]
        if not shares:
            continue
        mib = group["ddp_allreduce_bytes_per_iteration"].mean() / 2**20
        calls = group["ddp_allreduces_per_iteration"].mean()
        spread = f" ({min(shares):.0%} to {max(shares):.0%} over {len(shares)} seeds)"
        notes.append(
            f"{name}: {int(group['world_size'].max())} ddp processes all-reduced "
            f"{mib:.3g} MiB of gradients per iteration in {calls:.3g} "
            f"all-reduce{'' if calls == 1 else 's'}; communication "
            f"took {sum(shares) / len(shares):.0%} of training time (rank 0's)"
            + (spread if len(shares) > 1 else "")
        )
    return notes


def _device_of(environment: Any) -> str | None:
    """The GPU model a run trained on, or its CPU model for a CPU run."""
    if not isinstance(environment, dict) or not environment:
        return None
    return environment.get("gpu_name") or environment.get("cpu_model")


def run_notes(suite: SuiteRuns) -> list[str]:
    """A note per run that is not in the means or has no figures yet (its status and
    reason), led by one saying so when no run has any figure (the tables are then empty)."""
    runs, figures = suite.runs, suite.figures()
    has_figures = (
        runs[figures].notna().any(axis=1) if figures else pd.Series(False, index=runs.index)
    )
    notes = []
    for i, r in runs.iterrows():
        reason = text(r.get("reason")) or "no reason recorded"
        empty = "; no figures yet" if not has_figures[i] else ""
        if r["status"] != "finished":
            notes.append(f"{r['run_id']}: {r['status']} ({reason}); not in the means{empty}")
        elif empty:
            notes.append(f"{r['run_id']}: finished ({reason}) but its summary has no figures")
    if not has_figures.any():
        counts = ", ".join(f"{n} {s}" for s, n in runs["status"].value_counts().items())
        notes.insert(
            0,
            f"no figures yet: none of the {len(runs)} runs ({counts}) has any, so the tables "
            "list the configurations only; re-run the suite to resume them (ganbench "
            "train-suite), then report again",
        )
    return notes
