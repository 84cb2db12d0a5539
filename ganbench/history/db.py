"""Opening the history database: SQLite in ganbench's home by default, any file or
SQLAlchemy URL with ``--db`` (``postgresql://...`` for a team's shared server, through
psycopg), ``$GANBENCH_HISTORY_DB`` otherwise; brought to the newest schema with Alembic
on first use (one process at a time: a file lock for SQLite, an advisory lock in
PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganbench.errors import UserError

DB_ENV = "GANBENCH_HISTORY_DB"
EXTRA = "pip install 'ganbench[history]'"
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0001"  # the newest revision in migrations/versions


def require_extra() -> None:
    """A UserError naming the extra where SQLAlchemy, Alembic or ruptures is missing."""
    try:
        import alembic  # noqa: F401
        import ruptures  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as err:
        raise UserError(
            f"ganbench history needs the history extra ({err.name} is not installed): {EXTRA}"
        ) from None


def database_url(db: str | None) -> str:
    """A SQLAlchemy URL: ``db`` (a URL, or a file path for SQLite), else $GANBENCH_HISTORY_DB,
    else ``history.sqlite`` in ganbench's home. ``postgresql://`` means psycopg 3."""
    from ganbench.home import home, writable_folder

    chosen = db or os.environ.get(DB_ENV)
    if not chosen:
        return f"sqlite:///{writable_folder(home()) / 'history.sqlite'}"
    if "://" not in chosen:
        path = Path(chosen).expanduser()
        if not path.parent.is_dir():
            raise UserError(f"--db {chosen}: no folder {path.parent} (make it, or choose another)")
        return f"sqlite:///{path.resolve()}"
    for plain in ("postgresql://", "postgres://"):
        if chosen.startswith(plain):
            return "postgresql+psycopg://" + chosen[len(plain) :]
    if not chosen.startswith(("sqlite:", "postgresql+psycopg:")):
        raise UserError(
            f"--db {chosen}: not a SQLite or PostgreSQL database (a file path, "
            "sqlite:///PATH or postgresql://user@host/db)"
        )
    return chosen


def open_database(db: str | None) -> Any:
    """An SQLAlchemy engine on the history database, migrated to ``HEAD``; a UserError
    naming the database and the fix where it cannot be reached."""
    require_extra()
    import sqlalchemy as sa

    url = database_url(db)
    try:
        engine = sa.create_engine(url, **_engine_options(url))
        if url.startswith("sqlite"):
            _immediate_transactions(engine)
        migrate(engine, url)
    except sa.exc.ArgumentError as err:
        raise UserError(f"--db {db}: not a database URL ({err})") from None
    except (sa.exc.DatabaseError, sa.exc.InterfaceError) as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise UserError(f"history database {_shown(url)}: cannot open it ({reason})") from None
    return engine


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Concurrent writers wait for each other (up to a minute) instead of failing.
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _immediate_transactions(engine: Any) -> None:
    """SQLite transactions that take the write lock when they begin: two processes then
    wait for each other rather than both reading and one failing to upgrade its lock."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _shown(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def migrate(engine: Any, url: str) -> None:
    """Bring the schema to ``HEAD`` unless it is there already."""
    revision = _revision(engine)
    if revision == HEAD:
        return
    if revision is not None and revision > HEAD:  # zero-padded: ordered as text
        raise UserError(
            f"history database {_shown(url)}: its schema (revision {revision}) is newer than "
            f"this ganbench's ({HEAD}); upgrade ganbench"
        )
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(url), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revision(engine: Any) -> str | None:
    import sqlalchemy as sa

    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _migration_lock(url: str) -> Any:
    """A file lock beside a SQLite database (PostgreSQL: env.py's advisory lock)."""
    import contextlib

    from filelock import FileLock

    path = url.removeprefix("sqlite:///")
    if not url.startswith("sqlite:///") or path in ("", ":memory:"):
        return contextlib.nullcontext()
    return FileLock(path + ".lock", timeout=120)
