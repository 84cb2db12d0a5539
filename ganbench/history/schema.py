"""The history database's tables (SQLAlchemy Core). A *recording* is one suite folder at
one commit (a point of every series it holds); a *run* one seed's run in it, keyed so
that recording a run twice adds nothing; *figures*, *operators* and *phases* its values.
Changes to these tables come with a migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Named constraints (a later SQLite batch migration can only alter what has a name).
metadata = MetaData(
    naming_convention={"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s"}
)

machines = Table(
    "machines",
    metadata,
    Column("id", String(12), primary_key=True),  # identity.short_hash of the fields
    Column("label", Text, nullable=False),
    Column("fields", JSON, nullable=False),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("metric", Text, nullable=False),
    Column("fields", JSON, nullable=False),
)

configurations = Table(
    "configurations",
    metadata,
    Column("id", String(12), primary_key=True),  # the resolved config without seed, paths
    Column("fields", JSON, nullable=False),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),  # suite, folder, commit, dirty
    Column("suite", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("commit", String(40), nullable=True),
    Column("branch", Text, nullable=True),
    Column("dirty", Boolean, nullable=False),
    Column("commit_time", String(40), nullable=True),  # ISO 8601
    Column("recorded_at", String(40), nullable=False),
    Column("purpose", Text, nullable=True),  # e.g. "confirm": a check's re-run
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),  # suite, run id, start, host
    Column("recording_id", Integer, ForeignKey("recordings.id"), nullable=False, index=True),
    Column("run_id", Text, nullable=False),
    Column("configuration", Text, nullable=False),
    Column("config_id", String(12), ForeignKey("configurations.id"), nullable=False, index=True),
    Column("seed", Integer, nullable=True),
    Column("status", Text, nullable=False),
    Column("started_at", String(40), nullable=True),
    Column("machine_id", String(12), ForeignKey("machines.id"), nullable=False, index=True),
    Column("pipeline_ids", JSON, nullable=False),  # metric -> pipelines.id
)

figures = Table(
    "figures",
    metadata,
    Column("run", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Float, nullable=False),
    Column("direction", String(3), nullable=False),  # "max" or "min"
)

operators = Table(
    "operators",
    metadata,
    Column("run", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("operator", String(300), primary_key=True),
    Column("self_s_per_iteration", Float, nullable=False),  # device time on CUDA
    Column("share", Float, nullable=False),
)

phases = Table(
    "phases",
    metadata,
    Column("run", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("phase", String(100), primary_key=True),
    Column("share", Float, nullable=False),
    Column("s_per_iteration", Float, nullable=True),
)
