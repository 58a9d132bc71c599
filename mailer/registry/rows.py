"""The registry read as plain rows, with or without SQLAlchemy: how the short commands start in a tenth of a second.

`duban status`, `tasks`, `offices`, `inbox list`, `outbox list` and `audit` only read. Through the ORM each
paid ~0.5 s before its first query (importing SQLAlchemy, mapping the model, configuring the mappers), on a
machine where the whole command can take 0.15 s. Their reads are therefore written once, as SQL text with
``:name`` parameters, over :class:`Rows`:

- :func:`open_plain` runs them with the standard library's ``sqlite3`` on a SQLite registry that is the home's
  own (its ``meta.home_id`` is the home's marker) and already at :data:`mailer.registry.migrations.HEAD`. In
  every other case (PostgreSQL, a missing marker, an older or damaged registry, anything unexpected) it returns
  None and the command opens the registry as every command does (:func:`mailer.registry.homeid.open_home_registry`:
  adoption, migration and every error message in one place, nothing repeated here);
- :class:`SessionRows` runs the same text through a SQLAlchemy session: PostgreSQL, and every caller that holds
  a session anyway (the service, the web console, the ledger).

So there is one reading of each fact, not an ORM one and a plain one. The text is portable SQL (no ``IN``
lists, booleans tested as ``NOT x`` / ``x`` rather than ``= 0``); the drivers return values as they store
them (SQLite: dates and times as text, booleans as 0/1, JSON as text), which the converters below turn into
the model's Python types. This module imports nothing of SQLAlchemy at module level.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

from mailer.common.errors import DubanError
from mailer.registry.marker import read_marker
from mailer.registry.migrations import HEAD

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.common.config import Settings


@runtime_checkable
class Rows(Protocol):
    """Runs a SELECT given as SQL text; rows have attribute access (``row.name``) and unpack as tuples."""

    dialect: str  # "sqlite" or "postgresql": for the rare statement that must differ

    def all(self, sql: str, /, **params: Any) -> list[Any]: ...


@functools.lru_cache(maxsize=256)
def _row_type(columns: tuple[str, ...]) -> type:
    return collections.namedtuple("Row", columns, rename=True)  # type: ignore[misc]


class SqliteRows:
    """:class:`Rows` over a ``sqlite3`` connection, inside one read transaction (one consistent snapshot)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self, sql: str, /, **params: Any) -> list[Any]:
        cur = self.conn.execute(sql, params)
        make = _row_type(tuple(d[0] for d in cur.description))
        return [make(*r) for r in cur.fetchall()]


class SessionRows:
    """:class:`Rows` over a SQLAlchemy session (its transaction, its connection)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def all(self, sql: str, /, **params: Any) -> list[Any]:
        from sqlalchemy import text

        return list(self.session.execute(text(sql), params))


def as_rows(db: Session | Rows) -> Rows:
    """``db`` as :class:`Rows`: callers with a session keep passing it."""
    return db if isinstance(db, Rows) else SessionRows(db)


# --- converters: the drivers' values as the model's types -------------------------------------------------


def utc(value: Any) -> dt.datetime | None:
    """A UTCDateTime column's value, aware (SQLite gives "2022-06-20 01:00:00.000000", PostgreSQL a naive
    datetime; both are UTC, as mailer.registry.model.UTCDateTime stores them)."""
    if value is None:
        return None
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def day(value: Any) -> dt.date | None:
    """A Date column's value (SQLite: "2022-06-20")."""
    if value is None:
        return None
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value.date() if isinstance(value, dt.datetime) else value


def flag(value: Any) -> bool:
    """A Boolean column's value (SQLite: 0/1)."""
    return bool(value)


def from_json(value: Any) -> Any:
    """A JSON column's value (SQLite: its text; PostgreSQL's driver parses it already)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


# --- a period as plain data --------------------------------------------------------------------------------

_PERIOD_COLUMNS = (
    "id, plan_id, year, month, state, send_on, due_on, due_moved_from, remind_on, escalate_on, assemble_after, "
    "opened_at, signed_off_at, published_at"
)


@dataclasses.dataclass(frozen=True)
class PeriodRow:
    """A period's row: the attributes of mailer.registry.model.Period that reads use (``key`` included), so
    a function reading a period takes either."""

    id: int
    plan_id: int
    year: int
    month: int
    state: str
    send_on: dt.date
    due_on: dt.date
    due_moved_from: dt.date | None
    remind_on: dt.date | None
    escalate_on: dt.date | None
    assemble_after: dt.date | None
    opened_at: dt.datetime | None
    signed_off_at: dt.datetime | None
    published_at: dt.datetime | None

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def of(cls, r: Any) -> PeriodRow:
        return cls(
            r.id, r.plan_id, r.year, r.month, str(r.state), day(r.send_on), day(r.due_on),  # type: ignore[arg-type]
            day(r.due_moved_from), day(r.remind_on), day(r.escalate_on), day(r.assemble_after),
            utc(r.opened_at), utc(r.signed_off_at), utc(r.published_at),
        )


def periods(rows: Rows, *, year: int | None = None, month: int | None = None) -> list[PeriodRow]:
    """Periods newest first (by month, then the newest row); only (year, month)'s when given."""
    where = "WHERE year = :year AND month = :month" if year is not None else ""
    return [
        PeriodRow.of(r)
        for r in rows.all(
            f"SELECT {_PERIOD_COLUMNS} FROM periods {where} ORDER BY year DESC, month DESC, id DESC",
            **({"year": year, "month": month} if year is not None else {}),
        )
    ]


# --- opening a SQLite registry without SQLAlchemy ----------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite registry URL (None for another database or an in-memory one)."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///") :])
    return None


# How long a statement waits for another process's lock before "database is locked" (transient): the
# ORM's engine (mailer.registry.store) and the plain reader alike.
BUSY_TIMEOUT_MS = 15000


def connect_rw(path: Path, **kwargs: Any) -> sqlite3.Connection:
    """``path`` opened read-write. mode=rw: SQLite never creates a missing file on its own, so a registry
    deleted under a running process (or a mistyped path) is an error, not a new empty registry."""
    return sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, **kwargs)


def open_plain(settings: Settings) -> SqliteRows | None:
    """The home's SQLite registry opened with ``sqlite3``, read-only in use, inside a read transaction — or
    None when anything is not as a running home's registry always is (see the module's docstring), in which
    case the caller opens it through SQLAlchemy and gets the full checks and messages."""
    path = sqlite_path(settings.database_url)
    if path is None:
        return None
    try:
        marker = read_marker(settings.home)
        if marker is None or not path.is_file() or path.stat().st_size == 0:
            return None
        conn = connect_rw(path, isolation_level=None)  # nothing here writes
    except (DubanError, OSError, sqlite3.Error):  # unreadable marker or file: the full path says why
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN")  # one snapshot for all of the command's reads (WAL: readers never block writers)
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        home_id = conn.execute("SELECT value FROM meta WHERE key = 'home_id'").fetchall()
        if revision != [(HEAD,)] or home_id != [(marker,)]:
            conn.close()
            return None
    except sqlite3.Error:
        conn.close()
        return None
    return SqliteRows(conn)


@contextmanager
def plain_or_session(settings: Settings, engine: Any) -> Iterator[Rows]:
    """Rows for one command's reads: :func:`open_plain`'s when it can, else a session of ``engine()``.

    :param engine: a callable giving the home's checked engine (only called when the plain path declines)
    """
    plain = open_plain(settings)
    if plain is not None:
        try:
            yield plain
        finally:
            plain.conn.close()  # ends the read transaction
        return
    from mailer.registry.store import atomic

    with atomic(engine()) as session:
        yield SessionRows(session)
