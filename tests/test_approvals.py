"""Approvals bind to the revision the leader read (issue 8.2): a reply to the request for revision N decides N,
never a newer one that arrived since; the newer one has its own request; each decision records the request
it answers. Real mail through the folder mailbox and the cycle, and once over the real IMAP/SMTP servers."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailer.read.mailread import read_message
from mailer.registry.model import Approval, Dispatch, Document, InboundMessage, Office, Period, Submission
from mailer.registry.periodfacts import settled_submission
from mailer.registry.store import atomic, open_registry
from mailer.render.notice_data import notice_data
from mailer.service.cycle import assemble_period, run_once
from mailer.service.demo import People, at, fill_form
from mailer.transport.base import open_transport
from tests.test_cycle_imap import DOMAIN, answer, imap_home, inbox_of  # noqa: F401  (imap_home: the fixture)

OFFICE = "基财股"


@pytest.fixture
def month(sent_home):
    home = sent_home
    engine = open_registry(home.database_url)
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
        addr, leader = office.addresses[0].email, office.leader.email  # type: ignore[union-attr]
    people = People(home.home, engine, home.mail.from_address)
    return home, engine, people, addr, leader


def _tick(settings, engine, when) -> None:
    with open_transport(settings) as t:
        run_once(settings, engine, t, when)


def _two_revisions(settings, engine, people: People, addr: str) -> None:
    """The office reports on the 12th (revision 1) and, before its leader answers, again on the 13th."""
    assert people.office_reports(addr, at(12, 9))
    _tick(settings, engine, at(12, 10))
    people.answered.clear()  # the clerk answers the same form mail a second time
    assert people.office_reports(addr, at(13, 9))
    _tick(settings, engine, at(13, 10))


def _subs(engine) -> dict[int, str]:
    with atomic(engine) as s:
        return {
            sub.revision: sub.state
            for sub in s.scalars(select(Submission).join(Office).where(Office.name == OFFICE))
        }


def _request(engine, revision: int) -> Dispatch:
    with atomic(engine) as s:
        return s.scalars(
            select(Dispatch)
            .join(Submission, Submission.id == Dispatch.submission_id)
            .where(Dispatch.kind == "approval_request", Submission.revision == revision)
            .join(Office, Office.id == Submission.office_id)
            .where(Office.name == OFFICE)
        ).one()


def _approvals(engine) -> list[tuple[int, str, int | None]]:
    with atomic(engine) as s:
        return [
            (s.get(Submission, a.submission_id).revision, a.decision, a.request_dispatch_id)  # type: ignore[union-attr]
            for a in s.scalars(select(Approval).where(Approval.kind == "review").order_by(Approval.id))
        ]


def _dispatch_text(settings, engine, kind: str) -> str:
    with atomic(engine) as s:
        d = s.scalars(select(Dispatch).where(Dispatch.kind == kind).order_by(Dispatch.id.desc())).first()
        assert d is not None, kind
        path = d.eml_path
    return read_message(settings.path(path).read_bytes(), max_attachment_bytes=10**8).text


def test_a_yes_to_revision_1_approves_revision_1_only_and_revision_2_is_asked_separately(month):
    """
    GIVEN an office sent revision 1, its leader got the request, and the office then sent revision 2
    WHEN  the leader replies 同意 to the request for revision 1, and later 退回 to the one for revision 2
    THEN  revision 1 is approved and revision 2 still waits (its own request went out), the office is told
          so, the period does not assemble meanwhile; the 退回 decides revision 2 only and the notice uses
          revision 1; each approval row names the request it answers
    """
    settings, engine, people, addr, leader = month
    _two_revisions(settings, engine, people, addr)
    assert _subs(engine) == {1: "superseded", 2: "pending_approval"}
    first, second = _request(engine, 1), _request(engine, 2)
    assert first.state == second.state == "sent" and leader in first.to_addrs and leader in second.to_addrs

    people._reply(first, leader, "同意。", at(14, 9))
    _tick(settings, engine, at(14, 10))
    assert _subs(engine) == {1: "approved", 2: "pending_approval"}
    assert _approvals(engine) == [(1, "approved", first.id)]
    notice = _dispatch_text(settings, engine, "approved_notice")
    assert "第1版" in notice and "此后报送的第2版已另行送" in notice
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
        assert settled_submission(s, period, office) is None  # revision 2 is not decided yet
        row = s.scalars(select(InboundMessage).where(InboundMessage.kind == "decision")).one()
        assert row.outcome == f"{people_name(s, leader)} 同意 {OFFICE} 第1版报告（第2版已另行送审）"

    people._reply(second, leader, "退回：第2项请写明完成时间。", at(15, 9))
    _tick(settings, engine, at(15, 10))
    assert _subs(engine) == {1: "approved", 2: "returned"}
    assert _approvals(engine) == [(1, "approved", first.id), (2, "returned", second.id)]
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
        settled = settled_submission(s, period, office)
        assert settled is not None and settled.revision == 1
        data = notice_data(s, period)
        rows = [r for r in data.rows if OFFICE in r.leads]
        assert rows and all("按计划推进" in r.progress for r in rows)  # revision 1's approved text stands
        report = next(o for o in data.offices if o.office == OFFICE)
        assert report.status != "MISSING"


def people_name(session, addr: str) -> str:
    from mailer.registry.model import Person

    return session.scalars(select(Person).where(Person.email == addr)).one().name


def test_a_late_yes_to_revision_1_after_revision_2_was_approved_changes_nothing(month):
    settings, engine, people, addr, leader = month
    _two_revisions(settings, engine, people, addr)
    first, second = _request(engine, 1), _request(engine, 2)
    people._reply(second, leader, "同意。", at(14, 9))
    _tick(settings, engine, at(14, 10))
    people._reply(first, leader, "退回，请补充。", at(14, 15))
    _tick(settings, engine, at(14, 16))
    assert _subs(engine) == {1: "superseded", 2: "approved"}
    assert _approvals(engine) == [(2, "approved", second.id)]
    with atomic(engine) as s:
        late = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert late is not None and "第1版的回复已忽略" in late.outcome and "第2版已审定" in late.outcome
        assert s.scalars(select(Dispatch).where(Dispatch.kind == "returned")).first() is None


def test_a_form_with_errors_does_not_replace_the_revision_awaiting_review(month):
    """Revision 2 has an error: it goes back to the office, and revision 1 still waits for its leader."""
    settings, engine, people, addr, _leader = month
    assert people.office_reports(addr, at(12, 9))
    _tick(settings, engine, at(12, 10))
    people.answered.clear()
    assert people.office_reports(addr, at(13, 9), mistake=True)
    _tick(settings, engine, at(13, 10))
    assert _subs(engine) == {1: "pending_approval", 2: "invalid"}


def _fresh_mail(settings, sender: str, body: str, when) -> None:
    """A new mail (no In-Reply-To, no token) from ``sender`` into the drop folder."""
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, settings.mail.from_address
    msg["Subject"] = "审核意见"
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = email.utils.make_msgid(domain="example.cn")
    msg.set_content(body)
    drop = settings.inbox / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    (drop / f"fresh-{when:%d%H%M}.eml").write_bytes(bytes(msg))


def test_a_fresh_yes_while_one_revision_waits_records_the_request_it_was_taken_to_answer(month):
    settings, engine, people, addr, leader = month
    _two_revisions(settings, engine, people, addr)
    _fresh_mail(settings, leader, "同意", at(14, 9))
    _tick(settings, engine, at(14, 10))
    assert _subs(engine) == {1: "superseded", 2: "approved"}
    assert _approvals(engine) == [(2, "approved", _request(engine, 2).id)]


def test_signoff_records_the_request_it_answers(month):
    settings, engine, people, _addr, _leader = month
    with atomic(engine) as s:
        s.scalars(select(Period)).one().assemble_after = at(11).date()
    _tick(settings, engine, at(11, 10))  # nothing reported: held for the clerk, not sent for sign-off
    with atomic(engine) as s:
        period_id = s.scalars(select(Period)).one().id
    assemble_period(settings, engine, period_id, now=at(11, 11))  # the clerk's `duban assemble --force`
    _tick(settings, engine, at(11, 12))
    with atomic(engine) as s:
        request = s.scalars(select(Dispatch).where(Dispatch.kind == "signoff_request")).one()
        signer_addr = request.to_addrs[0]
    assert people.signer_decides(signer_addr, at(11, 15)) == 1
    _tick(settings, engine, at(11, 16))
    with atomic(engine) as s:
        a = s.scalars(select(Approval).where(Approval.kind == "signoff")).one()
        assert (a.decision, a.request_dispatch_id) == ("approved", request.id)


def test_a_signers_yes_to_a_replaced_draft_signs_nothing_and_says_so(month):
    """
    GIVEN draft 1 sent for sign-off, then reassembled by the clerk as draft 2 and sent again
    WHEN  the signer answers 同意 to the request of draft 1 (the one read), later to that of draft 2
    THEN  the first answer signs nothing: the period still awaits sign-off, the signer (bureau office in copy)
          is told that draft 2 waits; the second answer signs draft 2
    """
    settings, engine, people, _addr, _leader = month
    with atomic(engine) as s:
        s.scalars(select(Period)).one().assemble_after = at(11).date()
    _tick(settings, engine, at(11, 10))
    with atomic(engine) as s:
        period_id = s.scalars(select(Period)).one().id
    assemble_period(settings, engine, period_id, now=at(11, 11))
    _tick(settings, engine, at(11, 12))
    assemble_period(settings, engine, period_id, now=at(11, 13))  # the clerk corrects the draft: draft 2
    _tick(settings, engine, at(11, 14))
    with atomic(engine) as s:
        first, second = s.scalars(
            select(Dispatch).where(Dispatch.kind == "signoff_request").order_by(Dispatch.id)
        ).all()
        versions = [s.get(Document, d.document_id).version for d in (first, second)]  # type: ignore[union-attr]
        assert versions == [1, 2]
        signer_addr = first.to_addrs[0]
    people._reply(first, signer_addr, "同意印发。", at(11, 15))
    _tick(settings, engine, at(11, 16))
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "awaiting_signoff"
        assert s.scalars(select(Approval).where(Approval.kind == "signoff")).all() == []
        told = s.scalars(select(Dispatch).where(Dispatch.kind == "signoff_stale")).one()
        assert told.to_addrs == [signer_addr] and told.state == "sent"
        body = read_message((settings.home / told.eml_path).read_bytes(), max_attachment_bytes=10**7).text
        assert "第1稿" in body and "第2稿" in body and "未用于第2稿" in body
        inbound = s.scalars(select(InboundMessage).where(InboundMessage.kind == "signoff")).one()
        assert "已被第2稿取代" in inbound.outcome
    people._reply(second, signer_addr, "同意印发。", at(11, 17))
    _tick(settings, engine, at(11, 18))
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state in ("signed_off", "published")
        a = s.scalars(select(Approval).where(Approval.kind == "signoff")).one()
        assert (a.decision, a.request_dispatch_id, a.document_id) == ("approved", second.id, second.document_id)


# --- over the real IMAP/SMTP servers ----------------------------------------------------------------


@pytest.mark.imap
def test_over_imap_a_yes_to_the_first_request_decides_the_first_revision(imap_home, mail_servers):  # noqa: F811
    settings, engine = imap_home
    jcg, leader = f"jcg@{DOMAIN}", f"leader@{DOMAIN}"
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        forms = inbox_of(mail_servers, jcg)
        form = read_message(forms[0], max_attachment_bytes=10**8).attachments[0]
        filled = (form.filename, fill_form(form.data))
        answer(mail_servers, forms[0], jcg, "局办公室：进展见附件。", at(12, 10), filled)
        run_once(settings, engine, t, at(12, 11))
        answer(mail_servers, forms[0], jcg, "局办公室：更正后的表格见附件。", at(13, 10), filled)
        run_once(settings, engine, t, at(13, 11))
        requests = inbox_of(mail_servers, leader)
        assert len(requests) == 2 and "第1版" in read_message(requests[0], max_attachment_bytes=10**8).text
        answer(mail_servers, requests[0], leader, "同意。", at(14, 9))
        run_once(settings, engine, t, at(14, 10))
    with atomic(engine) as s:
        subs = {sub.revision: sub.state for sub in s.scalars(select(Submission))}
        assert subs == {1: "approved", 2: "pending_approval"}
        approval = s.scalars(select(Approval)).one()
        request = s.get(Dispatch, approval.request_dispatch_id)
        assert request is not None and request.kind == "approval_request"
        assert s.get(Submission, request.submission_id).revision == 1  # type: ignore[union-attr]
        assert s.scalars(select(Period)).one().state == "collecting"  # revision 2 still waits

