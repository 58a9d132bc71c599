"""The Alembic migrations build exactly the model's schema, on SQLite and on PostgreSQL alike: alembic's own
autogenerate comparison finds nothing to add, drop or change (a drift would make the two databases differ)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailer.model import Base
from mailer.store import close_all, open_registry


def _same_empty_default(_ctx, _inspected_col, _metadata_col, inspected, _metadata, rendered) -> bool | None:
    # alembic 1.20 renders the model's server_default="" as an empty string while SQLite reflects it as
    # "('')", and its SQLite comparison strips quotes around '(.+)' only: the empty default never equals
    # itself there. Decide that one case, leave every other to alembic.
    def bare(d: str | None) -> str | None:
        return None if d is None else d.strip("()").split("::")[0]

    if bare(inspected) == "''" and bare(rendered) in ("", "''"):
        return False
    return None


def _drift(url: str) -> list:
    engine = open_registry(url, create=True)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": _same_empty_default})
            return compare_metadata(ctx, Base.metadata)
    finally:
        close_all()


def test_migrations_reach_the_model_on_sqlite(tmp_path: Path):
    assert _drift(f"sqlite:///{tmp_path / 'r.sqlite3'}") == []


@pytest.mark.postgres
def test_migrations_reach_the_model_on_postgresql(pg_url: str):
    assert _drift(pg_url) == []
