"""Recording a suite folder in the history: every run with its figures, the machine it ran
on, its configuration and metric pipelines, the profile window's operators and the phase
shares, under the commit the suite ran from. Recording the same runs again adds nothing
(each run is keyed by suite, run id, start time and host), also from two processes at
once (inserts that skip what exists, one transaction per suite folder)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganbench.errors import UserError
from ganbench.history import identity, schema
from ganbench.report.collect import SuiteRuns, load_suites
from ganbench.report.profile_diff import run_operators, run_phases
from ganbench.results import RunStore, read_suite_meta
from ganbench.results.repository import repository


@dataclass
class Recorded:
    suite: str
    commit: str | None
    new_runs: int
    known_runs: int
    commit_guessed: bool = False  # the folder records no commit: its repository's now


def record_folder(engine: Any, folder: Path, purpose: str | None = None) -> Recorded:
    """Store ``folder``'s runs (those not stored before) as a recording of its commit."""
    name, rows = folder_rows(folder)
    stored = read_suite_meta(folder).get("repository")
    repo = stored or repository(folder)  # a folder from before suite.json recorded it
    with engine.begin() as connection:
        known = _known_keys(connection, [r["run"]["key"] for r in rows])
        new = [r for r in rows if r["run"]["key"] not in known]
        if new:
            recording = _recording(connection, name, folder, repo, purpose)
            for row in new:
                _insert_run(connection, recording, row)
    return Recorded(name, repo.get("commit"), len(new), len(rows) - len(new), stored is None)


def folder_rows(folder: Path) -> tuple[str, list[dict[str, Any]]]:
    """The suite's name and every run's rows (``_run_rows``)."""
    suite = load_suites([folder])
    name = read_suite_meta(folder).get("name") or folder.name
    return name, [_run_rows(folder, name, suite, i) for i in range(len(suite.runs))]


def run_keys(runs: list[dict[str, Any]]) -> set[str]:
    """The keys the runs (``folder_rows``) are, or would be, recorded under."""
    return {rows["run"]["key"] for rows in runs}


def folder_identities(runs: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """configuration -> (its configuration id, the machine fields of its first run), of
    the runs ``folder_rows`` read."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for rows in runs:
        name = rows["run"]["configuration"]
        found.setdefault(name, (rows["configuration"]["id"], rows["machine"]["fields"]))
    return found


def _run_rows(folder: Path, suite_name: str, suite: SuiteRuns, i: int) -> dict[str, Any]:
    """One run's rows for every table, keyed by table name."""
    row = suite.runs.iloc[i]
    store = RunStore(folder / row["run_id"])
    environment = row.get("environment") if isinstance(row.get("environment"), dict) else {}
    machine = identity.fingerprint(environment)
    config = identity.config_identity(_config(store))
    summary = store.read_summary() or {}
    protocols = summary.get("metrics_protocol") or {}
    pipelines = {m: p for m, p in protocols.items() if isinstance(p, dict)}
    key = identity.short_hash(
        [suite_name, row["run_id"], row.get("started_at"), environment.get("host")]
    )
    return {
        "machine": {"id": identity.short_hash(machine), "label": identity.machine_label(machine),
                    "fields": machine},
        "configuration": {"id": identity.short_hash(config), "fields": config},
        "pipelines": [{"id": identity.short_hash(p), "metric": m, "fields": p}
                      for m, p in {**pipelines, identity.ALL_PIPELINES: pipelines}.items()
                      if pipelines],
        "run": {"key": key, "run_id": row["run_id"], "configuration": row["configuration"],
                "seed": _int(row.get("seed")), "status": str(row.get("status")),
                "started_at": _text(row.get("started_at")),
                "pipeline_ids": identity.pipeline_ids(pipelines)},
        "figures": _figures(row, suite.directions),
        "operators": _operators(store, summary),
        "phases": _phases(summary),
    }  # fmt: skip


def _config(store: RunStore) -> dict[str, Any]:
    try:
        return store.read_config() or {}
    except Exception:  # noqa: BLE001  (an unreadable config: load_suites said so already)
        return {}


def _number(value: Any) -> bool:
    """A finite number, numpy's included (a run's row holds numpy scalars)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int | None:
    return int(value) if _number(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _figures(row: Any, directions: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "value": float(row[name]), "direction": direction}
        for name, direction in directions.items()
        if _number(row.get(name))
    ]


def _operators(store: RunStore, summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"operator": op[:300], "self_s_per_iteration": seconds, "share": share}
        for op, (seconds, share) in run_operators(store.folder, summary).items()
    ]


def _phases(summary: dict[str, Any]) -> list[dict[str, Any]]:
    phases = run_phases(summary)
    return [{"phase": p, "share": share, "s_per_iteration": None} for p, share in phases.items()]


def _known_keys(connection: Any, keys: list[str]) -> set[str]:
    import sqlalchemy as sa

    runs = schema.runs
    found = connection.execute(sa.select(runs.c.key).where(runs.c.key.in_(keys)))
    return set(found.scalars())


def _recording(
    connection: Any, suite: str, folder: Path, repo: dict[str, Any], purpose: str | None
) -> int:
    """The recording of this folder at this commit: made if missing; its id."""
    import sqlalchemy as sa

    table = schema.recordings
    key = identity.short_hash([suite, str(folder.resolve()), repo.get("commit"), repo.get("dirty")])
    row = {
        "key": key,
        "suite": suite,
        "folder": str(folder.resolve()),
        "commit": repo.get("commit"),
        "branch": repo.get("branch"),
        "dirty": bool(repo.get("dirty")),
        "commit_time": repo.get("commit_time"),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "purpose": purpose,
    }
    insert_missing(connection, table, [row], ["key"])
    return connection.execute(sa.select(table.c.id).where(table.c.key == key)).scalar_one()


def _insert_run(connection: Any, recording: int, rows: dict[str, Any]) -> None:
    import sqlalchemy as sa

    insert_missing(connection, schema.machines, [rows["machine"]], ["id"])
    insert_missing(connection, schema.configurations, [rows["configuration"]], ["id"])
    insert_missing(connection, schema.pipelines, rows["pipelines"], ["id"])
    run = {**rows["run"], "recording_id": recording}
    run.update(machine_id=rows["machine"]["id"], config_id=rows["configuration"]["id"])
    if not insert_missing(connection, schema.runs, [run], ["key"]):
        return  # another process recorded it meanwhile
    table = schema.runs
    run_id = connection.execute(sa.select(table.c.id).where(table.c.key == run["key"])).scalar()
    for name in ("figures", "operators", "phases"):
        values = [{**r, "run": run_id} for r in rows[name]]
        insert_missing(connection, getattr(schema, name), values, None)


def insert_missing(connection: Any, table: Any, rows: list[dict], key: list[str] | None) -> int:
    """Insert ``rows``, skipping those whose ``key`` (default: the primary key) exists;
    the number inserted. SQLite and PostgreSQL only."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise UserError(f"history database: {dialect} is not supported (SQLite or PostgreSQL)")
    key = key or [c.name for c in table.primary_key]
    result = connection.execute(
        insert(table).values(rows).on_conflict_do_nothing(index_elements=key)
    )
    return result.rowcount
