"""A real PostgreSQL server for @pytest.mark.postgres tests: Debian's binaries (tests/setup.sh installs them),
a cluster made by initdb in a temporary folder, started by pg_ctl on a free loopback port for the session and
removed afterwards. initdb refuses to run as root, so as root the server runs as the ``postgres`` system user
that Debian's package creates. Each test gets a database of its own (``pg_url``)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "duban"  # the cluster's superuser; trust authentication on loopback only


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: run tests/setup.sh (apt-get install postgresql)")
    return Path(initdb).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    port: int
    folder: Path
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._counter)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL cluster for the session, on 127.0.0.1 only."""
    bindir = _bindir()
    # Not under pytest's basetemp: its folders are 0700 and the server user could not enter them.
    folder = Path(tempfile.mkdtemp(prefix="duban-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    folder.chmod(0o755)
    port = _free_port()
    subprocess.run(
        _as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                         "--locale=C.UTF-8", "--no-sync"]),
        check=True, capture_output=True,
    )
    # Tests need speed, not durability; the socket lives in the temporary folder, not /var/run.
    opts = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200")
    started = subprocess.run(
        _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", opts,
                         "-w", "-t", "60", "start"]),
        capture_output=True, text=True, check=False,
    )
    if started.returncode != 0:
        log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log[-2000:]}")
    try:
        yield PgServer(port=port, folder=folder)
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database of its own for this test (dropped afterwards)."""
    name = pg_server.new_database()
    yield pg_server.url(name)
    from mailer.registry.store import close_all

    close_all()
    with contextlib.suppress(Exception):
        pg_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
