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


def _everything_status_shows(settings: Settings) -> None:
    """Into a home whose June forms were sent: a report in every state (approved with and without its leader's
    approval, superseded, invalid then late, returned), approved text that finishes a milestone, an extension,
    an uncertain mail, held sending, a period nobody reported in, a stuck service and robot posts that failed."""
    import hashlib

    from sqlalchemy import select

    from mailer.registry.model import (
        Approval,
        Dispatch,
        Entry,
        Office,
        OfficeDeadline,
        Period,
        RegistryMeta,
        RobotPost,
        ServiceGate,
        Submission,
        Task,
    )
    from mailer.registry.store import atomic, open_registry

    def at(day: int, hour: int = 10) -> dt.datetime:
        return dt.datetime(2022, 6, day, hour, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    config = settings.home / "duban.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[robots]]\nplatform = "dingtalk"\nname = "局办公室群"\nall = true\nurl_env = "DUBAN_ROBOT_URL"\n',
        encoding="utf-8",
    )
    with atomic(open_registry(settings.database_url)) as s:
        june = s.scalars(select(Period)).one()
        office = {o.name: o for o in s.scalars(select(Office))}
        task = {t.seq: t for t in s.scalars(select(Task).where(Task.plan_id == june.plan_id))}

        def submit(name: str, revision: int, state: str, when: dt.datetime, **more: object) -> Submission:
            sub = Submission(
                period_id=june.id, office_id=office[name].id, revision=revision, state=state, received_at=when,
                **more,
            )
            s.add(sub)
            s.flush()
            return sub

        done = submit("基财股", 1, "approved", at(14), decided_at=at(15, 9))
        s.add(Entry(submission_id=done.id, task_id=task[1].id, progress="一是已完成招标文件编制。二是正在推进。"))
        leader = office["基财股"].leader
        assert leader is not None
        s.add(Approval(kind="review", submission_id=done.id, person_id=leader.id, decision="approved",
                       decided_at=at(15, 9)))
        submit("职终股", 1, "superseded", at(13))
        submit("职终股", 2, "approved", at(14, 15), decided_at=at(16, 11))  # approved by the clerk: no Approval
        submit("人事股", 1, "invalid", at(15))
        submit("人事股", 2, "pending_approval", at(22), late=True)
        submit("基安股", 1, "returned", at(16))
        s.add(OfficeDeadline(period_id=june.id, office_id=office["督导室"].id, due_on=dt.date(2022, 6, 27),
                             remind_on=dt.date(2022, 6, 24), reason="负责人出差", set_by="测试"))
        doubt = s.scalars(select(Dispatch).where(Dispatch.office_id == office["招考股"].id)).first()
        assert doubt is not None
        doubt.state, doubt.error = "uncertain", "连接中断"
        s.merge(ServiceGate(id=1, held_since=at(24, 8), held_reason="服务停止运行约3天", held_summary="表格 → a\n催报 → b",
                            last_tick_at=at(24, 8)))
        s.add(Period(plan_id=june.plan_id, year=2022, month=5, state="nothing_reported",
                     send_on=dt.date(2022, 5, 10), due_on=dt.date(2022, 5, 20)))
        failure = json.dumps({"n": 3, "since": "2022-06-23T01:00:00+00:00", "msg": "模板损坏"}, ensure_ascii=False)
        s.add(RegistryMeta(key="tickfail:" + hashlib.sha256(b"x").hexdigest()[:16], value=failure))
        s.merge(RegistryMeta(key="tick_ok_at", value="2022-06-22T01:00:00+00:00"))
        for n, state in enumerate(("failed", "posted", "gave_up", "uncertain")):
            s.add(RobotPost(key=f"forms:2022-06:局办公室群:{n}", robot="局办公室群", platform="dingtalk",
                            event="forms", period_id=june.id, title=f"消息{n}", state=state, attempts=n + 1,
                            error="签名不符", next_at=at(24, 9) if state == "failed" else None))


STATUS = [
    ["status", "--json", "--now", "2022-06-25T09:00"],
    ["status", "--now", "2022-06-25T09:00"],
    ["status", "--now", "2022-06-28T09:00"],
    ["status", "--json", "--now", "2022-06-18T09:00"],
    ["status", "--period", "2022-05", "--json"],
    ["status", "--period", "2022-06"],
]


def test_status_with_everything_in_it_says_the_same_both_ways(
    sent_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`duban status` on a month with every kind of office state, light and note is the same read by sqlite3
    and through SQLAlchemy (and each note, state and the extension did show)."""
    _everything_status_shows(sent_home)
    monkeypatch.setenv("DUBAN_ROBOT_URL", "http://127.0.0.1:9/robot")
    plain = {" ".join(a): _run(sent_home.home, a) for a in STATUS}
    assert open_plain(sent_home) is not None
    monkeypatch.setattr(rows_mod, "open_plain", lambda _settings: None)
    assert {" ".join(a): _run(sent_home.home, a) for a in STATUS} == plain
    shown = plain["status --now 2022-06-25T09:00"]
    for note in ("服务卡住", "等待确认：自2022-06-24 08:00起", "2022-05 期无人报送", "群机器人消息 3 条", "未确认是否发出的邮件 1 封"):
        assert note in shown, note
    data = json.loads(plain["status --json --now 2022-06-25T09:00"])
    states = {o["office"]: o for o in data["offices"]}
    assert states["基财股"]["approved_by"] == "陈志明" and states["基财股"]["state"] == "已审定"
    assert states["职终股"]["approved_by"] == "" and states["职终股"]["approved_at"]
    assert states["人事股"]["state"] == "待审定" and states["人事股"]["late"] and states["人事股"]["days_late"] == 2
    assert states["基安股"]["state"] == "已退回"
    assert not states["督导室"]["late"]  # extended to the 27th
    later = plain["status --now 2022-06-28T09:00"].splitlines()
    assert any(line.startswith("督导室") and "逾期1天" in line for line in later)  # its own due date, the 27th
    assert data["uncertain"][0]["error"] == "连接中断"
    (first,) = [t for t in data["tasks"] if t["seq"] == 1]
    assert not any("招标文件编制" in r for r in first["reasons"])  # reported done in the approved text
