"""Alembic's environment for the history database: run by ``store.migrate`` on the
connection it hands over (``config.attributes["connection"]``), never from a URL here."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from ganbench.history.schema import metadata

# Held for the migration's transaction, so two first uses of one PostgreSQL database
# migrate one after the other (SQLite: store.migrate holds a file lock instead).
ADVISORY_LOCK = 7_362_034


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})"))
        context.run_migrations()


run_migrations()
