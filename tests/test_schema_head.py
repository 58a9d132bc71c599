"""The registry's revision is read without Alembic: a registry at the newest revision opens without it, any
other is upgraded (or refused) by Alembic exactly as before, and `duban check` still runs Alembic itself."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

import mailer.registry.migrations
from mailer.cli import cli
from mailer.common.config import Settings
from mailer.registry.store import MIGRATIONS, close_all, open_registry, schema_revision
from tests.test_store import head_revision


def test_the_head_constant_is_the_newest_migration():
    """Fails when a migration is added without moving mailer.registry.migrations.HEAD (else a registry left at the
    old head would never be upgraded by the short commands)."""
    assert head_revision() == mailer.registry.migrations.HEAD


def _registry_at(path: Path, revision: str) -> str:
    """A registry file made by the real migrations up to ``revision``."""
    engine = create_engine(f"sqlite:///{path}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()
    return f"sqlite:///{path}"


def test_a_registry_at_an_older_revision_is_upgraded_on_open(tmp_path: Path):
    url = _registry_at(tmp_path / "old.sqlite3", "0010")
    try:
        engine = open_registry(url)
        assert schema_revision(engine) == mailer.registry.migrations.HEAD
        assert inspect(engine).has_table("users")  # 0011's table: the upgrade really ran
    finally:
        close_all()


def test_a_registry_at_an_unknown_revision_is_refused_and_left_alone(tmp_path: Path):
    """A registry from a newer duban: Alembic refuses it, as before; the short path never skips it."""
    path = tmp_path / "newer.sqlite3"
    url = _registry_at(path, "head")
    with sqlite3.connect(path) as c:
        c.execute("UPDATE alembic_version SET version_num = '0099'")
    c.close()
    with pytest.raises(Exception, match="0099"):
        open_registry(url)
    close_all()
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
    c.close()


def test_a_deliberate_check_runs_alembic_and_a_plain_command_does_not(home: Settings):
    """`duban check` and `serve` open the registry with verify=True (cli/cycle.py): Alembic runs then, even
    on a registry this process opened before without it (the service looks at its home before locking it)."""
    close_all()
    code = f"""
import sys
from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.registry.homeid import open_home_registry
from pathlib import Path
cli.main(["--home", {str(home.home)!r}, "inbox", "list"], standalone_mode=False)
print("alembic" in sys.modules)
open_home_registry(load_settings(Path({str(home.home)!r})), verify=True)
print("alembic" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-2:] == ["False", "True"]


def test_a_command_on_an_old_registry_upgrades_it(home: Settings):
    """`duban inbox list` on a home whose registry was left at 0010 brings it to the newest revision."""
    close_all()
    with sqlite3.connect(home.database_url.removeprefix("sqlite:///")) as c:
        c.execute("DROP TABLE users")
        c.execute("DROP INDEX ix_dispatches_token")  # made by 0013
        c.execute("DROP INDEX ix_documents_token")
        c.execute("UPDATE alembic_version SET version_num = '0010'")
    c.close()
    result = CliRunner().invoke(cli, ["--home", str(home.home), "inbox", "list"])
    assert result.exit_code == 0, result.output
    close_all()
    engine = open_registry(home.database_url)
    try:
        assert schema_revision(engine) == mailer.registry.migrations.HEAD
        assert inspect(engine).has_table("users")
    finally:
        close_all()

