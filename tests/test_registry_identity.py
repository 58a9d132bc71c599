"""The registry is never silently replaced: a home made by `duban init` carries an id (duban.id and the
registry's meta table); a lost, empty, foreign or damaged registry stops every command before any mail is
touched; a folder that is not a home is never turned into one except by `duban init`."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.common.errors import RegistryError
from mailer.registry.homeid import MARKER, open_home_registry, read_marker, registry_id
from mailer.registry.model import Event, RegistryMeta
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.daemon import serve
from tests.test_intake import mail


def duban(*args: str):
    result = CliRunner().invoke(cli, list(args))
    close_all()  # the next command opens the registry afresh, as a new process would
    return result


@pytest.fixture
def made(tmp_path: Path) -> Path:
    """A home made by `duban init`, with one message waiting in the drop folder."""
    home = tmp_path / "home"
    assert duban("init", str(home)).exit_code == 0
    (home / "inbox" / "drop").mkdir(parents=True, exist_ok=True)
    (home / "inbox" / "drop" / "waiting.eml").write_bytes(mail("jcg@jyj.example.gov.cn", "6月进展", "见附件"))
    return home


def registry_file(home: Path) -> Path:
    return home / "registry" / "registry.sqlite3"


def test_init_gives_the_home_an_id_kept_in_the_marker_and_in_the_registry(made):
    home_id = read_marker(made)
    assert home_id and len(home_id) == 32
    settings = load_settings(made)
    assert registry_id(open_registry(settings.database_url)) == home_id
    # init again on the same home: nothing replaced, same id
    assert duban("init", str(made)).exit_code == 0
    assert read_marker(made) == home_id


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_lost_registry_stops_every_command_and_leaves_the_waiting_mail_alone(made, damage):
    """
    GIVEN a home made by `duban init` whose registry file was deleted (or truncated to 0 bytes)
    WHEN  `duban run --once`, `duban check` and `duban status` run
    THEN  each refuses with the Chinese message and the fix; no registry is re-created, the waiting
          message is neither archived nor acknowledged
    """
    reg = registry_file(made)
    if damage == "missing":
        reg.unlink()
    else:
        reg.write_bytes(b"")
    for args in (["run", "--once"], ["check", "--no-mail"], ["status"]):
        result = duban("--home", str(made), *args)
        assert result.exit_code == 1, result.output
        assert "为免把待处理的邮件收进一个空登记簿，duban 拒绝运行" in result.output
        assert f"duban init --recreate-registry {made}" in result.output
        assert "Traceback" not in result.output
    assert reg.exists() == (damage == "empty")
    if damage == "empty":
        assert reg.stat().st_size == 0
    assert (made / "inbox" / "drop" / "waiting.eml").exists()
    assert not list((made / "inbox").rglob("archive/**/*.eml"))


def test_the_service_refuses_a_lost_registry_before_taking_the_lock(made):
    registry_file(made).unlink()
    with pytest.raises(RegistryError, match="拒绝运行"):
        serve(load_settings(made), interval_s=0.1, max_runs=1)
    assert not registry_file(made).exists()
    assert (made / "inbox" / "drop" / "waiting.eml").exists()


def test_recreate_registry_sets_the_old_file_aside_and_keeps_the_home_id(made):
    home_id = read_marker(made)
    registry_file(made).write_bytes(b"")
    result = duban("init", "--recreate-registry", str(made))
    assert result.exit_code == 0, result.output
    assert "已新建空登记簿" in result.output and "原登记簿文件已改名保留" in result.output
    aside = list((made / "registry").glob("registry.sqlite3.replaced-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 0
    settings = load_settings(made)
    assert registry_id(open_registry(settings.database_url)) == home_id == read_marker(made)
    result = duban("--home", str(made), "inbox", "list")
    assert result.exit_code == 0, result.output


def test_recreate_registry_keeps_a_healthy_registry(made):
    settings = load_settings(made)
    with atomic(open_registry(settings.database_url)) as s:
        s.add(Event(kind="note", detail="保留"))
    close_all()
    result = duban("init", "--recreate-registry", str(made))
    assert result.exit_code == 0 and "登记簿完好，属于本目录，未作改动" in result.output
    assert not list((made / "registry").glob("*.replaced-*"))
    with atomic(open_registry(settings.database_url)) as s:
        assert s.scalars(select(Event.detail).where(Event.kind == "note")).all() == ["保留"]


def test_a_registry_of_another_home_is_refused(made, tmp_path):
    other = tmp_path / "other"
    assert duban("init", str(other)).exit_code == 0
    shutil.copyfile(registry_file(other), registry_file(made))
    result = duban("--home", str(made), "check", "--no-mail")
    assert result.exit_code == 1
    assert f"不属于目录 {made}" in result.output
    assert "duban init --recreate-registry" in result.output
    assert (made / "inbox" / "drop" / "waiting.eml").exists()


def test_a_folder_that_is_not_a_home_is_never_made_into_one(tmp_path):
    """
    GIVEN an existing folder without duban.id and without a registry
    WHEN  a command other than `duban init` runs on it
    THEN  it refuses, naming `duban init`, and creates nothing there
    """
    folder = tmp_path / "plain"
    folder.mkdir()
    for args in (["run", "--once"], ["status"], ["check", "--no-mail"], ["serve", "--interval", "0.1"]):
        result = duban("--home", str(folder), *args)
        assert result.exit_code == 1, result.output
        assert f"{folder} 不是 duban 目录" in result.output
        assert f"duban init {folder}" in result.output
    assert list(folder.iterdir()) == []


def test_open_registry_never_creates_a_database_by_itself(tmp_path):
    url = f"sqlite:///{tmp_path}/r/registry.sqlite3"
    with pytest.raises(RegistryError, match="不会自动新建登记簿"):
        open_registry(url)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("how", ["--home", "DUBAN_HOME"])
def test_a_home_that_does_not_exist_is_refused_not_created(tmp_path, monkeypatch, how):
    missing = tmp_path / "no-such-home"
    if how == "--home":
        result = duban("--home", str(missing), "status")
    else:
        monkeypatch.setenv("DUBAN_HOME", str(missing))
        result = duban("status")
    assert result.exit_code == 1
    assert f"{how} 指定的目录 {missing} 不存在" in result.output
    assert f"duban init {missing}" in result.output
    assert not missing.exists()


def _first_wave(home: Path) -> None:
    """Make ``home`` look like one made by the first version: a registry at schema 0001 (made by the real
    0001 migration), no meta table, no marker."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from mailer.registry.store import MIGRATIONS

    (home / MARKER).unlink()
    registry_file(home).unlink()
    engine = create_engine(f"sqlite:///{registry_file(home)}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    with sqlite3.connect(registry_file(home)) as c:
        c.execute("INSERT INTO events (at, kind, detail) VALUES ('2022-06-01 00:00:00', 'note', '第一版的数据')")
    c.close()


def test_a_home_of_the_first_version_is_adopted_not_refused(made):
    settings = load_settings(made)
    close_all()
    _first_wave(made)
    result = duban("--home", str(made), "inbox", "list")
    assert result.exit_code == 0, result.output
    home_id = read_marker(made)
    assert home_id
    with atomic(open_registry(settings.database_url)) as s:
        assert s.get(RegistryMeta, "home_id").value == home_id  # type: ignore[union-attr]
        assert s.scalars(select(Event.detail).where(Event.kind == "note")).all() == ["第一版的数据"]
    close_all()
    # adopted once: from now on, losing the registry is noticed
    registry_file(made).unlink()
    assert duban("--home", str(made), "status").exit_code == 1


def _corrupt(home: Path) -> None:
    settings = load_settings(home)
    with atomic(open_registry(settings.database_url)) as s:
        for i in range(3000):
            s.add(Event(kind="note", detail=f"事件 {i} " + "x" * 200))
    close_all()
    path = registry_file(home)
    with sqlite3.connect(path) as c:
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        pages = c.execute("PRAGMA page_count").fetchone()[0]
    c.close()
    with path.open("r+b") as fh:  # overwrite the header of a page of the events table, deep in the file
        fh.seek((pages - 20 - 1) * page_size)
        fh.write(b"\xff" * 16)
        fh.flush()
        os.fsync(fh.fileno())


def test_a_registry_with_a_corrupted_page_is_refused_by_check_and_by_the_service(made):
    """
    GIVEN a registry in which one page was overwritten with garbage (the file still opens)
    WHEN  `duban check` runs, and the service starts
    THEN  both refuse, naming PRAGMA quick_check and the fix (restore from backup); no mail is taken in
    """
    _corrupt(made)
    result = duban("--home", str(made), "check", "--no-mail")
    assert result.exit_code == 1
    assert "已损坏（PRAGMA quick_check" in result.output and "从备份恢复" in result.output
    with pytest.raises(RegistryError, match="已损坏"):
        serve(load_settings(made), interval_s=0.1, max_runs=1)
    close_all()
    assert (made / "inbox" / "drop" / "waiting.eml").exists()


def test_recreate_registry_sets_a_damaged_registry_aside(made):
    _corrupt(made)
    result = duban("init", "--recreate-registry", str(made))
    assert result.exit_code == 0, result.output
    assert "已新建空登记簿" in result.output
    assert len(list((made / "registry").glob("registry.sqlite3.replaced-*"))) == 1
    assert duban("--home", str(made), "check", "--no-mail").output.count("已损坏") == 0


def test_open_home_registry_without_create_refuses_a_missing_registry_in_a_marked_home(made):
    settings = load_settings(made)
    registry_file(made).unlink()
    with pytest.raises(RegistryError, match="拒绝运行"):
        open_home_registry(settings)
    assert not registry_file(made).exists()


def test_a_registry_deleted_under_the_running_service_stops_intake(made, caplog):
    """
    GIVEN the service running on a home (one run done)
    WHEN  the registry file is deleted and a message arrives before the next run
    THEN  the next run takes nothing in: the message stays in the drop folder, no registry is re-created,
          the log says why (the open connections never write into the deleted file)
    """
    import logging

    from mailer.service.daemon import Service

    (made / "inbox" / "drop" / "waiting.eml").unlink()
    svc = Service(load_settings(made), interval_s=0.1)
    svc.job()
    registry_file(made).unlink()
    # An auto-reply: taken in, it would be recorded and acknowledged (moved to processed/) at once.
    (made / "inbox" / "drop" / "late.eml").write_bytes(
        mail("jcg@jyj.example.gov.cn", "自动回复：6月进展", "我正在休假", headers={"Auto-Submitted": "auto-replied"}))
    with caplog.at_level(logging.ERROR, logger="mailer.service.daemon"):
        svc.job()
    svc._close()
    close_all()
    assert "deleted or replaced" in caplog.text and "拒绝运行" in caplog.text
    assert (made / "inbox" / "drop" / "late.eml").exists()
    assert not registry_file(made).exists()


def test_plain_init_on_a_home_that_lost_its_registry_refuses_too(made):
    registry_file(made).unlink()
    result = duban("init", str(made))
    assert result.exit_code == 1
    assert "duban init --recreate-registry" in result.output
    assert not registry_file(made).exists()


def test_a_database_url_registry_is_guarded_by_the_meta_table_alone(tmp_path):
    """
    GIVEN a home whose registry_url is not a plain SQLite file path (as with PostgreSQL: no file to look
          at; here ``sqlite+pysqlite://`` takes that code path on a real database)
    WHEN  the database is replaced by an empty one, or by another home's
    THEN  both are refused through the identity in the meta table; --recreate-registry will not wipe a
          database that has tables
    """
    db = tmp_path / "db" / "shared.sqlite3"
    db.parent.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "duban.toml").write_text(f'registry_url = "sqlite+pysqlite:///{db}"\n', encoding="utf-8")
    assert duban("init", str(home)).exit_code == 0
    assert registry_id(open_registry(load_settings(home).database_url)) == read_marker(home)
    close_all()
    assert duban("--home", str(home), "inbox", "list").exit_code == 0

    other = tmp_path / "other"
    assert duban("init", str(other)).exit_code == 0
    shutil.copyfile(registry_file(other), db)
    result = duban("--home", str(home), "inbox", "list")
    assert result.exit_code == 1 and f"不属于目录 {home}" in result.output
    result = duban("init", "--recreate-registry", str(home))
    assert result.exit_code == 1 and "不会清空数据库" in result.output

    db.unlink()
    db.write_bytes(b"")
    result = duban("--home", str(home), "inbox", "list")
    assert result.exit_code == 1 and "是空的" in result.output and "拒绝运行" in result.output
