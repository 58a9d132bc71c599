"""A safe first start (issue 9 item 3) and dates as people read them (item 5).

A home started after the send day sends nothing until `duban confirm`, then sends the forms with a stated
later due date; after a day's downtime it holds again; a period in which nothing was reported is not sent
for sign-off; `duban plan` / `run --dry-run` list exactly what the tick then does and change nothing; the
notice is dated on the day the signer approved it, on the service's clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.latestart import late_dates, moved_due
from mailer.registry.model import Dispatch, Document, Event, Period, Plan, ServiceGate
from mailer.registry.store import atomic, close_all, open_registry
from mailer.render.notice_date import issued_on_text
from mailer.service.cycle import run_once, tick
from mailer.service.daemon import Service
from mailer.service.demo import EXAMPLES, at, run_demo
from mailer.service.preview import preview_tick
from mailer.service.startgate import confirm
from mailer.service.statusnotes import gate_lines
from mailer.transport.base import open_transport

TZ = ZoneInfo("Asia/Shanghai")


def july(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2022, 7, day, hour, tzinfo=TZ)


@pytest.fixture
def gated(home):
    """A home with the start gate on (the default of a real home) and the 2022 notice and directory."""
    cfg = home.home / "duban.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("confirm_start = false", "confirm_start = true"), encoding="utf-8"
    )
    settings = load_settings(home.home)
    assert settings.service.confirm_start
    engine = open_registry(settings.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    return settings, engine


def _kinds(engine) -> Counter[str]:
    with atomic(engine) as s:
        return Counter(s.scalars(select(Dispatch.kind)))


def _sent(engine) -> list[tuple[str, tuple[str, ...], str]]:
    with atomic(engine) as s:
        rows = s.scalars(select(Dispatch).where(Dispatch.state == "sent").order_by(Dispatch.id))
        return [(d.kind, tuple(d.to_addrs), d.subject) for d in rows]


def _registry_snapshot(settings) -> tuple[str, list[str]]:
    """The registry file's bytes (with its WAL) and every row, as a dump."""
    db = settings.registry / "registry.sqlite3"
    digest = hashlib.sha256()
    for f in (db, db.with_name(db.name + "-wal")):
        if f.exists():
            digest.update(f.read_bytes())
    con = sqlite3.connect(db)
    try:
        rows = list(con.iterdump())
    finally:
        con.close()
    return digest.hexdigest(), rows


def _home_files(settings) -> set[str]:
    return {str(p.relative_to(settings.home)) for p in settings.home.rglob("*") if p.is_file()}


def test_a_home_started_on_06_25_sends_nothing_before_confirmation_then_forms_with_a_later_due_date(gated):
    """
    GIVEN a new home with the June 2022 plan, started for the first time on Saturday 25 June
    WHEN  it ticks, the clerk confirms, and it ticks again
    THEN  the first tick sends nothing and opens nothing, status and check say 等待确认; after the
          confirmation the ten forms go out, due 5 working days later (Friday 1 July), stored on the period,
          and the form mail says so; the confirmation records who and when
    """
    settings, engine = gated
    with open_transport(settings) as t:
        report = run_once(settings, engine, t, at(25, 9))
    assert report.held and "尚未确认" in report.held
    assert _kinds(engine) == Counter({"gate_held": 1})  # the bureau office is told what waits
    with atomic(engine) as s:
        assert s.scalars(select(Period)).all() == []
        gate = s.get(ServiceGate, 1)
        assert gate is not None and gate.held_since is not None
        assert len(gate.held_summary.splitlines()) == 10
        told = s.scalars(select(Dispatch).where(Dispatch.kind == "gate_held")).one()
        assert told.state == "sent" and told.to_addrs
        body = read_message(settings.path(told.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "确认后将发送以下10封邮件" in body and "duban confirm --by" in body and "2022-06-25 09:00" in body
    with atomic(engine) as s:
        lines = gate_lines(settings, s)
    assert lines and lines[0].startswith("等待确认") and "duban confirm" in lines[0]
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(settings.home), "status"])
    assert out.exit_code == 0 and "等待确认" in out.output
    out = runner.invoke(cli, ["--home", str(settings.home), "status", "--json"])
    assert json.loads(out.output)["notes"][0].startswith("等待确认")
    out = runner.invoke(cli, ["--home", str(settings.home), "check", "--no-mail"])
    assert "[提醒] 等待确认" in out.output

    # A second tick the same day still holds, and does not tell the bureau office again.
    with open_transport(settings) as t:
        assert run_once(settings, engine, t, at(25, 9, 30)).held
    assert _kinds(engine) == Counter({"gate_held": 1})

    out = runner.invoke(cli, ["--home", str(settings.home), "confirm", "--by", "王明", "--now", "2022-06-25T09:40"])
    assert out.exit_code == 0, out.output
    assert "已确认（王明）" in out.output and "进展情况表：" in out.output
    with open_transport(settings) as t:
        report = run_once(settings, engine, t, at(25, 10))
    assert not report.held
    assert _kinds(engine) == Counter({"form": 10, "gate_held": 1})
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert period.due_on == dt.date(2022, 7, 1)
        assert period.due_moved_from == dt.date(2022, 6, 20)
        assert period.remind_on == dt.date(2022, 6, 28)
        assert period.escalate_on == dt.date(2022, 7, 4)
        plan = s.scalars(select(Plan)).one()
        assert plan.confirmed_by == "王明"
        assert plan.confirmed_at == at(25, 9, 40)
        assert s.scalars(select(Event).where(Event.kind == "confirmed")).one().detail.startswith("王明 确认发送")
        form = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).first()
        assert form is not None
        text = read_message(settings.path(form.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "请于2022年7月1日（星期五）前报送（本月表格晚发，截止日期由2022年6月20日相应顺延）。" in text


def test_after_a_day_of_downtime_it_holds_again_and_an_empty_period_is_not_sent_for_sign_off(gated):
    """
    GIVEN forms sent on 25 June (confirmed), nobody reports, and the service is down until 6 July
    WHEN  it ticks on 6 July, the clerk confirms, and it ticks again
    THEN  the 6 July tick holds the escalations (downtime); after the confirmation they go out, and since
          no report was approved, no draft goes to the signer: the bureau office is told once, the period
          is "nothing_reported", status says so, and `duban assemble` refuses without --force
    """
    settings, engine = gated
    confirm(settings, engine, "王明", now=at(25, 8))
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(25, 9))
        assert _kinds(engine)["form"] == 10
        report = run_once(settings, engine, t, july(6))
        assert report.held and "停止运行" in report.held
        assert _kinds(engine) == Counter({"form": 10, "gate_held": 1})
        confirm(settings, engine, "王明", now=july(6, 10))
        run_once(settings, engine, t, july(6, 11))
        kinds = _kinds(engine)
        run_once(settings, engine, t, july(6, 12))
    assert _kinds(engine) == kinds
    assert kinds["escalation"] == 10 and kinds["signoff_request"] == 0 and kinds["other"] == 1
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert period.state == "nothing_reported"
        assert s.scalars(select(Document).where(Document.kind == "draft")).all() == []
        told = s.scalars(select(Dispatch).where(Dispatch.kind == "other")).one()
        assert told.state == "sent"
        body = read_message(settings.path(told.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "没有任何股室的报告获审定" in body and "duban assemble --period 2022-06 --force" in body
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(settings.home), "status"])
    assert "2022-06 期无人报送" in out.output
    out = runner.invoke(cli, ["--home", str(settings.home), "assemble", "--period", "2022-06"])
    assert out.exit_code == 1
    assert "没有任何股室的报告获审定" in out.output and "--force" in out.output
    assert _kinds(engine)["signoff_request"] == 0
    out = runner.invoke(cli, ["--home", str(settings.home), "assemble", "--period", "2022-06", "--force"])
    assert out.exit_code == 0, out.output
    assert _kinds(engine)["signoff_request"] == 1


def test_the_plan_changes_nothing_and_lists_exactly_what_the_tick_then_sends(gated):
    """
    GIVEN the new home on 25 June, not yet confirmed
    WHEN  `duban plan --now`, `duban run --dry-run --now` and preview_tick run, then the clerk confirms and a
          real tick runs at the same time
    THEN  the registry's bytes and rows and the home's files are the same after the previews; the plan
          names each office, address, period and why (in Chinese), says it waits for confirmation; and
          the messages the real tick sends are exactly those the plan listed
    """
    settings, engine = gated
    tick(settings, engine, None, at(9, 9))  # an ordinary quiet tick first: the registry has a gate row
    close_all()
    before, files = _registry_snapshot(settings), _home_files(settings)
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(settings.home), "plan", "--now", "2022-06-25T09:00"])
    assert out.exit_code == 0, out.output
    assert "这次运行将发送 10 封邮件" in out.output
    assert re.search(r"进展情况表：\S+ <[^>]+@[^>]+>，2022-06，原因：6月10日 发送日已过，补发；截止日期由6月20日顺延至7月1日", out.output)
    assert "等待确认" in out.output and "duban confirm" in out.output
    dry = runner.invoke(cli, ["--home", str(settings.home), "run", "--dry-run", "--now", "2022-06-25T09:00"])
    assert dry.exit_code == 0 and dry.output == out.output
    engine = open_registry(settings.database_url)
    planned = preview_tick(settings, engine, at(25, 9))
    close_all()
    assert _registry_snapshot(settings) == before
    assert _home_files(settings) == files

    engine = open_registry(settings.database_url)
    confirm(settings, engine, "王明", now=at(25, 8))
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(25, 9))
    assert _sent(engine) == [(m.kind, m.to, m.subject) for m in planned]
    assert len(planned) == 10 and {m.kind for m in planned} == {"form"}


def test_the_plan_on_the_send_day_says_why_in_chinese(gated):
    settings, engine = gated
    planned = preview_tick(settings, engine, at(10, 9))
    assert {m.why for m in planned} == {"6月10日 发送日"}
    assert all(m.period == "2022-06" and m.recipient and m.to for m in planned)
    assert preview_tick(settings, engine, at(9, 9)) == []


def test_replies_are_taken_in_and_answered_while_sending_is_held(gated):
    """An office's form before any period is open is quarantined and the bureau office told although the
    forms are held; the notice and the inbox list show the time in the configured zone."""
    from mailer.registry.model import OfficeAddress

    settings, engine = gated
    with atomic(engine) as s:
        sender = s.scalars(select(OfficeAddress.email).order_by(OfficeAddress.id)).first()
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = settings.mail.from_address
    msg["Subject"] = "报送进展情况表"
    msg["Date"] = format_datetime(at(25, 8))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("附件是我们的表格。")
    msg.add_attachment(b"not a word file", maintype="application", subtype="octet-stream", filename="进展情况表.docx")
    drop = settings.inbox / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    (drop / "stranger.eml").write_bytes(bytes(msg))
    with open_transport(settings) as t:
        report = run_once(settings, engine, t, at(25, 9))
    assert report.held and report.taken == 1
    with atomic(engine) as s:
        rows = s.scalars(select(Dispatch)).all()
        assert sorted((d.kind, d.state) for d in rows) == [("gate_held", "sent"), ("quarantine_notice", "sent")]
        notice = next(d for d in rows if d.kind == "quarantine_notice")
        body = read_message(settings.path(notice.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "2022-06-25 09:00" in body  # received on the service clock, in Asia/Shanghai
    out = CliRunner().invoke(cli, ["--home", str(settings.home), "inbox", "list", "--json"])
    assert '"received_at": "2022-06-25T09:00+08:00"' in out.output


def test_serve_yes_confirms_by_itself(gated):
    settings, engine = gated
    svc = Service(settings, clock=lambda: at(25, 9), auto_confirm="serve --yes")
    try:
        svc.job()
    finally:
        svc._close()
    assert _kinds(engine) == Counter({"form": 10})
    with atomic(engine) as s:
        assert s.scalars(select(Plan)).one().confirmed_by == "serve --yes"
        gate = s.get(ServiceGate, 1)
        assert gate is not None and gate.held_since is None and gate.last_tick_at == at(25, 9)


def test_a_new_plan_imported_before_its_send_day_is_not_held_until_it_would_send(gated):
    settings, engine = gated
    assert not tick(settings, engine, None, at(1, 9)).held  # nothing to send: nothing to hold
    assert tick(settings, engine, None, at(10, 9)).held


def test_late_due_policy(home):
    """Forms sent on or before the send day keep the calendar's due date; sent later, due = sent + N working
    days when that is later; N = 0 never moves it."""
    from dataclasses import replace

    from mailer.service.cycle import period_dates

    dates = period_dates(home, 2022, 6, 20)
    assert late_dates(home, dates, dt.date(2022, 6, 10))["due_moved_from"] is None
    assert late_dates(home, dates, dt.date(2022, 6, 13))["due_on"] == dt.date(2022, 6, 20)  # 13+5wd = 20
    moved = late_dates(home, dates, dt.date(2022, 6, 14))
    assert moved["due_on"] == dt.date(2022, 6, 21) and moved["due_moved_from"] == dt.date(2022, 6, 20)
    assert moved["send_on"] == dt.date(2022, 6, 10)
    off = replace(home, cycle=replace(home.cycle, late_due_workdays=0))
    assert moved_due(off, dt.date(2022, 6, 20), dt.date(2022, 6, 28)) is None


def test_status_now_counts_days_late_against_the_given_time(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    with open_transport(home) as t:
        run_once(home, engine, t, at(10, 9))
    out = CliRunner().invoke(cli, ["--home", str(home.home), "status", "--now", "2022-06-25T09:00"])
    assert out.exit_code == 0, out.output
    assert "逾期5天" in out.output and "逾期1" not in out.output.replace("逾期5天", "")


def test_the_notice_is_dated_on_its_sign_off_day(tmp_path: Path):
    """
    GIVEN the demo June (assembled on the 21st, signed off by the signer's reply on the 22nd, 2022)
    THEN  the draft is dated on its assembly day and the published notice on the sign-off day, on the
          service's clock, not the machine's date
    """
    result = run_demo(tmp_path / "demo")
    settings = load_settings(result.home)
    engine = open_registry(settings.database_url)
    try:
        with atomic(engine) as s:
            draft = s.scalars(select(Document).where(Document.kind == "draft")).one()
            published = s.scalars(select(Document).where(Document.kind == "published")).one()
            period = s.scalars(select(Period)).one()
            assert period.signed_off_at is not None
            assert period.signed_off_at.astimezone(TZ).date() == dt.date(2022, 6, 22)
    finally:
        close_all()
    assert issued_on_text(settings.path(draft.path)) == "2022年6月21日"
    doc = settings.path(published.path)
    assert issued_on_text(doc) == "2022年6月22日"
    body = "\n".join(p.text for p in docx.Document(str(doc)).paragraphs)
    assert f"{dt.date.today().year}年{dt.date.today().month}月{dt.date.today().day}日" not in body
    # The 版记's 印发日期 is the notice's date as well (it was the draft's, the 21st).
    record = [c.text for t in docx.Document(str(doc)).tables for r in t.rows for c in r.cells if "印发" in c.text]
    assert record and record[-1].endswith("2022年6月22日印发"), record
