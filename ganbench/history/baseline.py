"""`check --history N`: a baseline made from the history instead of a file: for each of
the checked folder's configurations, every finished seed's values at the last N recorded
points of the same configuration (resolved settings) on the same machine (fingerprint),
in the baseline file's format. Points on another machine are never pooled: where only
those exist, the refusal names the fields that differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UserError
from ganbench.history import identity, schema
from ganbench.history.record import folder_identities
from ganbench.report.profile_diff import Profile, mean_profile
from ganbench.results import read_suite_meta


def baseline_from_history(
    engine: Any, folder: Path, last: int, allowed: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The baseline document for ``folder`` from its last ``last`` points per
    configuration; a UserError where the history holds none on this machine."""
    mine = folder_identities(folder)  # configuration -> (config id, machine fields)
    history = _history(engine, {c for c, _ in mine.values()}, mine_keys(folder))
    configurations, machine = {}, {}
    for name, (config_id, fields) in mine.items():
        same = (history["config_id"] == config_id) & (history["configuration"] == name)
        rows = _same_machine(history[same], fields, allowed, name)
        if rows.empty:
            continue
        machine = rows["machine"].iloc[-1]  # the check names allowed differences
        configurations[name] = _configuration(rows, last)
        profile = _profile(engine, configurations[name].pop("keys"))
        if profile is not None:
            configurations[name]["profile"] = profile.as_document()
    if not configurations:
        raise UserError(
            f"--history: nothing recorded for {folder}'s configurations "
            "(record trusted runs first: ganbench history record FOLDER, or check --record)"
        )
    return _document(folder, history, configurations, machine)


def mine_keys(folder: Path) -> set[str]:
    """The run keys of the checked folder itself (a folder recorded before it is checked
    is not its own baseline)."""
    from ganbench.history.record import run_keys

    return run_keys(folder)


def _history(engine: Any, config_ids: set[str], exclude: set[str]) -> pd.DataFrame:
    import sqlalchemy as sa

    r, rec, f, m = schema.runs, schema.recordings, schema.figures, schema.machines
    query = (
        sa.select(rec.c.id.label("recording"), rec.c.commit_time, rec.c.recorded_at,
                  r.c.config_id, r.c.configuration, r.c.run_id, r.c.seed, r.c.key, r.c.status,
                  m.c.fields.label("machine"), m.c.id.label("machine_id"), f.c.name, f.c.value,
                  f.c.direction)
        .join(rec, r.c.recording_id == rec.c.id)
        .join(m, m.c.id == r.c.machine_id)
        .join(f, f.c.run == r.c.id)
        .where(r.c.config_id.in_(config_ids), r.c.status == "finished")
    )  # fmt: skip
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["config_id", "configuration", "machine_id", "key"])
    return frame[~frame["key"].isin(exclude)]


def _same_machine(rows: pd.DataFrame, fields: dict, allowed: frozenset[str], name: str):
    """The rows recorded on this machine (fields differing only in ``allowed`` count as
    the same); a UserError naming the differences where there are only others."""
    if rows.empty:
        return rows
    verdicts = {}
    for machine_id, group in rows.groupby("machine_id"):
        theirs = group["machine"].iloc[0]
        verdicts[machine_id] = [
            k for k in identity.FINGERPRINT_KEYS if theirs.get(k) != fields.get(k)
        ]
    same = [m for m, keys in verdicts.items() if not set(keys) - allowed]
    if same:
        return rows[rows["machine_id"].isin(same)]
    theirs = rows["machine"].iloc[-1]
    named = [f"{k} {theirs.get(k)!r} vs {fields.get(k)!r}" for k in min(verdicts.values(), key=len)]
    keys = ",".join(min(verdicts.values(), key=len))
    raise UserError(
        f"--history: {name} was recorded only on other machines: {'; '.join(named)}. "
        f"Record runs of this machine, or pass --allow-mismatch {keys} to compare anyway"
    )


def _configuration(rows: pd.DataFrame, last: int) -> dict[str, Any]:
    """The last ``last`` recordings' finished values of every figure."""
    order = rows.assign(when=rows["commit_time"].fillna(rows["recorded_at"]))
    recordings = order.sort_values(["when", "recorded_at"])["recording"].drop_duplicates()
    kept = rows[rows["recording"].isin(recordings.iloc[-last:])]
    runs = kept.drop_duplicates("key")
    return {
        "statuses": {"finished": len(runs)},
        "seeds": sorted(int(s) for s in runs["seed"].dropna()),
        "figures": {name: [float(v) for v in g["value"]] for name, g in kept.groupby("name")},
        "points": int(recordings.iloc[-last:].size),
        "keys": list(runs["key"]),
    }


def _profile(engine: Any, keys: list[str]) -> Profile | None:
    """The profile window of the kept runs that recorded one, averaged over them."""
    import sqlalchemy as sa

    r, ops, ph = schema.runs, schema.operators, schema.phases
    found = []
    with engine.connect() as connection:
        for key in keys:
            run = connection.execute(sa.select(r.c.id).where(r.c.key == key)).scalar()
            operators = connection.execute(
                sa.select(ops.c.operator, ops.c.self_s_per_iteration, ops.c.share).where(
                    ops.c.run == run
                )
            ).all()
            if operators:
                phases = connection.execute(
                    sa.select(ph.c.phase, ph.c.share).where(ph.c.run == run)
                ).all()
                found.append(({o: (s, sh) for o, s, sh in operators}, dict(phases)))
    return mean_profile(found) if found else None


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
