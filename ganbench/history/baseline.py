"""`check --history N`: a baseline made from the history instead of a file: for each of
the checked folder's configurations, every finished seed's values at the last N recorded
points (up to the checked commit's date) of the same configuration (name and resolved
settings) on the same machine (fingerprint), in the baseline file's format, with the kept
runs' metric pipelines and profile windows. Points on another machine are never pooled:
where only those exist, the refusal names the fields that differ. The checked folder's
own runs and confirmation re-runs (chosen because they looked worse) are no baseline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UserError
from ganbench.history import identity, schema
from ganbench.history.record import folder_identities, folder_rows, run_keys
from ganbench.history.series import moment
from ganbench.report.profile_diff import Profile, mean_profile
from ganbench.results import read_suite_meta


def baseline_from_history(
    engine: Any, folder: Path, last: int, allowed: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The baseline document for ``folder``; a UserError where the history holds no
    point of its configurations on this machine."""
    runs = folder_rows(folder)[1]  # the folder read once
    mine = folder_identities(runs)  # configuration -> (config id, machine fields)
    own = run_keys(runs)
    history = _history(engine, {c for c, _ in mine.values()}, _until(folder))
    configurations, machine, kept = {}, {}, []
    for name, (config_id, fields) in mine.items():
        same = (history["config_id"] == config_id) & (history["configuration"] == name)
        rows = _same_machine(history[same & ~history["key"].isin(own)], fields, allowed, name)
        if rows.empty:
            continue
        machine = rows["machine"].iloc[-1]  # the check names allowed differences
        configurations[name], keys = _configuration(rows, last)
        kept += keys
        profile = _profile(engine, keys)
        if profile is not None:
            configurations[name]["profile"] = profile.as_document()
    if not configurations:
        raise UserError(_nothing_recorded(folder, history, own))
    document = _document(folder, history, configurations, machine)
    document["pipelines"] = _pipelines(engine, history[history["key"].isin(kept)])
    return document


def _nothing_recorded(folder: Path, history: pd.DataFrame, own: set[str]) -> str:
    if not history.empty and history["key"].isin(own).all():
        return (
            f"--history: the only runs recorded for {folder}'s configurations are its own "
            "(a folder is not its own baseline): record earlier runs first"
        )
    return (
        f"--history: nothing recorded for {folder}'s configurations up to its commit "
        "(record trusted runs first: ganbench history record FOLDER, or check --record)"
    )


def _until(folder: Path) -> datetime | None:
    """The checked commit's date: points after it are not its baseline."""
    when = (read_suite_meta(folder).get("repository") or {}).get("commit_time")
    return moment(when) if when else None


def _history(engine: Any, config_ids: set[str], until: datetime | None) -> pd.DataFrame:
    """The finished runs' figures of these configurations up to ``until``, confirmation
    re-runs left out."""
    import sqlalchemy as sa

    r, rec, f, m = schema.runs, schema.recordings, schema.figures, schema.machines
    query = (
        sa.select(rec.c.id.label("recording"), rec.c.commit_time, rec.c.recorded_at,
                  r.c.config_id, r.c.configuration, r.c.run_id, r.c.seed, r.c.key,
                  r.c.pipeline_ids, m.c.fields.label("machine"), m.c.id.label("machine_id"),
                  f.c.name, f.c.value, f.c.direction)
        .join(rec, r.c.recording_id == rec.c.id)
        .join(m, m.c.id == r.c.machine_id)
        .join(f, f.c.run == r.c.id)
        .where(r.c.config_id.in_(config_ids), r.c.status == "finished")
        .where(sa.or_(rec.c.purpose.is_(None), rec.c.purpose != "confirm"))
    )  # fmt: skip
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["config_id", "configuration", "machine_id", "key"])
    times = zip(frame["commit_time"], frame["recorded_at"], strict=True)
    frame["when"] = [moment(t or r) for t, r in times]
    frame["recorded"] = [moment(r) for r in frame["recorded_at"]]
    return frame if until is None else frame[frame["when"] <= until]


def _same_machine(rows: pd.DataFrame, fields: dict, allowed: frozenset[str], name: str):
    """The rows recorded on this machine (fields differing only in ``allowed`` count as
    the same); a UserError naming the differences where there are only others."""
    if rows.empty:
        return rows
    differing = {}
    for machine_id, group in rows.groupby("machine_id"):
        theirs = group["machine"].iloc[0]
        differing[machine_id] = [
            k for k in identity.FINGERPRINT_KEYS if theirs.get(k) != fields.get(k)
        ]
    same = [m for m, keys in differing.items() if not set(keys) - allowed]
    if same:
        return rows[rows["machine_id"].isin(same)]
    closest = min(differing, key=lambda m: len(differing[m]))
    theirs = rows[rows["machine_id"] == closest]["machine"].iloc[0]
    named = [f"{k} {theirs.get(k)!r} vs {fields.get(k)!r}" for k in differing[closest]]
    raise UserError(
        f"--history: {name} was recorded only on other machines: {'; '.join(named)}. "
        f"Record runs of this machine, or pass --allow-mismatch "
        f"{','.join(differing[closest])} to compare anyway"
    )


def _configuration(rows: pd.DataFrame, last: int) -> tuple[dict[str, Any], list[str]]:
    """The last ``last`` recordings' finished values of every figure, and their run keys."""
    recordings = rows.sort_values(["when", "recorded"])["recording"].drop_duplicates()
    kept = rows[rows["recording"].isin(recordings.iloc[-last:])]
    runs = kept.drop_duplicates("key")
    return {
        "statuses": {"finished": len(runs)},
        "seeds": sorted(int(s) for s in runs["seed"].dropna()),
        "figures": {name: [float(v) for v in g["value"]] for name, g in kept.groupby("name")},
        "points": int(recordings.iloc[-last:].size),
    }, list(runs["key"])


def _profile(engine: Any, keys: list[str]) -> Profile | None:
    """The profile window of the kept runs that recorded one, averaged over them."""
    import sqlalchemy as sa

    r, ops, ph = schema.runs, schema.operators, schema.phases
    found = []
    with engine.connect() as connection:
        for key in keys:
            run = connection.execute(sa.select(r.c.id).where(r.c.key == key)).scalar()
            operators = connection.execute(
                sa.select(ops.c.operator, ops.c.self_s_per_iteration, ops.c.share)
                .where(ops.c.run == run)
            ).all()  # fmt: skip
            if operators:
                phases = connection.execute(
                    sa.select(ph.c.phase, ph.c.share).where(ph.c.run == run)
                ).all()
                found.append(({o: (s, sh) for o, s, sh in operators}, dict(phases)))
    return mean_profile(found) if found else None


def _pipelines(engine: Any, kept: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The kept runs' metric protocols, by run key (the check refuses a gated quality
    figure whose pipeline differs from any of them: ``--allow-mismatch pipeline``)."""
    import sqlalchemy as sa

    by_run = dict(zip(kept["key"], kept["pipeline_ids"], strict=True)) if len(kept) else {}
    ids = {i for row in by_run.values() for i in (row or {}).values()}
    if not ids:
        return {}
    table = schema.pipelines
    with engine.connect() as connection:
        found = dict(connection.execute(sa.select(table.c.id, table.c.fields)
                                        .where(table.c.id.in_(ids))).all())  # fmt: skip
    return {
        key: {m: found.get(i) for m, i in (row or {}).items() if m != identity.ALL_PIPELINES}
        for key, row in by_run.items()
    }


def _document(folder: Path, history: pd.DataFrame, configurations: dict, machine: dict) -> dict:
    from ganbench.report.check import FORMAT, KIND

    directions = dict(zip(history["name"], history["direction"], strict=True))
    return {
        "kind": KIND,
        "format": FORMAT,
        "source": "the history",
        "suite_name": read_suite_meta(folder).get("name"),
        "environment": machine,
        "environments": {},
        "directions": directions,
        "machine_speed": None,
        "configurations": configurations,
    }
