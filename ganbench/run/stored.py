"""What a run folder already holds, read defensively for the planner: a damaged
``config.yaml``, ``summary.json`` or ``checkpoint.pt`` (a kill mid-write on a file system
without atomic renames, a full disk, a hand edit) becomes a note saying what ganbench
will do, or one clear error; never a traceback, and never a finished run deleted.

Recovery, in order:
- ``config.yaml`` unreadable: the run's config is read back from its checkpoint (and
  written back before the run is touched); without a checkpoint, an error.
- ``summary.json`` unreadable: the run resumes from its checkpoint, which re-derives the
  summary without training again when the budget was already reached.
- ``checkpoint.pt`` damaged: ``checkpoint.prev.pt`` (one checkpoint earlier) is used;
  with neither, an unfinished run starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ganbench.config.schema import RunConfig
from ganbench.errors import UserError
from ganbench.results import RunStatus, RunStore, RunSummary, Unreadable, read_events

FINAL = {s.value for s in RunStatus if s.final}


@dataclass
class StoredRun:
    """A run folder's config (None: nothing to keep), its status and what was repaired."""

    config: RunConfig | None
    status: str | None  # the summary's status; "unreadable" when summary.json is damaged
    notes: list[str]
    restored_config: dict[str, Any] | None = None  # to write back as config.yaml

    @property
    def final(self) -> bool:
        return self.status in FINAL


def read_stored(store: RunStore) -> StoredRun:
    """The folder's run as far as it can be read; ``UserError`` when it cannot be and
    something worth keeping is there."""
    notes: list[str] = []
    raw, restored = _config(store, notes)
    if raw is None:
        return StoredRun(None, None, notes)
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError:
        raise UserError(
            f"{store.config}: cannot be read as a run of this ganbench version. Use --fresh "
            "to start the run over, or another output_dir"
        ) from None
    return StoredRun(config, _status(store, notes), notes, raw if restored else None)


def _config(store: RunStore, notes: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """(the stored config, whether it came from the checkpoint)."""
    try:
        raw = store.read_config()
    except Unreadable as err:
        problem = err
    else:
        if raw is not None:
            return raw, False
        problem = Unreadable(store.config, "missing")
    if not store.has_checkpoint() and not _ended_final(store):
        if problem.why != "missing":  # nothing worth keeping: the run starts
            notes.append(f"config.yaml {problem.why}, no checkpoint: the run starts over")
        return None, False
    from_checkpoint = _config_from_checkpoint(store)
    if from_checkpoint is None:
        raise UserError(
            f"{problem}, and there is no readable checkpoint to recover the run's "
            "configuration from. Restore the file, use --fresh to start the run over (its "
            "files are replaced), or use another output_dir"
        )
    notes.append(f"config.yaml {problem.why}: read back from the checkpoint")
    return from_checkpoint, True


def _config_from_checkpoint(store: RunStore) -> dict[str, Any] | None:
    try:
        state = store.load_checkpoint()
    except Unreadable:
        return None
    config = state.get("config") if isinstance(state, dict) else None
    return config if isinstance(config, dict) else None


def _status(store: RunStore, notes: list[str]) -> str | None:
    try:
        summary = _read_summary(store)
    except Unreadable as err:
        if not store.checkpoints() and _ended_final(store):
            raise UserError(
                f"{err}; the run finished but has no checkpoint to re-derive it from. Use "
                "--fresh to run it again, or restore the file"
            ) from None
        then = "re-derived from the checkpoint" if store.checkpoints() else "starting over"
        notes.append(f"summary.json {err.why}: {then}")
        return "unreadable"
    return None if summary is None else summary.get("status")


def _read_summary(store: RunStore) -> dict[str, Any] | None:
    """summary.json, which must be a ganbench summary (``Unreadable`` otherwise)."""
    summary = store.read_summary_strict()
    if summary is not None:
        try:
            RunSummary.model_validate(summary)
        except ValidationError:
            raise Unreadable(store.summary, "not a ganbench run summary") from None
    return summary


def _ended_final(store: RunStore) -> bool:
    """Whether the events (or the summary) say the run ended with a final status."""
    ends = [e for e in read_events(store.events) if e.get("event") == "end"]
    summary = store.read_summary() or {}
    return (bool(ends) and ends[-1].get("status") in FINAL) or summary.get("status") in FINAL


def checkpoint_note(store: RunStore) -> tuple[bool, str]:
    """(whether a resume is possible, a note when it uses the older checkpoint or none)."""
    usable = store.checkpoints()
    if usable and usable[0] == store.checkpoint:
        return True, "from its last checkpoint"
    if usable:
        return True, "checkpoint.pt is damaged: from checkpoint.prev.pt, one checkpoint earlier"
    if store.has_checkpoint():
        return False, "its checkpoint is damaged and there is no earlier one: starting over"
    return False, "no checkpoint to resume from"
