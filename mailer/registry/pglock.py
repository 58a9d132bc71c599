"""One acting `duban serve` per home on a PostgreSQL registry, wherever the services run.

The file lock of ``mailer.common.homelock`` only excludes processes that share the home's folder on one machine;
with a shared database the services may run on several. So on PostgreSQL the lock is a session-level
advisory lock (``pg_try_advisory_lock``) taken on a connection of its own that the service holds for as long
as it runs: the server releases it when that session ends, however the process ends (kill -9, a crash, a
power cut, a dropped network), and a waiting service then takes over. The key is derived from the home's
id (``homeid``), so the homes of many bureaus in one database never block each other. The holder names
itself in the session's ``application_name`` ("duban serve HOST pid N"), which `duban check` reads back
from ``pg_stat_activity`` to say who is serving.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
APP_PREFIX = "duban serve"
WAIT_POLL_S = 2.0  # how often a waiting service tries the lock again


def lock_key(home_id: str, purpose: str = "serve") -> int:
    """The advisory lock's 64-bit key for a home and purpose: a hash of both, so homes never share one."""
    digest = hashlib.sha256(f"duban-{purpose}:{home_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _classid_objid(key: int) -> tuple[int, int]:
    # pg_locks shows a bigint advisory key as its high and low 32 bits (classid, objid; objsubid 1).
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def holder(engine: Engine, home_id: str) -> str | None:
    """Who holds the home's service lock ("duban serve HOST pid N" and where from), None when nobody does."""
    classid, objid = _classid_objid(lock_key(home_id))
    sql = text(
        "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid = :c AND l.objid = :o "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with engine.connect() as c:
        row = c.execute(sql, {"c": classid, "o": objid}).first()
    if row is None:
        return None
    name = row[0] or "duban serve (?)"
    since = f"，自 {row[2]:%Y-%m-%d %H:%M:%S %z}" if row[2] is not None else ""
    return f"{name}{since}"


def _me() -> str:
    # application_name is cut at 63 bytes by the server; the pid is what an operator needs first.
    return f"{APP_PREFIX} {socket.gethostname()[:30]} pid {os.getpid()}"


@contextmanager
def waiting_lock(url: str, home_id: str, purpose: str, wait_s: float) -> Iterator[bool]:
    """Hold the home's ``purpose`` lock (e.g. "send") for the duration, waiting for it up to ``wait_s``;
    yields False when another process kept it that long. The PostgreSQL twin of ``homelock.exclusive_lock``,
    for processes on several machines."""
    key = lock_key(home_id, purpose)
    engine = create_engine(url, poolclass=NullPool,
                           connect_args={"application_name": f"duban {purpose} {socket.gethostname()[:30]} pid {os.getpid()}"})
    deadline = time.monotonic() + wait_s
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.2)
            try:
                yield True
            finally:
                with suppress(SQLAlchemyError):
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()


class LockLost(Exception):
    """The session holding the lock ended (database restarted, network dropped): another may act now."""


@dataclass
class HeldLock:
    """The lock while it is held; ``check()`` before each run proves the session (and so the lock) lives."""

    conn: Connection
    key: int

    def check(self) -> None:
        """:raises LockLost: the lock's session is gone, so the lock is too"""
        try:
            held = self.conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                     "AND pid = pg_backend_pid() AND classid = :c AND objid = :o AND objsubid = 1"),
                dict(zip(("c", "o"), _classid_objid(self.key), strict=True)),
            ).scalar_one()
        except SQLAlchemyError as e:
            raise LockLost(str(e).splitlines()[0]) from e
        if not held:
            raise LockLost("the advisory lock is no longer held by this session")


class Busy(Exception):
    """Another service holds the lock and we were asked not to wait; ``holder`` names it."""

    def __init__(self, who: str) -> None:
        super().__init__(who)
        self.holder = who


@contextmanager
def service_lock(
    url: str, home_id: str, *, wait: bool = True, stop: threading.Event | None = None, where: str = ""
) -> Iterator[HeldLock]:
    """Hold the home's service lock on a dedicated connection for the duration.

    :param wait: when another service holds it, wait (trying every few seconds) and take over when it is
        released; otherwise raise :class:`Busy` at once
    :param stop: set to give up waiting (the service was asked to stop)
    :raises Busy: another service holds the lock and ``wait`` is false
    :raises InterruptedError: ``stop`` was set while waiting
    """
    key = lock_key(home_id)
    engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": _me()})
    stop = stop or threading.Event()
    try:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            waited = False
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                who = holder(engine, home_id) or "?"
                if not wait:
                    raise Busy(who)
                if not waited:
                    log.warning("Another duban service holds the lock of %s (%s); waiting to take over when it "
                                "stops", where or home_id, who)
                    waited = True
                if stop.wait(WAIT_POLL_S):
                    raise InterruptedError("stopped while waiting for the service lock")
            if waited:
                log.warning("Service lock of %s acquired: taking over", where or home_id)
            try:
                yield HeldLock(conn, key)
            finally:
                with suppress(SQLAlchemyError):
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            with suppress(SQLAlchemyError):
                conn.close()
    finally:
        engine.dispose()
