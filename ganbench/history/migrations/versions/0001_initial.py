"""The first history schema: machines, pipelines, configurations, recordings, runs,
figures, operators, phases.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _identified(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(12), primary_key=True),
        *columns,
        sa.Column("fields", sa.JSON, nullable=False),
    )


def _per_run(name: str, key: sa.Column, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("run", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        key,
        *columns,
    )


def _recordings() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("suite", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("commit", sa.String(40)),
        sa.Column("branch", sa.Text),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("commit_time", sa.String(40)),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("purpose", sa.Text),
        sa.UniqueConstraint("key", name="uq_recordings_key"),
    )


def _reference(name: str, kind: sa.types.TypeEngine, target: str) -> sa.Column:
    return sa.Column(name, kind, sa.ForeignKey(target), nullable=False, index=True)


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        _reference("recording_id", sa.Integer(), "recordings.id"),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("configuration", sa.Text, nullable=False),
        _reference("config_id", sa.String(12), "configurations.id"),
        sa.Column("seed", sa.Integer),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(40)),
        _reference("machine_id", sa.String(12), "machines.id"),
        sa.Column("pipeline_ids", sa.JSON, nullable=False),
        sa.UniqueConstraint("key", name="uq_runs_key"),
    )


def upgrade() -> None:
    _identified("machines", sa.Column("label", sa.Text, nullable=False))
    _identified("pipelines", sa.Column("metric", sa.Text, nullable=False))
    _identified("configurations")
    _recordings()
    _runs()
    _per_run(
        "figures",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
    )
    _per_run(
        "operators",
        sa.Column("operator", sa.String(300), primary_key=True),
        sa.Column("self_s_per_iteration", sa.Float, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
    )
    _per_run(
        "phases",
        sa.Column("phase", sa.String(100), primary_key=True),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("s_per_iteration", sa.Float),
    )


def downgrade() -> None:
    for name in ("phases", "operators", "figures", "runs", "recordings"):
        op.drop_table(name)
    for name in ("configurations", "pipelines", "machines"):
        op.drop_table(name)
