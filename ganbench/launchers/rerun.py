"""Runs measured on an unsteady machine, trained again (``train-suite --rerun-unsteady N``).

Once a suite's runs have ended (none interrupted), the finished runs whose machine-speed
probe was more than 10 % off the suite's median (``results.summary.unsteady_machines``,
the report's rule, over every run folder of the suite) are trained again from the start,
same configuration, up to N times each, until they are steady. The replaced attempt's
folder is kept, whole, as ``<suite>/replaced/<run_id>.attempt-<k>/`` (k = 0: the
original) with ``replaced.json`` saying when and why; it is two levels down, so the
report, runs.csv and the planner (which read the suite folder's direct sub-folders) see
only the latest attempt. The latest attempt's summary records what it ``replaces``
(``run_id``, ``attempt``: 1 for the first re-run, ``reason``, ``kept``: the kept folder).

The kept folders are the count: a resume never redoes a replacement already done, and a
replacement interrupted part-way is resumed like any run (and its ``replaces`` written
when it ends). ``--fresh`` leaves ``replaced/`` and its count alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganbench.errors import stopped_by_storage
from ganbench.results import RunStatus, RunStore, RunSummary, write_atomic
from ganbench.results.lock import FolderLock
from ganbench.results.summary import unsteady_machines
from ganbench.run.plan import RunPlan

REPLACED_DIR = "replaced"
RECORD_FILE = "replaced.json"
ATTEMPT = ".attempt-"

RunPlans = Callable[[list[RunPlan]], list[RunSummary]]
Note = Callable[[str], None]
Stopped = Callable[[], Any]  # truthy once the user asked the suite to stop


def kept_attempts(output_dir: Path, run_id: str) -> list[Path]:
    """The kept folders of ``run_id``'s replaced attempts, oldest first."""
    return [path for _, path in _kept(output_dir, run_id)]


def _kept(output_dir: Path, run_id: str) -> list[tuple[int, Path]]:
    """(attempt, folder) of every kept attempt of ``run_id``, by attempt."""
    found = []
    for path in (output_dir / REPLACED_DIR).glob(f"*{ATTEMPT}*"):
        name, _, attempt = path.name.rpartition(ATTEMPT)
        if name == run_id and attempt.isdigit() and path.is_dir():
            found.append((int(attempt), path))
    return sorted(found)


def replaces_record(output_dir: Path, run_id: str) -> dict[str, Any] | None:
    """What the run folder's latest attempt replaces (its summary's ``replaces``), from
    the kept folders; None when nothing was replaced."""
    kept = _kept(output_dir, run_id)
    if not kept:
        return None
    attempt, folder = kept[-1]
    try:
        why = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        why = {}
    return {
        "run_id": run_id,
        "attempt": attempt + 1,
        "reason": why.get("reason") if isinstance(why, dict) else None,
        "kept": f"{REPLACED_DIR}/{folder.name}",
    }


def unsteady_in(output_dir: Path) -> dict[str, str]:
    """The finished runs of the suite folder measured on an unsteady machine, with why."""
    speeds = {}
    for path in sorted(output_dir.glob("*/summary.json")):
        summary = RunStore(path.parent).read_summary() or {}
        if summary.get("status") == RunStatus.FINISHED.value:
            speeds[path.parent.name] = summary.get("machine_speed")
    return unsteady_machines(speeds)


def rerun_unsteady(
    output_dir: Path,
    plans: list[RunPlan],
    summaries: list[RunSummary],
    run_plans: RunPlans,
    note: Note,
    stopped: Stopped,
    times: int,
) -> list[RunSummary]:
    """After the suite's ``summaries``: every planned run's ``replaces`` brought up to date,
    then the unsteady ones re-run (``run_plans``) up to ``times`` times each, unless the
    suite was stopped; the summaries with each replaced run's latest attempt in its place."""
    latest = {s.run_id: _stamped(output_dir, s) for s in summaries}
    if times <= 0 or _cut_short(summaries, len(plans)):
        return list(latest.values())
    planned = {p.run.id: p for p in plans}
    for _ in range(times):
        if stopped():
            break
        flagged = {i: why for i, why in unsteady_in(output_dir).items() if i in planned}
        due = [i for i in flagged if len(kept_attempts(output_dir, i)) < times]
        if not due:
            break
        reruns = [_keep(planned[i], output_dir, flagged[i], times, note) for i in due]
        done = run_plans(reruns)
        latest |= {s.run_id: _stamped(output_dir, s) for s in done}
        if _cut_short(done, len(reruns)):
            return list(latest.values())
    for run_id, why in unsteady_in(output_dir).items():
        if run_id in planned and kept_attempts(output_dir, run_id):
            note(f"{run_id}: still unsteady after {times} re-run(s): {why}")
    return list(latest.values())


def _cut_short(summaries: list[RunSummary], planned: int) -> bool:
    """Whether runs were left undone: a stop request, a run interrupted, a full disk."""
    return len(summaries) < planned or any(
        s.status == RunStatus.INTERRUPTED or stopped_by_storage(s.reason) for s in summaries
    )


def _keep(plan: RunPlan, output_dir: Path, reason: str, times: int, note: Note) -> RunPlan:
    """Move the run's folder to ``replaced/`` (with why) and plan its next attempt."""
    run_id = plan.run.id
    done = _kept(output_dir, run_id)
    attempt = done[-1][0] + 1 if done else 0  # this one's number: 0 for the original
    kept = output_dir / REPLACED_DIR / f"{run_id}{ATTEMPT}{attempt}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "attempt": attempt, "reason": reason, "replaced_at": time.time()}
    with FolderLock(plan.store.folder, "run folder"):  # no task of another process in it
        write_atomic(plan.store.folder / RECORD_FILE, json.dumps(record, indent=2) + "\n")
    os.replace(plan.store.folder, kept)
    note(
        f"{run_id}: {reason}; re-run {attempt + 1} of {times} (the run so far is kept in "
        f"{REPLACED_DIR}/{kept.name})"
    )
    again = f"re-run {attempt + 1} of {times}: unsteady machine"
    return dataclasses.replace(plan, action="start", note=again, restore_config=None, repairs=())


def _stamped(output_dir: Path, summary: RunSummary) -> RunSummary:
    """``summary`` with its ``replaces`` as the kept folders say, written back to the run
    folder when it changed (a run that replaced nothing is left as it is)."""
    record = replaces_record(output_dir, summary.run_id)
    if record is None or summary.replaces == record:
        return summary
    store = RunStore(output_dir / summary.run_id)
    written = store.read_summary()
    if written is None:
        return summary
    written["replaces"] = record
    try:
        write_atomic(store.summary, json.dumps(written, indent=2) + "\n")
    except OSError:
        return summary  # a full disk: written next time the suite runs
    return summary.model_copy(update={"replaces": record})
