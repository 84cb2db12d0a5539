"""Suite folders for the history's tests, as train-suite writes them (no training)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ganbench.results import write_suite_meta
from tests.report.test_report import CPU_ENV, make_run


def commit_folder(
    root: Path,
    commit: str,
    speeds: dict[str, list[float]],
    day: int = 1,
    environment: dict[str, Any] | None = None,
    **figures: Any,
) -> Path:
    """A suite folder ``s`` trained at ``commit`` (dated 2026-11-``day``): a run per
    configuration and seed with those images/s."""
    folder = root / f"s-{commit}"
    folder.mkdir(parents=True)
    for name, values in speeds.items():
        for seed, value in enumerate(values):
            make_run(
                folder, name, seed, value, environment=environment or CPU_ENV,
                started_at=f"2026-11-{day:02d}T10:00:{seed:02d}+00:00", **figures,
            )  # fmt: skip
    repository = {
        "commit": commit.ljust(12, "0"),
        "branch": "main",
        "dirty": False,
        "commit_time": f"2026-11-{day:02d}T09:00:00+00:00",
    }
    write_suite_meta(folder, "s", Path("suite.yaml"), "a", [], repository)
    return folder


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own (initdb in a temporary folder, 127.0.0.1, a free
    port), run as the ``postgres`` user when the tests run as root (initdb refuses root);
    the test is skipped, with the reason, where no server can start."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        initdb = initdb or str(folder / "initdb") if (folder / "initdb").exists() else initdb
        postgres = postgres or str(folder / "postgres")
    if not initdb or not postgres:
        pytest.skip("PostgreSQL's server programs are not installed (apt-get install postgresql)")
    as_user = _user_prefix()
    # Not under pytest's folder: its parents are root's alone, the server's user must
    # reach the cluster's folder.
    root = Path(tempfile.mkdtemp(prefix="ganbench-pg-"))
    data = root / "data"
    if as_user:
        shutil.chown(root, "postgres")
    port = _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "ganbench"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"initdb could not make a PostgreSQL cluster: {err}")
    server = subprocess.Popen(
        [*as_user, postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield _wait_for(server, port)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _user_prefix() -> list[str]:
    import os
    import pwd

    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run the server as")
    return ["runuser", "-u", "postgres", "--"]


def _wait_for(server: subprocess.Popen, port: int) -> str:
    """The server's URL once it accepts connections, with a new database ``history``."""
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(f"postgresql://ganbench@127.0.0.1:{port}/postgres",
                                 autocommit=True) as connection:  # fmt: skip
                connection.execute("CREATE DATABASE history")
            return f"postgresql://ganbench@127.0.0.1:{port}/history"
        except psycopg.OperationalError as err:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"the PostgreSQL server did not start: {err}")
            time.sleep(0.2)
