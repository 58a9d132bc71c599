"""The clerk's own actions, each driven through the CLI on a real home (the 2022 notice and directory, June's
forms sent through the folder mailbox): what the registry holds after, the mail that went out
(outbox/mail/*.eml), and the audit row (who, why)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from mailer.cli import cli
from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import (
    Approval,
    Dispatch,
    Document,
    Event,
    Office,
    OfficeDeadline,
    Period,
    Submission,
)
from mailer.registry.store import atomic, open_registry
from mailer.service.cycle import run_once
from mailer.service.demo import EXAMPLES, at, fill_form
from mailer.transport.base import open_transport

OFFICE = "基财股"


@pytest.fixture
def june(home):
    """Notice and directory imported, June's forms sent on the 10th."""
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    with open_transport(home) as t:
        run_once(home, engine, t, at(10, 9))
    return home, engine


def duban(settings, *args: str, by: str = "王文员") -> Result:
    return CliRunner(env={"DUBAN_USER": by}).invoke(cli, ["--home", str(settings.home), *args])


def _office(engine, name: str = OFFICE) -> tuple[int, str, str]:
    """(office id, its address, its leader's name)."""
    with atomic(engine) as s:
        o = s.scalars(select(Office).where(Office.name == name)).one()
        assert o.leader is not None
        return o.id, o.addresses[0].email, o.leader.name


def _blank_form(settings, engine, office_id: int) -> bytes:
    with atomic(engine) as s:
        doc = s.scalars(
            select(Document).where(Document.kind == "form", Document.office_id == office_id)
        ).one()
    return settings.path(doc.path).read_bytes()


def _filled(settings, engine, tmp_path: Path, office_id: int, *, mistake: bool = False) -> Path:
    path = tmp_path / ("纸质表格-有错.docx" if mistake else "纸质表格扫描录入.docx")
    path.write_bytes(fill_form(_blank_form(settings, engine, office_id), mistake=mistake))
    return path


def _events(engine, kind: str) -> list[Event]:
    with atomic(engine) as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _dispatches(engine, kind: str, office_id: int | None = None) -> list[Dispatch]:
    with atomic(engine) as s:
        q = select(Dispatch).where(Dispatch.kind == kind)
        if office_id is not None:
            q = q.where(Dispatch.office_id == office_id)
        return list(s.scalars(q.order_by(Dispatch.id)))


def _eml(settings, d: Dispatch):
    """The message as it went out (the folder transport's outbox/mail copy)."""
    assert d.state == "sent"
    sent = [p for p in (settings.outbox / "mail").glob("*.eml") if d.message_id.encode() in p.read_bytes()]
    assert len(sent) == 1
    return read_message(sent[0].read_bytes(), max_attachment_bytes=10**8)


# --- forms accept -------------------------------------------------------------------------------------


def test_a_form_handed_in_by_usb_becomes_the_next_revision_and_goes_to_the_leader(june, tmp_path):
    """
    GIVEN June's forms went out
    WHEN  the clerk enters 基财股's filled form from a USB stick, handed in on the 15th
    THEN  it is revision 1 awaiting review, on time, with no inbound mail; the leader gets the approval
          request with the form; the office gets nothing; the audit names the clerk and how it came
    """
    settings, engine = june
    office_id, _, _ = _office(engine)
    file = _filled(settings, engine, tmp_path, office_id)
    r = duban(settings, "forms", "accept", str(file), "--office", OFFICE, "--period", "2022-06",
              "--received", "2022-06-15T10:00", "--reason", "U盘报送")
    assert r.exit_code == 0, r.output
    assert "已录入 基财股 2022年1—6月 第1版表格：有效，已送分管负责同志审定。" in r.output
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert (sub.revision, sub.state, sub.late, sub.inbound_message_id) == (1, "pending_approval", False, None)
        assert len(sub.entries) > 0
    [req] = _dispatches(engine, "approval_request")
    msg = _eml(settings, req)
    assert [a.filename for a in msg.attachments] == [file.name]
    assert _dispatches(engine, "receipt") == []
    [ev] = _events(engine, "form_accepted")
    assert (ev.actor, ev.reason, ev.office_id) == ("王文员", "U盘报送", office_id)
    assert "纸质表格扫描录入.docx" in ev.detail


def test_a_form_with_errors_is_reported_to_the_clerk_and_mailed_only_when_asked(june, tmp_path):
    settings, engine = june
    office_id, office_addr, _ = _office(engine)
    file = _filled(settings, engine, tmp_path, office_id, mistake=True)
    r = duban(settings, "forms", "accept", str(file), "--office", OFFICE, "--period", "2022-06")
    assert r.exit_code == 3, r.output
    assert "处错误，未送审" in r.output and "错误：" in r.output
    assert _dispatches(engine, "error_reply") == [] and _dispatches(engine, "approval_request") == []
    r = duban(settings, "forms", "accept", str(file), "--office", OFFICE, "--period", "2022-06", "--notify-office")
    assert r.exit_code == 3
    [reply] = _dispatches(engine, "error_reply")
    assert reply.to_addrs == [office_addr]
    with atomic(engine) as s:
        assert [x.state for x in s.scalars(select(Submission).order_by(Submission.revision))] == [
            "invalid",
            "invalid",
        ]


def test_a_file_that_is_not_a_form_is_refused_and_changes_nothing(june, tmp_path):
    settings, engine = june
    bad = tmp_path / "扫描件.docx"
    bad.write_bytes(b"%PDF-1.4 not a word file")
    r = duban(settings, "forms", "accept", str(bad), "--office", OFFICE, "--period", "2022-06")
    assert r.exit_code == 1
    assert "拒收“扫描件.docx”" in r.output and "未作任何记录" in r.output
    r = duban(settings, "forms", "accept", str(bad), "--office", "不存在股", "--period", "2022-06")
    assert r.exit_code == 1
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0
    assert _events(engine, "form_accepted") == []


# --- decide -------------------------------------------------------------------------------------------


def _accepted(settings, engine, tmp_path) -> int:
    office_id, _, _ = _office(engine)
    r = duban(settings, "forms", "accept", str(_filled(settings, engine, tmp_path, office_id)),
              "--office", OFFICE, "--period", "2022-06")
    assert r.exit_code == 0, r.output
    return office_id


def test_a_leaders_approval_in_person_binds_to_the_current_revision(june, tmp_path):
    settings, engine = june
    office_id = _accepted(settings, engine, tmp_path)
    _, office_addr, leader = _office(engine)
    r = duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--approve", "--by", leader,
              "--reason", "当面审阅同意")
    assert r.exit_code == 0, r.output
    assert f"已录入：{leader} 同意 基财股 第1版报告" in r.output
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert sub.state == "approved"
        appr = s.scalars(select(Approval)).one()
        assert (appr.decision, appr.inbound_message_id, appr.comment) == ("approved", None, "当面审阅同意")
    [notice] = _dispatches(engine, "approved_notice")
    assert notice.to_addrs == [office_addr] and notice.state == "sent"
    [ev] = _events(engine, "decision_in_person")
    assert (ev.actor, ev.reason, ev.office_id) == ("王文员", "当面审阅同意", office_id)
    assert f"{leader} 当面同意 基财股 第1版报告" in ev.detail


def test_a_return_in_person_sends_the_comments_and_the_form_back(june, tmp_path):
    settings, engine = june
    _accepted(settings, engine, tmp_path)
    _, _, leader = _office(engine)
    r = duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--return", "--by", leader,
              "--reason", "第3项进展写得太简略，请补充")
    assert r.exit_code == 0, r.output
    [ret] = _dispatches(engine, "returned")
    msg = _eml(settings, ret)
    assert "第3项进展写得太简略" in msg.text
    assert any(a.filename.endswith("（退回修改）.docx") for a in msg.attachments)


def test_a_decision_by_someone_else_or_without_a_report_changes_nothing(june, tmp_path):
    settings, engine = june
    _, _, leader = _office(engine)
    r = duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--approve", "--by", leader,
              "--reason", "当面同意")
    assert r.exit_code == 1 and "没有待审定的报告（尚未报送）" in r.output
    _accepted(settings, engine, tmp_path)
    r = duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--approve", "--by", "李四",
              "--reason", "当面同意")
    assert r.exit_code == 1
    assert f"基财股 的分管负责同志是 {leader}，不是“李四”。请用 --by {leader}。" in r.output
    r = duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--by", leader, "--reason", "x")
    assert r.exit_code == 2 and "--approve（同意）或 --return（退回）" in r.output
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Approval.id))) == 0
        assert s.scalars(select(Submission)).one().state == "pending_approval"
    assert _events(engine, "decision_in_person") == []


# --- extend -------------------------------------------------------------------------------------------


def test_an_extension_moves_the_offices_reminder_escalation_and_lateness(june, tmp_path):
    """
    GIVEN 基财股's deadline extended from 6-20 to 6-27
    WHEN  the service runs on the 21st, the 22nd and the 28th, and the office's form came in on the 24th
    THEN  no escalation for it on the 21st (the others are escalated), a reminder with the new date and
          the form attached on the 22nd, its report on the 24th is on time, and the notice says 按时报送
    """
    settings, engine = june
    office_id, _, _ = _office(engine)
    r = duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "2022-06-27",
              "--reason", "股室负责人出差")
    assert r.exit_code == 0, r.output
    assert "已将 基财股 2022年1—6月 的截止日延至 2022年6月27日" in r.output
    with atomic(engine) as s:
        ext = s.scalars(select(OfficeDeadline)).one()
        assert (ext.due_on, ext.set_by, ext.reason) == (dt.date(2022, 6, 27), "王文员", "股室负责人出差")
    [ev] = _events(engine, "deadline_extended")
    assert "截止日由 2022年6月20日 延至 2022年6月27日" in ev.detail and ev.actor == "王文员"

    with open_transport(settings) as t:
        run_once(settings, engine, t, at(21, 9))
    escalated = {d.office_id for d in _dispatches(engine, "escalation")}
    assert office_id not in escalated and len(escalated) == 9
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(22, 9))
    reminder = _dispatches(engine, "reminder", office_id)[-1]
    assert reminder.key.endswith(":20220627")
    msg = _eml(settings, reminder)
    assert "2022年6月27日" in msg.text and "本邮件再次附上了贵股室的进展情况表" in msg.text
    assert [a.filename for a in msg.attachments if a.filename.endswith(".docx")]

    r = duban(settings, "forms", "accept", str(_filled(settings, engine, tmp_path, office_id)),
              "--office", OFFICE, "--period", "2022-06", "--received", "2022-06-24T16:00")
    assert r.exit_code == 0, r.output
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert sub.late is False
        from mailer.registry.status import office_states
        from mailer.render.notice_data import notice_data

        period = s.scalars(select(Period)).one()
        report = next(o for o in notice_data(s, period).offices if o.office == OFFICE)
        st = next(x for x in office_states(s, period, now=at(28)) if x.office == OFFICE)
        assert st.late is False and st.days_late == 0
    _, _, leader = _office(engine)
    duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--approve", "--by", leader,
          "--reason", "电话同意")
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        report = next(o for o in notice_data(s, period).offices if o.office == OFFICE)
        assert report.status == "按时报送"


def test_an_extension_after_a_late_report_makes_it_on_time(june, tmp_path):
    settings, engine = june
    office_id, _, _ = _office(engine)
    r = duban(settings, "forms", "accept", str(_filled(settings, engine, tmp_path, office_id)),
              "--office", OFFICE, "--period", "2022-06", "--received", "2022-06-22T10:00")
    assert r.exit_code == 0
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().late is True
    r = duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "2022-06-23",
              "--reason", "事先已请假")
    assert r.exit_code == 0, r.output
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().late is False


def test_an_extension_to_an_earlier_date_or_without_a_reason_is_refused(june):
    settings, engine = june
    r = duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "2022-06-18",
              "--reason", "x")
    assert r.exit_code == 1
    assert "延期后的截止日 2022-06-18 须晚于 2022-06 的截止日 2022-06-20" in r.output
    r = duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "2022-06-25",
              "--reason", " ")
    assert r.exit_code == 1 and "须说明理由" in r.output
    r = duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "6月25日", "--reason", "x")
    assert r.exit_code == 2 and "不是日期" in r.output
    with atomic(engine) as s:
        assert s.scalar(select(func.count(OfficeDeadline.id))) == 0
    assert _events(engine, "deadline_extended") == []


# --- resend, set-address ------------------------------------------------------------------------------


def test_resend_mails_the_current_form_again_marked_resent(june):
    settings, engine = june
    office_id, office_addr, _ = _office(engine)
    r = duban(settings, "forms", "resend", "--office", OFFICE, "--period", "2022-06", "--reason", "股室称未收到")
    assert r.exit_code == 0, r.output
    assert f"已重发 基财股 2022年1—6月 的表格至 {office_addr}" in r.output
    resent = [d for d in _dispatches(engine, "form", office_id) if d.key.startswith("form_resend:")]
    assert len(resent) == 1
    msg = _eml(settings, resent[0])
    assert "（重发）" in msg.subject and resent[0].to_addrs == [office_addr]
    assert msg.attachments[0].data == _blank_form(settings, engine, office_id)
    [ev] = _events(engine, "form_resent")
    assert (ev.actor, ev.reason) == ("王文员", "股室称未收到")
    r = duban(settings, "forms", "resend", "--office", OFFICE, "--period", "2022-06")
    assert r.exit_code == 0
    assert len([d for d in _dispatches(engine, "form", office_id) if d.key.startswith("form_resend:")]) == 2


def test_a_changed_address_is_where_the_resent_form_goes(june):
    settings, engine = june
    office_id, old, _ = _office(engine)
    r = duban(settings, "offices", "set-address", OFFICE, "JiCai.New@Example.gov.cn", "--reason", "更换邮箱")
    assert r.exit_code == 0, r.output
    assert "基财股 的邮箱已改为 jicai.new@example.gov.cn" in r.output
    r = duban(settings, "offices", "set-address", OFFICE, "jicai.backup@example.gov.cn", "--add")
    assert r.exit_code == 0, r.output
    r = duban(settings, "offices", "--json")
    item = next(o for o in json.loads(r.output) if o["name"] == OFFICE)
    assert item["addresses"] == ["jicai.new@example.gov.cn", "jicai.backup@example.gov.cn"]
    [first, second] = _events(engine, "address_changed")
    assert first.detail.startswith(f"基财股 邮箱：{old}") and first.detail.endswith(" → jicai.new@example.gov.cn")
    assert first.reason == "更换邮箱"
    assert second.actor == "王文员"
    duban(settings, "forms", "resend", "--office", OFFICE, "--period", "2022-06")
    assert _dispatches(engine, "form", office_id)[-1].to_addrs == ["jicai.new@example.gov.cn"]
    for bad in ("not-an-address", "jicai.new@example.gov.cn"):
        r = duban(settings, "offices", "set-address", OFFICE, bad, "--add")
        assert r.exit_code == 1
    assert len(_events(engine, "address_changed")) == 2


# --- period skip / close ------------------------------------------------------------------------------


def test_a_skipped_month_sends_no_forms(june):
    settings, engine = june
    r = duban(settings, "period", "skip", "2022-07", "--reason", "暑假本月不报")
    assert r.exit_code == 0, r.output
    before = len(_dispatches(engine, "form"))
    with open_transport(settings) as t:
        run_once(settings, engine, t, dt.datetime(2022, 7, 11, 9, tzinfo=at(1).tzinfo))
    assert len(_dispatches(engine, "form")) == before
    with atomic(engine) as s:
        july = s.scalars(select(Period).where(Period.month == 7)).one()
        assert july.state == "skipped"
    [ev] = _events(engine, "period_skipped")
    assert (ev.actor, ev.reason, ev.period_id) == ("王文员", "暑假本月不报", july.id)
    r = duban(settings, "period", "skip", "2022-08")
    assert r.exit_code == 2  # --reason is required
    r = duban(settings, "period", "skip", "2022-03", "--reason", "x")
    assert r.exit_code == 1 and "2022-03 不是当前任务计划的报送月份（2022年6—12月）" in r.output
    r = duban(settings, "period", "skip", "2022-09", "--reason", "国庆前后合并报送", "--by", "")
    assert r.exit_code == 0, r.output
    assert [e.actor for e in _events(engine, "period_skipped")] == ["王文员", "王文员"]  # $DUBAN_USER
    r = duban(settings, "period", "skip", "2022-06", "--reason", "x")
    assert r.exit_code == 1 and "不能再设为本月不报" in r.output


def test_closing_a_period_assembles_with_what_there_is(june, tmp_path):
    settings, engine = june
    _accepted(settings, engine, tmp_path)
    _, _, leader = _office(engine)
    duban(settings, "decide", "--office", OFFICE, "--period", "2022-06", "--approve", "--by", leader,
          "--reason", "当面同意")
    r = duban(settings, "period", "close", "2022-06", "--reason", "领导要求按时汇总")
    assert r.exit_code == 0, r.output
    assert "2022-06 已截止收集：第1稿已按现有报告汇总并送签发" in r.output
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "awaiting_signoff"
    [req] = _dispatches(engine, "signoff_request")
    assert req.state == "sent"
    [ev] = _events(engine, "period_closed")
    assert (ev.actor, ev.reason) == ("王文员", "领导要求按时汇总")
    r = duban(settings, "period", "close", "2022-06")
    assert r.exit_code == 1 and "只有正在收集报告的期次才能截止收集" in r.output


# --- audit --------------------------------------------------------------------------------------------


def test_the_audit_lists_who_did_what_and_why(june):
    settings, _engine = june
    duban(settings, "extend", "--office", OFFICE, "--period", "2022-06", "--to", "2022-06-25",
          "--reason", "出差", by="李文员")
    duban(settings, "forms", "resend", "--office", OFFICE, "--period", "2022-06", "--by", "赵文员")
    r = duban(settings, "audit", "--period", "2022-06", "--actions", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(x["action"], x["actor"], x["office"], x["reason"]) for x in rows] == [
        ("延长截止日", "李文员", OFFICE, "出差"),
        ("重发表格", "赵文员", OFFICE, ""),
    ]
    r = duban(settings, "audit", "--period", "2022-06")
    assert r.exit_code == 0
    assert "操作人" in r.output and "李文员" in r.output and "系统" in r.output  # the service's own events


def test_correcting_a_lead_and_reassembling_are_audited_too(june, tmp_path):
    settings, engine = june
    office_id, _, _ = _office(engine)
    from mailer.registry.queries import active_plan, lead_tasks

    with atomic(engine) as s:
        seq = lead_tasks(active_plan(s), s.get(Office, office_id))[0].seq
    r = duban(settings, "tasks", "set-lead", str(seq), OFFICE, by="钱文员")
    assert r.exit_code == 0, r.output
    [ev] = _events(engine, "lead_changed")
    assert ev.actor == "钱文员" and f"任务 {seq}" in ev.detail
    _accepted(settings, engine, tmp_path)
    duban(settings, "period", "close", "2022-06")
    r = duban(settings, "assemble", "--period", "2022-06", "--force", "--reason", "按签发人意见修改", by="钱文员")
    assert r.exit_code == 0, r.output
    [ev] = _events(engine, "reassembled")
    assert (ev.actor, ev.reason) == ("钱文员", "按签发人意见修改")


# --- reminders carry the form -------------------------------------------------------------------------


def test_a_reminder_carries_the_offices_form_again(june):
    settings, engine = june
    office_id, _, _ = _office(engine)
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(15, 9))
    [reminder] = _dispatches(engine, "reminder", office_id)
    msg = _eml(settings, reminder)
    forms = [a for a in msg.attachments if a.filename.endswith(".docx")]
    assert len(forms) == 1 and forms[0].data == _blank_form(settings, engine, office_id)
    assert "本邮件再次附上了贵股室的进展情况表" in msg.text


# --- tasks done (办结) --------------------------------------------------------------------------------


def test_a_task_done_leaves_the_next_forms_and_shows_as_done_in_the_notice(june):
    """
    GIVEN June's forms went out carrying 基财股's tasks
    WHEN  the clerk marks one of them 办结 in June
    THEN  July's form of 基财股 no longer lists it, June's notice still treats it as a task to report, and
          July's notice shows it as 已办结 (not 未报送)
    """
    settings, engine = june
    office_id, _, _ = _office(engine)
    from mailer.read.safety import parse_form_bounded
    from mailer.registry.queries import active_plan, lead_tasks
    from mailer.render.notice_data import DONE, MISSING, notice_data

    with atomic(engine) as s:
        plan = active_plan(s)
        office = s.get(Office, office_id)
        seqs = [t.seq for t in lead_tasks(plan, office)]
    assert len(seqs) >= 2
    done = seqs[0]
    r = duban(settings, "tasks", "done", str(done), "--reason", "项目已竣工验收")
    assert r.exit_code == 0, r.output
    assert f"任务 {done}「" in r.output and "已办结：从下一期起不再出现在表格中" in r.output
    [ev] = _events(engine, "task_done")
    assert (ev.actor, ev.reason) == ("王文员", "项目已竣工验收")
    r = duban(settings, "tasks", "done", str(done), "--reason", "again")
    assert r.exit_code == 1 and "已于 2022-06 期后办结" in r.output

    with open_transport(settings) as t:
        run_once(settings, engine, t, dt.datetime(2022, 7, 11, 9, tzinfo=at(1).tzinfo))
    with atomic(engine) as s:
        july = s.scalars(select(Period).where(Period.month == 7)).one()
        june_p = s.scalars(select(Period).where(Period.month == 6)).one()
        doc = s.scalars(
            select(Document).where(
                Document.kind == "form", Document.period_id == july.id, Document.office_id == office_id
            )
        ).one()
        july_rows = {row.seq: row for row in notice_data(s, july).rows}
        june_rows = {row.seq: row for row in notice_data(s, june_p).rows}
    numbers = [row.number for row in parse_form_bounded(settings.path(doc.path).read_bytes()).rows]
    assert done not in numbers and seqs[1] in numbers
    assert july_rows[done].status == DONE and july_rows[seqs[1]].status == MISSING
    assert june_rows[done].status == MISSING


def test_marking_an_unknown_task_done_or_without_a_reason_is_refused(june):
    settings, engine = june
    r = duban(settings, "tasks", "done", "999", "--reason", "x")
    assert r.exit_code == 1 and "没有编号为 999 的任务" in r.output
    r = duban(settings, "tasks", "done", "1", "--reason", "")
    assert r.exit_code == 1 and "须说明理由" in r.output
    assert _events(engine, "task_done") == []


def test_a_form_handed_in_without_a_period_goes_to_the_period_its_number_names(june, tmp_path):
    settings, engine = june
    office_id, _, _ = _office(engine)
    file = _filled(settings, engine, tmp_path, office_id)
    r = duban(settings, "forms", "accept", str(file), "--office", OFFICE, "--json", "--no-send")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["period"], out["revision"], out["state"]) == ("2022-06", 1, "pending_approval")
    assert "邮件已排入发送队列" in out["mail"]
    [req] = _dispatches(engine, "approval_request")
    assert req.state == "pending"  # --no-send: left to the service
