"""One `duban serve` per home, on every operating system.

The lock is an exclusive transaction on a small SQLite file (``registry/service.lock``), held open for as
long as the service runs. SQLite locks its files with the operating system's own locks (POSIX ``fcntl``
byte-range locks through its C library, ``LockFileEx`` on Windows), so the same code runs everywhere
without Python's POSIX-only ``fcntl`` module, and the lock goes away with the process however it ends
(kill -9, a crash, a power cut): no stale lock file to clean up. The holder's pid is written beside it
(``service.pid``), only to name it in the message.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

LOCK_NAME = "service.lock"
PID_NAME = "service.pid"


class AlreadyLocked(Exception):
    """The lock is held by another process (or another holder in this one); ``holder`` is its pid or "?"."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@contextmanager
def exclusive_lock(folder: Path, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold ``folder``'s lock ``name`` (the service lock by default) for the duration.

    :raises AlreadyLocked: at once (never waits) when someone else holds it
    """
    folder.mkdir(parents=True, exist_ok=True)
    pid_file = folder / (PID_NAME if name == LOCK_NAME else f"{name}.pid")
    # timeout=0: answer "busy" at once; isolation_level=None: we issue BEGIN ourselves.
    conn = sqlite3.connect(folder / name, timeout=0, isolation_level=None)
    with closing(conn):
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            try:
                holder = pid_file.read_text(encoding="utf-8").strip() or "?"
            except OSError:
                holder = "?"
            raise AlreadyLocked(holder) from e
        pid_file.write_text(str(os.getpid()), encoding="utf-8")
        try:
            yield
        finally:
            with suppress(OSError):
                pid_file.unlink()
            conn.rollback()
