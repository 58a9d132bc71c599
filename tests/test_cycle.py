"""The monthly cycle driven by a given clock: a whole June through the demo's simulated people, a missed
week caught up once, ticks that never repeat a step."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import docx
import pytest
from sqlalchemy import func, select

from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import Dispatch, Document, InboundMessage, Office, Period, Submission
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.cycle import period_dates, run_once, tick
from mailer.service.demo import EXAMPLES, People, at, run_demo
from mailer.transport.base import open_transport


@pytest.fixture(scope="module")
def june_once(tmp_path_factory: pytest.TempPathFactory):
    """The demo June, run once for the module (about ten seconds)."""
    result = run_demo(tmp_path_factory.mktemp("june") / "demo")
    close_all()
    return result


@pytest.fixture
def june(june_once, tmp_path: Path):
    """A copy of the demo home of its own for each test: some tick it again or send more."""
    from mailer.common.config import load_settings

    home = tmp_path / "demo"
    shutil.copytree(june_once.home, home, symlinks=True)
    result = dataclasses.replace(june_once, home=home)
    settings = load_settings(home)
    yield result, settings, open_registry(settings.database_url)
    close_all()


def test_a_whole_june_ends_published_with_every_office_approved(june):
    """
    GIVEN the bundled 2022 notice and directory on a fresh home (folder mailbox)
    WHEN  June runs day by day with offices, leaders and the signer answering by mail
    THEN  the period is published, every lead office approved, the late one marked late, the corrected
          and the returned ones have their revision history, and the published files exist
    """
    result, settings, engine = june
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert period.state == "published"
        subs = s.scalars(select(Submission).order_by(Submission.id)).all()
        by_office: dict[str, list[str]] = {}
        for sub in subs:
            by_office.setdefault(sub.office.name, []).append(sub.state)
        assert all(states[-1] == "approved" for states in by_office.values())
        assert len(by_office) == 10
        assert ["invalid", "approved"] in by_office.values()
        assert ["returned", "approved"] in by_office.values()
        late = [sub.office.name for sub in subs if sub.late]
        assert late == ["教师发展中心"]
        published = s.scalars(select(Document).where(Document.kind == "published")).one()
    docx_path = settings.path(published.path)
    assert docx_path.exists() and docx_path.name == "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报.docx"
    text = "\n".join(c.text for t in docx.Document(str(docx_path)).tables for r in t.rows for c in r.cells)
    assert "逾期报送" in text and "按时报送" in text
    assert "已审定" in result.status_table


def test_every_message_is_sent_exactly_once(june):
    """No dispatch key twice, every dispatch sent, one .eml in the outbox per dispatch."""
    _result, settings, engine = june
    with atomic(engine) as s:
        rows = s.scalars(select(Dispatch)).all()
        kinds = Counter(d.kind for d in rows)
        assert all(d.state == "sent" for d in rows)
        assert len({d.message_id for d in rows}) == len(rows)
    assert len(list((settings.outbox / "mail").glob("*.eml"))) == len(rows)
    assert kinds["form"] == 10
    assert kinds["published"] == 1 and kinds["signoff_request"] == 1
    assert kinds["error_reply"] == 1 and kinds["returned"] == 1
    assert kinds["escalation"] == 1  # only the late office, after the due date
    assert kinds["reminder"] >= 1


def test_ticking_again_changes_nothing(june):
    """A tick at the same or a later time of a published period queues and sends nothing."""
    _result, settings, engine = june
    with atomic(engine) as s:
        before = s.scalar(select(func.count(Dispatch.id)))
    with open_transport(settings) as t:
        for when in (at(22, 10), at(23), at(30, 18)):
            report = run_once(settings, engine, t, when)
            assert report.queued == 0 and report.sent == 0
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Dispatch.id))) == before


def test_the_published_mail_reaches_the_distribution_list(june):
    _result, settings, engine = june
    with atomic(engine) as s:
        d = s.scalars(select(Dispatch).where(Dispatch.kind == "published")).one()
        assert d.cc_addrs, "the distribution list is on the published mail"
    msg = read_message(settings.path(d.eml_path).read_bytes(), max_attachment_bytes=10**8)
    names = [a.filename for a in msg.attachments]
    assert any(n.endswith(".docx") for n in names)


@pytest.fixture
def fresh(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    return home, engine


def _kinds(engine) -> Counter[str]:
    with atomic(engine) as s:
        return Counter(s.scalars(select(Dispatch.kind)))


def test_a_missed_week_is_caught_up_once(fresh):
    """
    GIVEN the service was down from before the send day until the 17th (start gate off)
    WHEN  it ticks on the 17th, again the same day, and again after another missed week (the 29th)
    THEN  forms go out once on the 17th with no same-day reminder and a due date moved to the 24th (sent +
          5 working days); on the 29th the escalations go out once each, and since nobody reported, no
          draft goes to the signer: the bureau office is told once and the period waits
    """
    settings, engine = fresh
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(17, 9))
        first = _kinds(engine)
        assert first["form"] == 10 and first["reminder"] == 0
        run_once(settings, engine, t, at(17, 15))
        assert _kinds(engine) == first
        run_once(settings, engine, t, at(29, 9))
        later = _kinds(engine)
        run_once(settings, engine, t, at(29, 9, 30))
        assert _kinds(engine) == later
    assert later["form"] == 10
    assert later["escalation"] == 10
    assert later["signoff_request"] == 0 and later["other"] == 1
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert period.state == "nothing_reported"
        assert (period.due_moved_from, period.due_on) == (dt.date(2022, 6, 20), dt.date(2022, 6, 24))
        assert s.scalars(select(Document).where(Document.kind == "draft")).all() == []


def test_nothing_happens_before_the_send_day(fresh):
    settings, engine = fresh
    report = tick(settings, engine, None, at(9, 18))
    assert report.opened == [] and _kinds(engine) == Counter()


def test_period_calendar_skips_holidays_and_weekends(home):
    """June 2022: due Monday the 20th; 3 working days before is Wednesday the 15th; escalation on the 21st,
    assembly after one grace working day on the 22nd."""
    d = period_dates(home, 2022, 6, 20)
    assert d["send_on"] == dt.date(2022, 6, 10)
    assert d["remind_on"] == dt.date(2022, 6, 15)
    assert d["escalate_on"] == dt.date(2022, 6, 21)
    assert d["assemble_after"] == dt.date(2022, 6, 22)
    # September 2022: the 10th is a Saturday (and 中秋节), so forms go out on Tuesday the 13th.
    assert period_dates(home, 2022, 9, 20)["send_on"] == dt.date(2022, 9, 13)


def test_a_returned_draft_waits_for_duban_assemble(fresh):
    """The signer returns the draft with comments: the bureau office gets them and the period waits; a new
    draft (version 2) goes to the signer only when `assemble` is asked for."""
    from mailer.service.cycle import assemble_period

    settings, engine = fresh
    people = People(settings.home, engine, settings.mail.from_address)
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        run_once(settings, engine, t, at(29))  # nobody reported: held, not sent for sign-off
        assert _kinds(engine)["signoff_request"] == 0
        with atomic(engine) as s:
            pid = s.scalars(select(Period.id)).one()
        assemble_period(settings, engine, pid)  # `duban assemble --force`: everything 未报送
        run_once(settings, engine, t, at(29, 10))
        with atomic(engine) as s:
            signer_addr = s.scalars(select(Dispatch).where(Dispatch.kind == "signoff_request")).one().to_addrs[0]
        assert people.signer_decides(signer_addr, at(29, 15), body="退回。请补充未报送股室的原因说明。") == 1
        run_once(settings, engine, t, at(29, 16))
        with atomic(engine) as s:
            assert s.scalars(select(Period)).one().state == "assembling"
            back = s.scalars(select(Dispatch).where(Dispatch.kind == "signoff_returned")).one()
            body = read_message(settings.path(back.eml_path).read_bytes(), max_attachment_bytes=10**8).text
            assert "请补充未报送股室的原因说明" in body
        run_once(settings, engine, t, at(30))
        assert _kinds(engine)["signoff_request"] == 1
        doc = assemble_period(settings, engine, pid)
        assert doc.version == 2
        run_once(settings, engine, t, at(30, 10))
    assert _kinds(engine)["signoff_request"] == 2


def test_offices_without_an_address_are_reported_not_mailed(fresh):
    settings, engine = fresh
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == "卫健所")).one()
        office.addresses.clear()
    tick(settings, engine, None, at(10))
    with atomic(engine) as s:
        keys = set(s.scalars(select(Dispatch.key)))
        assert not any(k.startswith("form:2022-06:") and k.endswith(f":{office.id}") for k in keys)
        assert f"no_address:2022-06:{office.id}" in keys
        assert s.scalar(select(func.count(InboundMessage.id))) == 0


def test_a_notice_due_day_before_the_send_day_or_past_the_month_end_still_makes_sense(home):
    """"每月5日前": forms go out on the 1st; "每月30日前" in February: due on the 28th."""
    early = period_dates(home, 2022, 6, 5)
    assert early["send_on"] == dt.date(2022, 6, 1) and early["due_on"] == dt.date(2022, 6, 5)
    assert early["send_on"] <= early["remind_on"] <= early["due_on"]
    feb = period_dates(home, 2022, 2, 30)
    assert feb["due_on"] == dt.date(2022, 2, 28)
    assert feb["send_on"] == dt.date(2022, 2, 10)
