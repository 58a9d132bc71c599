"""Intake through the folder mailbox: matching, authorisation, quarantine, auto-replies, duplicates, and
what is left alone. Every test starts after the June forms went out (2022-06-10)."""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import docx
import pytest
from sqlalchemy import func, select

from mailer.read.mailread import read_message
from mailer.registry.model import Approval, Dispatch, Entry, InboundMessage, Office, Submission
from mailer.registry.store import atomic, open_registry
from mailer.service.cycle import run_once
from mailer.service.demo import at, fill_form
from mailer.service.intake import poll
from mailer.transport.base import open_transport


@pytest.fixture
def sent(sent_home):
    home = sent_home
    """A home with the 2022 plan whose June forms were sent."""
    engine = open_registry(home.database_url)
    return home, engine


def form_dispatch(engine, office_name: str) -> Dispatch:
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == office_name)).one()
        return s.scalars(select(Dispatch).where(Dispatch.kind == "form", Dispatch.office_id == office.id)).one()


def mail(sender: str, subject: str, body: str, *, in_reply_to: str | None = None,
         attachment: tuple[str, bytes] | None = None, headers: dict[str, str] | None = None,
         day: int = 13) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "bgs@jyj.example.gov.cn", subject
    msg["Date"] = format_datetime(at(day, 10))
    msg["Message-ID"] = make_msgid(domain="example.org")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename=attachment[0])
    return bytes(msg)


def the_form(settings, d: Dispatch) -> tuple[str, bytes]:
    att = read_message(settings.path(d.eml_path).read_bytes(), max_attachment_bytes=10**8).attachments[0]
    return att.filename, att.data


def drop(settings, name: str, raw: bytes) -> None:
    (settings.inbox / "drop").mkdir(parents=True, exist_ok=True)
    (settings.inbox / "drop" / name).write_bytes(raw)


def take(settings, engine, day: int = 13):
    with open_transport(settings) as t:
        return poll(settings, engine, t, now=at(day, 12))


def counts(engine) -> dict[str, int]:
    with atomic(engine) as s:
        return {
            "inbound": s.scalar(select(func.count(InboundMessage.id))) or 0,
            "submissions": s.scalar(select(func.count(Submission.id))) or 0,
            "entries": s.scalar(select(func.count(Entry.id))) or 0,
            "dispatches": s.scalar(select(func.count(Dispatch.id))) or 0,
        }


def test_a_reply_with_the_filled_form_becomes_a_submission(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "a.eml", mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件",
                                 in_reply_to=d.message_id, attachment=(name, fill_form(data))))
    report = take(settings, engine)
    assert report.taken == 1
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert (sub.office.name, sub.revision, sub.state, sub.late) == ("基财股", 1, "pending_approval", False)
        assert len(sub.entries) == 3
        row = s.scalars(select(InboundMessage)).one()
        assert row.matched_by == "in_reply_to" and row.kind == "form"
        kinds = sorted(s.scalars(select(Dispatch.kind).where(Dispatch.submission_id == sub.id)))
        assert kinds == ["approval_request", "receipt"]
    assert not (settings.inbox / "drop" / "a.eml").exists()
    assert [p.name[:2] for p in (settings.inbox / "drop" / "processed").iterdir()] == ["a."]


def test_the_same_message_twice_is_taken_once(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    raw = mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
               attachment=(name, fill_form(data)))
    drop(settings, "a.eml", raw)
    take(settings, engine)
    before = counts(engine)
    drop(settings, "a-again.eml", raw)
    report = take(settings, engine)
    assert (report.taken, report.duplicates) == (0, 1)
    assert counts(engine) == before
    assert any(p.name.startswith("a-again.") for p in (settings.inbox / "drop" / "processed").iterdir())


def test_matching_by_the_token_inside_the_docx_alone(sent):
    """A new mail (no In-Reply-To, plain subject) whose form carries its token is still matched."""
    settings, engine = sent
    d = form_dispatch(engine, "人事股")
    name, data = the_form(settings, d)
    drop(settings, "b.eml", mail("rsg@jyj.example.gov.cn", "进展情况表", "请查收",
                                 attachment=(name, fill_form(data))))
    take(settings, engine)
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.matched_by in ("docx_token", "sender")
        assert s.scalars(select(Submission)).one().office.name == "人事股"


def test_a_stranger_sending_a_form_is_quarantined_and_the_bureau_told(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    before = counts(engine)
    drop(settings, "c.eml", mail("someone@example.org", "回复：" + d.subject, "x", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data))))
    take(settings, engine)
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.kind == "quarantined" and row.flagged
        notice = s.scalars(select(Dispatch).where(Dispatch.kind == "quarantine_notice")).one()
        assert notice.to_addrs == ["bgs@jyj.example.gov.cn"]
    after = counts(engine)
    assert after["submissions"] == before["submissions"] == 0
    assert (settings.inbox / "quarantine" / f"{row.sha256}.eml").exists()


def test_another_offices_address_cannot_report_for_this_office(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "d.eml", mail("rsg@jyj.example.gov.cn", "回复：" + d.subject, "x", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data))))
    take(settings, engine)
    with atomic(engine) as s:
        assert s.scalars(select(InboundMessage)).one().kind == "quarantined"
        assert s.scalar(select(func.count(Submission.id))) == 0


def _submit_and_request(settings, engine, office: str, addr: str) -> Dispatch:
    d = form_dispatch(engine, office)
    name, data = the_form(settings, d)
    drop(settings, f"{office}.eml", mail(addr, "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                         attachment=(name, fill_form(data))))
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(13, 12))
    with atomic(engine) as s:
        return s.scalars(select(Dispatch).where(Dispatch.kind == "approval_request")).one()


def test_only_the_offices_own_leader_can_approve(sent):
    settings, engine = sent
    req = _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    other = "huanglj@jyj.example.gov.cn"  # leads 职终股, not 基财股
    assert other not in req.to_addrs
    drop(settings, "e.eml", mail(other, "回复：" + req.subject, "同意。", in_reply_to=req.message_id, day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "pending_approval"
        assert s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first().kind == "quarantined"
        assert s.scalar(select(func.count(Approval.id))) == 0


def test_the_leaders_quoted_outlook_reply_approves(sent):
    settings, engine = sent
    req = _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    body = ("同意。\n\n陈志明\n\n-----原始邮件-----\n发件人: 局办公室 <bgs@jyj.example.gov.cn>\n"
            "发送时间: 2022年6月13日 12:00\n主题: 请审核\n\n请审核后直接回复，不同意的请退回。")
    drop(settings, "f.eml", mail(req.to_addrs[0], "回复：" + req.subject, body, in_reply_to=req.message_id, day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "approved"
        approval = s.scalars(select(Approval)).one()
        assert approval.decision == "approved" and approval.person.email == req.to_addrs[0]


def test_a_reply_that_is_not_a_decision_gets_a_polite_question(sent):
    settings, engine = sent
    req = _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    drop(settings, "g.eml", mail(req.to_addrs[0], "回复：" + req.subject, "收到，稍后看。",
                                 in_reply_to=req.message_id, day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "pending_approval"
        q = s.scalars(select(Dispatch).where(Dispatch.kind == "not_understood")).one()
        assert q.to_addrs == req.to_addrs and q.cc_addrs == ["bgs@jyj.example.gov.cn"]


def test_an_out_of_office_reply_is_recorded_and_never_answered(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    before = counts(engine)
    drop(settings, "h.eml", mail("jcg@jyj.example.gov.cn", "自动回复：" + d.subject, "我正在休假，6月20日返回。",
                                 in_reply_to=d.message_id, headers={"Auto-Submitted": "auto-replied"}))
    take(settings, engine)
    with atomic(engine) as s:
        assert s.scalars(select(InboundMessage)).one().kind == "auto_reply"
    after = counts(engine)
    assert after["dispatches"] == before["dispatches"]


def test_an_unsafe_attachment_is_refused_with_a_chinese_reason_and_nothing_else_changes(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    drop(settings, "i.eml", mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "x", in_reply_to=d.message_id,
                                 attachment=("进展情况表.docx", b"this is not a word file")))
    take(settings, engine)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0
        row = s.scalars(select(InboundMessage)).one()
        assert row.kind == "invalid"
        reply = s.scalars(select(Dispatch).where(Dispatch.kind == "error_reply")).one()
        assert reply.to_addrs == ["jcg@jyj.example.gov.cn"]
    body = read_message(settings.path(reply.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "进展情况表.docx" in body


def test_a_form_with_an_empty_progress_cell_is_answered_with_the_row_and_column(sent):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "j.eml", mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "x", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data, mistake=True))))
    take(settings, engine)
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert sub.state == "invalid" and sub.entries == []
        reply = s.scalars(select(Dispatch).where(Dispatch.kind == "error_reply")).one()
    msg = read_message(settings.path(reply.eml_path).read_bytes(), max_attachment_bytes=10**8)
    assert "进展情况" in msg.text and "培英职业技术学校新校区建设项目" in msg.text
    assert msg.attachments and msg.attachments[0].filename.endswith(".docx")
    back = docx.Document(io.BytesIO(msg.attachments[0].data))
    assert back.tables  # the form comes back attached, to be corrected


def test_unrelated_mail_is_left_on_the_server_and_not_fetched_again(sent):
    settings, engine = sent
    drop(settings, "k.eml", mail("news@example.org", "教育简报第12期", "本期内容……"))
    first = take(settings, engine)
    assert first.taken == 1
    assert (settings.inbox / "drop" / "k.eml").exists()
    second = take(settings, engine)
    assert (second.taken, second.skipped) == (0, 1)
    with atomic(engine) as s:
        assert s.scalars(select(InboundMessage)).one().kind == "unrelated"


class ResettableMailbox:
    """An IMAP-like mailbox (UIDs valid within a UIDVALIDITY) that the server can renumber."""

    source = "imap:test/INBOX"

    def __init__(self) -> None:
        self.uidvalidity: int | None = 1
        self.messages: dict[str, bytes] = {}

    def list_new(self) -> list[str]:
        return sorted(self.messages, key=int)

    def fetch(self, uid: str) -> bytes:
        return self.messages[uid]

    def acknowledge(self, uid: str) -> None:
        self.messages.pop(uid, None)


def test_a_uidvalidity_reset_never_hides_a_new_message_behind_an_old_uid(sent):
    """
    GIVEN an unrelated message left alone at UID 1
    WHEN  the server resets UIDVALIDITY, the old message becomes UID 7 and a new reply gets UID 1
    THEN  the new reply is taken in and the old one is recognised, not processed again
    """
    settings, engine = sent
    box = ResettableMailbox()
    box.messages["1"] = mail("news@example.org", "教育简报", "本期内容")
    assert poll(settings, engine, box, now=at(13, 12)).taken == 1  # type: ignore[arg-type]
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    box.uidvalidity = 2
    box.messages = {"7": box.messages["1"],
                    "1": mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                              attachment=(name, fill_form(data)))}
    report = poll(settings, engine, box, now=at(13, 13))  # type: ignore[arg-type]
    assert (report.taken, report.duplicates) == (1, 1)
    assert list(box.messages) == ["7"]  # the reply acknowledged, the newsletter left alone
    assert poll(settings, engine, box, now=at(13, 14)).skipped == 1  # type: ignore[arg-type]
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().office.name == "基财股"


def test_a_message_that_breaks_is_kept_reported_and_retried_after_the_fix(sent, monkeypatch):
    """
    GIVEN a bug that makes handling a valid reply raise
    WHEN  intake meets it, next to another good message
    THEN  the broken one is archived, recorded as failed, acknowledged (it cannot block the mailbox) and
          `duban check` names it; the other message is taken in; after the fix, retry makes it a submission
    """
    from mailer.service import submissions
    from mailer.service.checks import check_inbox
    from mailer.service.intake import retry

    settings, engine = sent
    d, d2 = form_dispatch(engine, "基财股"), form_dispatch(engine, "人事股")
    name, data = the_form(settings, d)
    drop(settings, "1.eml", mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data))))
    drop(settings, "2.eml", mail("rsg@jyj.example.gov.cn", "回复：" + d2.subject, "收到", in_reply_to=d2.message_id))
    real = submissions.take_form

    def broken(*args, **kwargs):
        if args[5].name == "基财股":  # (settings, session, inbound, form, period, office)
            raise RuntimeError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(submissions, "take_form", broken)
    report = take(settings, engine)
    assert (report.taken, report.failed) == (1, 1)
    assert list((settings.inbox / "drop").glob("*.eml")) == []
    with atomic(engine) as s:
        failed = s.scalars(select(InboundMessage).where(InboundMessage.kind == "failed")).one()
        assert "RuntimeError: a bug" in failed.error
        assert s.scalar(select(func.count(Submission.id))) == 0
    assert any(f"#{failed.id}" in p.message and p.level == "error" for p in check_inbox(engine))
    monkeypatch.setattr(submissions, "take_form", real)
    row = retry(settings, engine, failed.id, now=at(13, 15))
    assert row.kind == "form"
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().office.name == "基财股"
    assert check_inbox(engine) == []


def test_a_quarantined_sender_is_released_by_retry_once_the_directory_knows_them(sent):
    from mailer.registry.model import OfficeAddress

    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "q.eml", mail("zhou.personal@example.org", "回复：" + d.subject, "见附件",
                                 in_reply_to=d.message_id, attachment=(name, fill_form(data))))
    take(settings, engine)
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.kind == "quarantined"
        office = s.scalars(select(Office).where(Office.name == "基财股")).one()
        s.add(OfficeAddress(office_id=office.id, email="zhou.personal@example.org", position=5))
    from click.testing import CliRunner

    from mailer.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(settings.home), "inbox", "retry", str(row.id)])
    assert result.exit_code == 0, result.output
    assert "报表" in result.output
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "pending_approval"
    listing = CliRunner().invoke(cli, ["--home", str(settings.home), "inbox", "list", "--json"])
    assert '"kind": "form"' in listing.output


def test_a_leader_who_sends_the_form_back_with_their_approval_approves(sent):
    """Leaders often reply "同意" with the form attached: that is a decision, not a report from a stranger."""
    settings, engine = sent
    req = _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    name, data = the_form(settings, form_dispatch(engine, "基财股"))
    drop(settings, "l.eml", mail(req.to_addrs[0], "回复：" + req.subject, "同意。", in_reply_to=req.message_id,
                                 attachment=(name, fill_form(data)), day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "approved"
        row = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row.kind == "decision" and "未作为报送处理" in row.outcome
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.kind == "quarantine_notice")) == 0


def test_a_new_mail_saying_agreed_while_several_reports_wait_asks_which(sent):
    """陈志明 leads 基财股 and 基安股; both reported. A fresh mail "同意" (no reply headers, no token) must
    not approve either by guess: he is asked to answer the review mail of the one he means."""
    settings, engine = sent
    _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    d = form_dispatch(engine, "基安股")
    name, data = the_form(settings, d)
    drop(settings, "m.eml", mail("jag@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data))))
    take(settings, engine)
    drop(settings, "n.eml", mail("chenzm@jyj.example.gov.cn", "报告", "同意", day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        assert {sub.state for sub in s.scalars(select(Submission))} == {"pending_approval"}
        q = s.scalars(select(Dispatch).where(Dispatch.kind == "not_understood")).one()
        assert q.to_addrs == ["chenzm@jyj.example.gov.cn"]
    body = read_message(settings.path(q.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "基财股" in body and "基安股" in body and "2份报告待您审定" in body


def test_answering_the_which_one_mail_asks_again_rather_than_quarantining(sent):
    settings, engine = sent
    _submit_and_request(settings, engine, "基财股", "jcg@jyj.example.gov.cn")
    d = form_dispatch(engine, "基安股")
    name, data = the_form(settings, d)
    drop(settings, "m.eml", mail("jag@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data))))
    take(settings, engine)
    drop(settings, "n.eml", mail("chenzm@jyj.example.gov.cn", "报告", "同意", day=14))
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(14, 12))
    with atomic(engine) as s:
        which = s.scalars(select(Dispatch).where(Dispatch.kind == "not_understood")).one()
    drop(settings, "o.eml", mail("chenzm@jyj.example.gov.cn", "回复：" + which.subject, "都同意",
                                 in_reply_to=which.message_id, day=14))
    take(settings, engine, day=14)
    with atomic(engine) as s:
        kinds = [m.kind for m in s.scalars(select(InboundMessage).order_by(InboundMessage.id))]
        assert kinds[-1] == "decision" and "quarantined" not in kinds
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.kind == "not_understood")) == 2
