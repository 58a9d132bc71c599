"""The registry's engine: open (and migrate) the database, and one ``atomic()`` unit of work.

Migrations are Alembic revisions in ``mailer/migrations/versions``, applied on every open. SQLite gets
WAL (the service and a CLI command may run at once), foreign keys and a busy timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailer.errors import RegistryError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (alembic upgrade head), from code."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_registry(url: str) -> Engine:
    """The engine for ``url``, migrated to the newest schema. Cached per URL within a process.

    :raises RegistryError: when the database cannot be opened or migrated
    """
    if url in _engines:
        return _engines[url]
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
    except SQLAlchemyError as e:
        raise RegistryError(f"Registry {url} cannot be opened or migrated: {e}") from e
    _engines[url] = engine
    return engine


def close_all() -> None:
    """Dispose every cached engine (tests, and the service at shutdown)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def atomic(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything inside commits together or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
