"""The registry's engine: open (and migrate) the database, and one ``atomic()`` unit of work.

Migrations are Alembic revisions in ``mailer/registry/migrations/versions``, applied on open when the registry is not
at the newest one (and always at ``duban init``, ``check`` and ``serve``). SQLite gets
WAL (the service and a CLI command may run at once), foreign keys and a busy timeout. PostgreSQL (psycopg 3,
the ``postgres`` extra) may keep a home in a schema of its own (``registry_schema``, carried in the URL as
libpq's ``options=-csearch_path=…``), which ``duban init`` creates.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailer.common.durable import Pending, wait_all
from mailer.common.errors import RegistryError
from mailer.common.files import PRIVATE_FILE, private_dir
from mailer.common.transient import describe_cn, is_transient
from mailer.registry.migrations import HEAD
from mailer.registry.rows import BUSY_TIMEOUT_MS, connect_rw, sqlite_path

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}
_fully_migrated: set[str] = set()  # URLs whose engine went through Alembic in this process


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
    cur.close()


def _clip_to_columns(mapper: Any, connection: Any, target: Any) -> None:
    """Cut text longer than its column allows, on databases that enforce VARCHAR lengths (PostgreSQL).

    SQLite stores any length, so the code never had to count: a 400-character 填报人 or From address in a
    stranger's mail must not stop intake on PostgreSQL with "value too long". The cut is logged.
    """
    if connection.dialect.name == "sqlite":
        return
    for prop in mapper.column_attrs:
        length = getattr(prop.columns[0].type, "length", None)
        value = getattr(target, prop.key, None)
        if isinstance(length, int) and isinstance(value, str) and len(value) > length:
            log.warning("%s.%s: %d characters cut to the column's %d", mapper.local_table.name, prop.key,
                        len(value), length)
            setattr(target, prop.key, value[:length])


def clip_row(table: Any, row: dict[str, Any]) -> int:
    """:func:`_clip_to_columns` for a Core row (``registry copy``); returns how many values were cut."""
    cut = 0
    for col in table.columns:
        length = getattr(col.type, "length", None)
        value = row.get(col.key)
        if isinstance(length, int) and isinstance(value, str) and len(value) > length:
            row[col.key] = value[:length]
            cut += 1
    return cut


def _listen_for_long_text() -> None:
    from mailer.registry.model import Base

    if not event.contains(Base, "before_insert", _clip_to_columns):
        event.listen(Base, "before_insert", _clip_to_columns, propagate=True)
        event.listen(Base, "before_update", _clip_to_columns, propagate=True)


_listen_for_long_text()


def _create_sqlite_file(path: Path) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # SQLite gives its -wal and -shm files the database file's mode
    finally:
        os.close(fd)


def _connect_rw(path: Path) -> Any:
    def connect() -> sqlite3.Connection:
        return connect_rw(path, check_same_thread=False)

    return connect


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def pg_schema(url: str) -> str | None:
    """The schema a PostgreSQL registry URL keeps its tables in (``registry_schema``), if any."""
    from sqlalchemy.engine import make_url

    options = make_url(url).query.get("options", "")
    found = re.search(r"-c\s*search_path=([A-Za-z0-9_]+)", options if isinstance(options, str) else " ".join(options))
    return found.group(1) if found else None


def _postgres_engine(url: str, *, create: bool) -> Engine:
    try:
        # pool_pre_ping: a database server restarted under a running service is reconnected to, not an
        # error at every run until duban is restarted too.
        engine = create_engine(url, future=True, pool_pre_ping=True)
    except ImportError as e:
        raise RegistryError(
            "registry_url 指向 PostgreSQL，但未安装其驱动 psycopg。请运行 pip install 'duban[postgres]'"
            "（或 pip install 'psycopg[binary]'）后再试。"
        ) from e
    schema = pg_schema(url)
    if schema:
        with engine.begin() as c:
            exists = c.exec_driver_sql("SELECT 1 FROM pg_namespace WHERE nspname = %(n)s", {"n": schema}).first()
            if not exists and create:
                c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')  # the name is checked in config (a-z0-9_)
            elif not exists:
                engine.dispose()
                raise RegistryError(
                    f"登记簿数据库 {safe_url(url)} 中没有模式（schema）{schema}。请检查 registry_schema 的拼写；"
                    "新目录请先运行 `duban init`，它会建立该模式。"
                )
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (alembic upgrade head), from code."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return
    # A batch migration rebuilds a SQLite table (copy, drop, rename); dropping a table that others refer
    # to fails while foreign keys are enforced, and the pragma is ignored inside a transaction. So, as
    # SQLite's own ALTER TABLE procedure says: keys off outside the transaction, migrate, check the keys
    # (foreign_key_check) before the commit, keys on again.
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RegistryError(f"登记簿迁移后有 {len(broken)} 条记录的关联无效（{broken[:3]}），已撤销迁移。")
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def schema_revision(engine: Engine) -> str | None:
    """The registry's Alembic revision, read without Alembic (None: no single revision recorded)."""
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return str(rows[0][0]) if len(rows) == 1 else None


def open_registry(url: str, *, create: bool = False, full_migration: bool = False) -> Engine:
    """The engine for ``url``, migrated to the newest schema. Cached per URL within a process.

    A registry already at :data:`mailer.registry.migrations.HEAD` is not handed to Alembic (importing and running it
    is most of a short command's time); any other revision is upgraded, or refused, by Alembic as always.
    ``full_migration`` (``duban init``, ``check``, ``serve``) runs Alembic whatever the revision.

    A registry is never created implicitly: only with ``create`` (``duban init``) is a missing or empty
    database given a fresh schema. Callers with a home use :func:`mailer.registry.homeid.open_home_registry`,
    which also checks that the registry is the home's own.

    :raises RegistryError: when the database is missing or empty (without ``create``), damaged, or
        cannot be opened or migrated
    """
    if url in _engines:
        if full_migration and url not in _fully_migrated:
            migrate(_engines[url])  # opened earlier in this process at HEAD without Alembic: run it now
            _fully_migrated.add(url)
        return _engines[url]
    path = sqlite_path(url)
    if path is not None:
        size = path.stat().st_size if path.exists() else None
        if not create and not size:
            state = "不存在" if size is None else "是空文件（0 字节）"
            raise RegistryError(
                f"登记簿 {path} {state}。duban 不会自动新建登记簿：请从备份恢复该文件；"
                "新目录请先运行 `duban init`。"
            )
        if size is None:
            _create_sqlite_file(path)
    try:
        if path is not None:
            engine = create_engine(url, future=True, creator=_connect_rw(path))
        elif is_postgres(url):
            engine = _postgres_engine(url, create=create)
        else:
            engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if not create and not inspect(engine).has_table("alembic_version"):
            engine.dispose()
            raise RegistryError(
                f"登记簿 {path or safe_url(url)} 是空的（没有 duban 的表）。duban 不会自动新建登记簿："
                "请从备份恢复；新目录请先运行 `duban init`。"
            )
        if create or full_migration or schema_revision(engine) != HEAD:
            migrate(engine)
            _fully_migrated.add(url)
    except SQLAlchemyError as e:
        if is_transient(e):
            raise RegistryError(describe_cn(e)) from e
        text = str(e)
        if "malformed" in text or "not a database" in text:
            raise RegistryError(
                f"登记簿 {path or safe_url(url)} 已损坏（{text.splitlines()[0][:200]}），无法打开。"
                "请停止 duban，从备份恢复登记簿文件后再运行。"
            ) from e
        if is_postgres(url) and type(e).__name__ == "OperationalError":
            raise RegistryError(
                f"无法连接登记簿数据库 {safe_url(url)}（{text.splitlines()[0][:200]}）。"
                "请检查 registry_url、数据库服务器是否运行、密码（PGPASSWORD 或 ~/.pgpass）和网络。"
            ) from e
        raise RegistryError(f"Registry {safe_url(url)} cannot be opened or migrated: {e}") from e
    _engines[url] = engine
    return engine


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(registry_url)"


def quick_check(engine: Engine) -> list[str]:
    """SQLite's ``PRAGMA quick_check``: the problems it finds in the file (empty: healthy, or not SQLite)."""
    if engine.dialect.name != "sqlite":
        return []
    try:
        with engine.connect() as c:
            rows = [str(r[0]) for r in c.exec_driver_sql("PRAGMA quick_check")]
    except SQLAlchemyError as e:
        return [str(getattr(e, "orig", None) or e).splitlines()[0]]
    return [] if rows == ["ok"] else rows


def forget(url: str) -> None:
    """Dispose and drop the cached engine of ``url`` (a scratch registry about to be deleted)."""
    engine = _engines.pop(url, None)
    _fully_migrated.discard(url)
    if engine is not None:
        engine.dispose()


def close_all() -> None:
    """Dispose every cached engine (tests, and the service at shutdown)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _fully_migrated.clear()


@contextmanager
def atomic(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything inside commits together or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


_UNSYNCED = "duban_unsynced_files"


def before_commit(session: Session, pending: Pending) -> None:
    """Have the commit of ``session``'s transaction wait until ``pending`` (a file written by
    :mod:`mailer.common.durable`) is on disk: a committed row never names a file that is not."""
    session.info.setdefault(_UNSYNCED, []).append(pending)


def files_written(session: Session) -> None:
    """Wait until every file queued in ``session`` so far is on disk.

    :raises OSError: a file could not be written (the transaction must not commit)
    """
    wait_all(session.info.pop(_UNSYNCED, []))


@event.listens_for(Session, "before_commit")
def _durable_first(session: Session) -> None:
    """The queued files' fsyncs end before the commit (a Dispatch's .eml, a quarantined message's copy)."""
    if _UNSYNCED in session.info and not session.in_nested_transaction():
        files_written(session)


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
