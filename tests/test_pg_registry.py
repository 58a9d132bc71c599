"""A home whose registry is a real PostgreSQL database (tests/pgserver.py): a whole demo June on it, homes
kept apart by schema in one database, and `duban registry copy` from SQLite to PostgreSQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.config import DEFAULT_TOML, load_settings
from mailer.demo import run_demo
from mailer.model import Dispatch, Period, Submission
from mailer.store import atomic, close_all, open_registry

pytestmark = pytest.mark.postgres


def pg_home(folder: Path, url: str, schema: str = "") -> Path:
    """A folder whose duban.toml points at ``url`` (``duban init`` keeps a duban.toml it finds)."""
    folder.mkdir(parents=True)
    extra = f'registry_schema = "{schema}"\n' if schema else ""
    (folder / "duban.toml").write_text(f'registry_url = "{url}"\n{extra}' + DEFAULT_TOML, encoding="utf-8")
    return folder


def test_a_demo_june_runs_whole_on_postgresql(tmp_path: Path, pg_url: str):
    """
    GIVEN a home with registry_url pointing at an empty PostgreSQL database
    WHEN  the demo imports the notice and the directory and runs June (intake, approvals, sign-off)
    THEN  the period is published with every office approved, every message sent exactly once, and all
          of it lives in PostgreSQL (no SQLite file in registry/)
    """
    result = run_demo(pg_home(tmp_path / "demo", pg_url))
    settings = load_settings(result.home)
    assert settings.database_url.startswith("postgresql+psycopg://")
    engine = open_registry(settings.database_url)
    assert engine.dialect.name == "postgresql"
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "published"
        subs = s.scalars(select(Submission).order_by(Submission.id)).all()
        last = {sub.office.name: sub.state for sub in subs}
        assert len(last) == 10 and set(last.values()) == {"approved"}
        assert [sub.office.name for sub in subs if sub.late] == ["教师发展中心"]
        rows = s.scalars(select(Dispatch)).all()
    kinds = Counter(d.kind for d in rows)
    assert all(d.state == "sent" for d in rows)
    assert len({d.message_id for d in rows}) == len(rows)
    assert kinds["form"] == 10 and kinds["published"] == 1 and kinds["returned"] == 1
    assert len(list((settings.outbox / "mail").glob("*.eml"))) == len(rows)
    assert not list(settings.registry.glob("*.sqlite3"))
    close_all()
