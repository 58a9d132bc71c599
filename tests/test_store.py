"""The registry: migrations on an empty file database, atomic units of work."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.registry.model import Office, Plan
from mailer.registry.store import atomic, open_registry, table_names


def test_migrating_an_empty_file_creates_every_table(tmp_path):
    """
    GIVEN no database file
    WHEN  the registry is opened
    THEN  the file exists with the whole schema at the newest revision
    """
    engine = open_registry(f"sqlite:///{tmp_path}/r/registry.sqlite3", create=True)
    assert (tmp_path / "r" / "registry.sqlite3").exists()
    names = set(table_names(engine))
    for t in ("plans", "tasks", "milestones", "task_offices", "offices", "office_aliases", "office_addresses",
              "people", "distribution", "periods", "dispatches", "inbound_messages", "submissions", "entries",
              "approvals", "documents", "events", "office_deadlines", "meta", "service_gate", "robot_posts", "alembic_version"):
        assert t in names
    with engine.connect() as c:
        assert c.exec_driver_sql("select version_num from alembic_version").scalar() == head_revision()


def head_revision() -> str:
    """The newest revision of the migration scripts (not a literal: every schema change moves it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import mailer.registry.migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(mailer.registry.migrations.__file__).parent))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_atomic_rolls_back_everything_on_error(engine):
    with pytest.raises(RuntimeError), atomic(engine) as s:
        s.add(Office(name="基财股"))
        s.flush()
        raise RuntimeError("boom")
    with atomic(engine) as s:
        assert s.scalars(select(Office)).all() == []


def test_datetimes_come_back_aware_utc(engine):
    when = dt.datetime(2022, 6, 10, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with atomic(engine) as s:
        s.add(Plan(year=2022, title="t", imported_at=when))
    with atomic(engine) as s:
        got = s.scalars(select(Plan)).one().imported_at
    assert got == when and got.tzinfo is not None
