"""Which failures are transient: the registry locked past its busy timeout, a full disk, a dropped database
connection. Such a failure says nothing about the message being handled, so the message is left on the
server to be taken in at the next poll, never recorded as failed for good; and a command that meets one
ends with a plain message instead of a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

# Out of space, over quota, over the file-size limit: the same message will fit once space is freed.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# SQLite's words for "try again later" (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR).
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database or disk is full", "disk i/o error")
_SQLITE_FULL = ("database or disk is full",)
# PostgreSQL SQLSTATEs: serialization failure, deadlock, lock not available, disk full, out of memory,
# too many connections, admin shutdown, cannot connect now; class 08 is any connection failure.
_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03", "53100", "53200", "53300", "57P01", "57P03"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        orig = getattr(cur, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's exception
        if isinstance(orig, BaseException) and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        cur = cur.__cause__ or cur.__context__


def _sqlstate(exc: BaseException) -> str:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            return value
    return ""


def disk_full(exc: BaseException) -> OSError | BaseException | None:
    """The exception in ``exc``'s chain that says the disk (or quota, or file-size limit) is full, if any."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return e
        if any(w in str(e).lower() for w in _SQLITE_FULL) or _sqlstate(e) == "53100":
            return e
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure that retrying later can cure."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return True
        if type(e).__name__ == "OperationalError" and any(w in str(e).lower() for w in _SQLITE_TRANSIENT):
            return True
        state = _sqlstate(e)
        if state in _PG_TRANSIENT or state.startswith("08"):
            return True
        if getattr(e, "connection_invalidated", False):
            return True
    return False


def describe_cn(exc: BaseException) -> str:
    """A one-line Chinese account of a transient failure, for the clerk, with what to do about it."""
    full = disk_full(exc)
    if full is not None:
        where = getattr(full, "filename", None)
        what = f"写入 {where} 时" if where else "写入时"
        return (
            f"磁盘空间不足（或超出配额、文件大小上限）：{what}失败（{full}）。"
            "未写完的文件已删除，登记簿未作改动。请清理磁盘空间后重新运行同一命令；每一步都可以安全地重复执行。"
        )
    return (
        f"登记簿暂时无法写入（{exc}）：可能另一个 duban 进程正占用登记簿，或数据库连接中断。"
        "未作任何改动，稍后重新运行同一命令即可。"
    )
