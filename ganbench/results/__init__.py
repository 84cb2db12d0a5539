"""The results store: a folder per run (config, events, summary, samples, checkpoint) and
what a run's summary means (``RunStatus``, ``flatten``). Reports read only this."""

from ganbench.results.store import (
    EventLog,
    ReplicaStore,
    RunStore,
    Unreadable,
    read_events,
    read_suite_meta,
    write_atomic,
    write_runs_csv,
    write_suite_meta,
)
from ganbench.results.summary import RunStatus, RunSummary, flatten

__all__ = [
    "EventLog",
    "ReplicaStore",
    "RunStatus",
    "RunStore",
    "RunSummary",
    "Unreadable",
    "flatten",
    "read_events",
    "read_suite_meta",
    "write_atomic",
    "write_runs_csv",
    "write_suite_meta",
]
