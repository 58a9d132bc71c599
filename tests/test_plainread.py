"""The short commands read a SQLite registry with sqlite3 alone (mailer.registry.rows), and say the same as
through SQLAlchemy; the plain path steps aside whenever the registry is not as a home's always is."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.common.config import Settings
from mailer.registry import rows as rows_mod
from mailer.registry.marker import MARKER
from mailer.registry.rows import day, flag, from_json, open_plain, utc

# Each with --json where it has it (the whole of what it read), and once as the clerk sees it.
SHORT = [
    ["status", "--json", "--now", "2022-06-25T09:00"],
    ["status", "--now", "2022-06-25T09:00"],
    ["tasks", "--json"],
    ["tasks"],
    ["tasks", "--all", "--json"],
    ["offices", "--json"],
    ["offices"],
    ["inbox", "list", "--json"],
    ["inbox", "list"],
    ["outbox", "list", "--json"],
    ["outbox", "list"],
    ["outbox", "list", "--state", "sent"],
    ["audit", "--json"],
    ["audit", "--period", "2022-06"],
]


def _run(home: Path, argv: list[str]) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home), *argv], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_plain_path_and_sqlalchemy_say_the_same(sent_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every short command's output, read by sqlite3 and read through a SQLAlchemy session, is identical
    (on a home whose June forms were sent: periods, dispatches, offices, tasks, audit rows)."""
    plain = {" ".join(a): _run(sent_home.home, a) for a in SHORT}
    assert open_plain(sent_home) is not None  # the runs above did take the plain path
    monkeypatch.setattr(rows_mod, "open_plain", lambda _settings: None)
    through_orm = {" ".join(a): _run(sent_home.home, a) for a in SHORT}
    assert plain == through_orm
    assert "2022年1—6月" in plain["status --now 2022-06-25T09:00"]
    assert json.loads(plain["outbox list --json"])  # the home has sent mail: the comparison compared something


def test_short_commands_import_no_sqlalchemy(sent_home: Settings) -> None:
    """Each short command, in a fresh interpreter, runs without importing SQLAlchemy at all (its import and the
    model's mapping were most of a command's time)."""
    code = """
import sys
from mailer.cli import cli
cli.main(sys.argv[1:], standalone_mode=False)
print("SQLALCHEMY", "sqlalchemy" in sys.modules, file=sys.stderr)
"""
    for argv in SHORT:
        out = subprocess.run(
            [sys.executable, "-c", code, "--home", str(sent_home.home), *argv], capture_output=True, text=True,
            check=True,
        )
        assert "SQLALCHEMY False" in out.stderr, (argv, out.stderr[-2000:])
        assert out.stdout.strip(), argv


def _sql(settings: Settings, statement: str) -> None:
    path = rows_mod.sqlite_path(settings.database_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute(statement)


def test_the_plain_path_steps_aside_for_an_older_registry(sent_home: Settings) -> None:
    """A registry one revision behind is not read plainly: the command goes through SQLAlchemy, which
    migrates it (as before) and then answers."""
    _sql(sent_home, "UPDATE alembic_version SET version_num = '0012'")
    assert open_plain(sent_home) is None


def test_the_plain_path_steps_aside_for_another_homes_registry(sent_home: Settings) -> None:
    """A registry whose home id is not the marker's is refused with the usual message, not read."""
    _sql(sent_home, "UPDATE meta SET value = 'ffffffffffffffffffffffffffffffff' WHERE key = 'home_id'")
    assert open_plain(sent_home) is None
    result = CliRunner().invoke(cli, ["--home", str(sent_home.home), "status"])
    assert result.exit_code == 1
    assert "不属于目录" in result.output


def test_the_plain_path_steps_aside_without_a_marker(sent_home: Settings) -> None:
    """A home without its marker is adopted by the full path (which writes the marker), then read plainly."""
    (sent_home.home / MARKER).unlink()
    assert open_plain(sent_home) is None
    _run(sent_home.home, ["status"])
    assert (sent_home.home / MARKER).exists()
    assert open_plain(sent_home) is not None


def test_the_plain_path_steps_aside_for_a_damaged_file(sent_home: Settings) -> None:
    path = rows_mod.sqlite_path(sent_home.database_url)
    assert path is not None
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database at all" * 100)
    assert open_plain(sent_home) is None
    result = CliRunner().invoke(cli, ["--home", str(sent_home.home), "status"])
    assert result.exit_code == 1
    assert "登记簿" in result.output


def test_converters_take_either_drivers_values() -> None:
    when = dt.datetime(2022, 6, 20, 1, 2, 3, tzinfo=dt.UTC)
    assert utc("2022-06-20 01:02:03.000000") == when
    assert utc(dt.datetime(2022, 6, 20, 1, 2, 3)) == when
    assert utc(None) is None
    assert day("2022-06-20") == dt.date(2022, 6, 20) == day(dt.date(2022, 6, 20))
    assert flag(1) is True and flag(0) is False
    assert from_json('["a@b.cn"]') == ["a@b.cn"] == from_json(["a@b.cn"])
