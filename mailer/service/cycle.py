"""The monthly cycle as a reconciler (design principle 1).

``tick(now)`` reads the registry and the calendar and does whatever is due and not yet done: open the
period on the send day, send every lead office its form, remind before the due date, escalate after it,
assemble the consolidated notice when every report is approved (or the grace days are over), send it for
sign-off, publish it once signed. Every step is keyed (Dispatch.key) and recorded, so a tick can run any
number of times and a missed day or week is caught up, never doubled. ``run_once`` = poll + tick + send.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.common.periods import month_end
from mailer.common.transient import is_transient
from mailer.registry.deadlines import OfficeDates, office_dates
from mailer.registry.latestart import dates_after, due_note, late_dates
from mailer.registry.model import (
    Dispatch,
    Document,
    Event,
    Office,
    Period,
    PeriodState,
    Plan,
    Recipient,
    Submission,
    SubmissionState,
    utcnow,
)
from mailer.registry.offices import office_address, signer
from mailer.registry.periodfacts import (
    date_cn,
    form_token,
    latest_submission,
    local_date,
    period_label,
    period_token,
    settled_submission,
)
from mailer.registry.queries import lead_offices
from mailer.registry.store import atomic
from mailer.registry.tickfailures import KIND as FAILED_KIND
from mailer.registry.tickfailures import note_run, record_failure
from mailer.render.forms import render_form
from mailer.render.mailcontext import mail_context
from mailer.render.notice import assemble_notice, publish_notice
from mailer.render.notice_date import redate_published
from mailer.service.decisions import _bureau_addrs, current_draft
from mailer.service.emptynotice import STATE as EMPTY
from mailer.service.emptynotice import hold_empty, nothing_reported
from mailer.service.outgoing import Mail, queue_mail, send_pending
from mailer.service.robots import last_dispatch_id, post_pending, tell_robots
from mailer.service.startgate import TICK_KINDS, before_tick
from mailer.transport.base import Transport

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class TickReport:
    opened: list[str] = field(default_factory=list)
    taken: int = 0  # messages taken in by the poll before the tick
    queued: int = 0
    sent: int = 0
    steps: list[str] = field(default_factory=list)
    held: str = ""  # why the confirmation gate held this tick's sending ("" when it did not)
    failures: list[str] = field(default_factory=list)  # steps a person must fix (tickfailures.py)

    def note(self, text: str) -> None:
        log.info("%s", text)
        self.steps.append(text)


def _workday(settings: Settings, d: dt.date) -> bool:
    return settings.calendar.is_workday(d) if settings.cycle.workdays_only else True


def period_dates(settings: Settings, year: int, month: int, due_day: int) -> dict[str, dt.date]:
    """The calendar of one period: send, due (last on-time day), remind, escalate, assemble-after."""
    c = settings.cycle
    # The notice's own due day wins; it may fall past a short month's end, or before the usual send day
    # ("每月5日前"), in which case the forms go out on the 1st.
    due_on = min(dt.date(year, month, 1) + dt.timedelta(days=due_day - 1), month_end(year, month))
    send_on = dt.date(year, month, c.send_day if c.send_day < due_on.day else 1)
    if c.workdays_only:
        send_on = settings.calendar.add_workdays(send_on, 0)
    return dates_after(settings, send_on, due_on)


def _open_period(
    settings: Settings, engine: Engine, plan_id: int, today: dt.date, report: TickReport
) -> None:
    """Open this month's period of the plan when its send day has come (and the month is not over)."""
    with atomic(engine) as s:
        plan = s.get(Plan, plan_id)
        assert plan is not None
        if today.year != plan.year:
            return
        month = today.month
        first = plan.first_month or settings.cycle.first_month
        if not first <= month <= settings.cycle.last_month:
            return
        if (
            s.scalar(
                select(Period.id).where(
                    Period.plan_id == plan.id, Period.year == plan.year, Period.month == month
                )
            )
            is not None
        ):
            return
        dates = period_dates(settings, plan.year, month, plan.due_day or settings.cycle.due_day)
        if today < dates["send_on"] or today > month_end(plan.year, month):
            return
        period = Period(
            plan_id=plan.id, year=plan.year, month=month, state=PeriodState.OPEN, **late_dates(settings, dates, today)
        )
        s.add(period)
        s.flush()
        s.add(
            Event(
                kind="period_opened",
                period_id=period.id,
                detail=f"{period_label(period)} 期次开启，截止 {date_cn(period.due_on)}{due_note(period)}",
            )
        )
        report.opened.append(period.key)
        report.note(f"{period.key}：报送期开启")


def _dispatch_forms(
    settings: Settings, engine: Engine, period_id: int, report: TickReport, only: set[int] | None = None
) -> None:
    """Render and queue each lead office's form; then the period is collecting. An office whose form
    fails is recorded (an event with its office) and tried again by the next ticks
    (:func:`_retry_failed_forms`), without holding back the others'."""
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        offices = [o.id for o in lead_offices(s, period.plan, period.key) if only is None or o.id in only]
    failed: list[tuple[int, Exception]] = []
    for office_id in offices:
        try:
            _dispatch_form(settings, engine, period_id, office_id, report)
        except Exception as e:  # one office's form never stops the others' (tickfailures)
            if is_transient(e):
                raise
            failed.append((office_id, e))
    if failed and len(failed) == len(offices) and only is None:
        # Every form failed: not one office's data but the template or the home (the period stays open,
        # the tick records the one reason for the period, and the next tick tries again).
        raise failed[0][1]
    for office_id, error in failed:
        report.failures.append(record_failure(engine, period_id, error, office_id=office_id, step=FORM_STEP))
    if only is not None:
        return
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        period.state = PeriodState.COLLECTING
        tell_robots(s, settings, period, 0, ("form",))
        report.note(f"{period.key}：已为 {len(offices)} 个股室生成进展情况表，待发送")


FORM_STEP = "进展情况表未能生成："


def _retry_failed_forms(settings: Settings, engine: Engine, period_id: int, report: TickReport) -> None:
    """The forms that failed when the period opened (an event of that office), not queued since."""
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        failed_ids = set(
            s.scalars(
                select(Event.office_id).where(
                    Event.kind == FAILED_KIND, Event.period_id == period_id, Event.office_id.is_not(None),
                    Event.detail.contains(FORM_STEP),
                )
            )
        )
        failed = {o for o in failed_ids if o is not None and not _queued(s, f"form:{period.key}:{o}")}
    if failed:
        _dispatch_forms(settings, engine, period_id, report, only=failed)


def _dispatch_form(settings: Settings, engine: Engine, period_id: int, office_id: int, report: TickReport) -> None:
    # One transaction per office: a crash half-way resumes with the offices not yet done.
    with atomic(engine) as s:
        period, office = s.get(Period, period_id), s.get(Office, office_id)
        assert period is not None and office is not None
        key = f"form:{period.key}:{office.id}"
        addr = office_address(office)
        if addr is None:
            if queue_mail(
                s,
                settings,
                f"no_address:{period.key}:{office.id}",
                "other",
                Mail(
                    "escalation", _ctx(settings, period, office, missing_address=True), _bureau_addrs(settings, s)
                ),
                period_id=period.id,
                office_id=office.id,
            ):
                report.note(f"{office.name} 没有登记邮箱，已告知局办公室")
            return
        if _queued(s, key):
            return
        rendered = render_form(settings, s, period.plan, period.year, period.month, office)
        s.add(
            Document(
                kind="form",
                period_id=period.id,
                office_id=office.id,
                path=str(rendered.path.relative_to(settings.home)),
                token=rendered.token,
            )
        )
        if queue_mail(
            s,
            settings,
            key,
            "form",
            Mail(
                "form",
                {
                    **_ctx(settings, period, office),
                    "tasks": rendered.task_seqs,
                    "remind_on": date_cn(period.remind_on or period.due_on),
                },
                [addr],
                attachments=[(rendered.path.name, rendered.path.read_bytes())],
            ),
            token=rendered.token,
            period_id=period.id,
            office_id=office.id,
        ):
            report.queued += 1


def _queued(s: Session, key: str) -> bool:
    return s.scalar(select(Dispatch.id).where(Dispatch.key == key)) is not None


def _ctx(settings: Settings, period: Period, office: Office | None = None, **extra: object) -> dict[str, object]:
    """The mail context (mailer.render.mailcontext, the one builder of it)."""
    return mail_context(settings, period, office, **extra)


def _open_offices(s: Session, period: Period) -> list[tuple[Office, Submission | None]]:
    """Lead offices without a settled (approved, nothing newer waiting) report, with their newest one."""
    out = []
    for office in lead_offices(s, period.plan, period.key):
        if settled_submission(s, period, office) is None:
            out.append((office, latest_submission(s, period, office)))
    return out


def _remind(settings: Settings, engine: Engine, period_id: int, today: dt.date, report: TickReport) -> None:
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        if period.state != PeriodState.COLLECTING or not _workday(settings, today):
            return
        since = last_dispatch_id(s)
        for office, sub in _open_offices(s, period):
            dates = office_dates(s, period, office.id)
            if not (dates.remind_on and dates.remind_on <= today <= dates.due_on):
                continue
            if sub is not None and sub.state == SubmissionState.PENDING_APPROVAL:
                continue  # the office has done its part; its leader is reminded separately
            if not _form_sent_before(s, settings, period, office, today):
                continue  # caught up after downtime: the form itself went out today
            addr = office_address(office)
            # The form again, so the office need not search last week's mail for it.
            form = current_form(settings, s, period, office)
            if addr and queue_mail(
                s,
                settings,
                f"reminder:{period.key}:{office.id}{_moved(dates)}",
                "reminder",
                Mail(
                    "reminder",
                    _ctx(
                        settings, period, office, state=sub.state if sub else "", today=date_cn(today), has_form=bool(form)
                    ),
                    [addr],
                    attachments=form,
                ),
                token=form_token(settings, period, office),
                period_id=period.id,
                office_id=office.id,
            ):
                report.queued += 1
                report.note(f"{period.key}：已催报 {office.name}")
        _remind_leaders(settings, s, period, today, report)
        for office, sub in _open_offices(s, period):
            dates = office_dates(s, period, office.id)
            if dates.escalate_on and today >= dates.escalate_on:
                to = [office.leader.email] if office.leader else []
                if queue_mail(
                    s,
                    settings,
                    f"escalation:{period.key}:{office.id}{_moved(dates)}",
                    "escalation",
                    Mail(
                        "escalation",
                        _ctx(
                            settings,
                            period,
                            office,
                            state=sub.state if sub else "",
                            missing_address=False,
                            today=date_cn(today),
                        ),
                        to or _bureau_addrs(settings, s),
                        cc=_bureau_addrs(settings, s) if to else (),
                    ),
                    token=form_token(settings, period, office),
                    period_id=period.id,
                    office_id=office.id,
                ):
                    report.queued += 1
                    report.note(f"{period.key}：{office.name} 逾期，已告知分管负责同志和局办公室")
        tell_robots(s, settings, period, since, ("reminder", "escalation"), today=today)


def _moved(dates: OfficeDates) -> str:
    """Key suffix of a reminder or escalation under an office's own deadline: after an extension the
    office is reminded (and escalated) once more, against the new date."""
    return f":{dates.due_on:%Y%m%d}" if dates.extended else ""


def current_form(settings: Settings, s: Session, period: Period, office: Office) -> list[tuple[str, bytes]]:
    """The office's pre-filled form of the period as an attachment (none when it was never rendered or
    its file is gone)."""
    doc = s.scalars(
        select(Document)
        .where(Document.kind == "form", Document.period_id == period.id, Document.office_id == office.id)
        .order_by(Document.id.desc())
    ).first()
    path = settings.path(doc.path) if doc is not None else None
    return [(path.name, path.read_bytes())] if path is not None and path.exists() else []


def _form_sent_before(s: Session, settings: Settings, period: Period, office: Office, today: dt.date) -> bool:
    sent_at = s.scalar(select(Dispatch.sent_at).where(Dispatch.key == f"form:{period.key}:{office.id}"))
    return sent_at is not None and local_date(settings, sent_at) < today


def _remind_leaders(
    settings: Settings, s: Session, period: Period, today: dt.date, report: TickReport
) -> None:
    """A report waiting for its leader longer than approval_remind_days working days gets a reminder."""
    waiting = s.scalars(
        select(Submission).where(Submission.period_id == period.id, Submission.state == SubmissionState.PENDING_APPROVAL)
    )
    for sub in waiting:
        leader = sub.office.leader
        received = local_date(settings, sub.received_at)
        if leader is None or settings.calendar.add_workdays(received, settings.cycle.approval_remind_days) > today:
            continue
        if queue_mail(
            s,
            settings,
            f"approval_reminder:{sub.id}",
            "approval_reminder",
            Mail(
                "approval_reminder",
                _ctx(settings, period, sub.office, revision=sub.revision, received=date_cn(received)),
                [leader.email],
            ),
            token=form_token(settings, period, sub.office),
            period_id=period.id,
            office_id=sub.office_id,
            person_id=leader.id,
            submission_id=sub.id,
        ):
            report.queued += 1
            report.note(f"{period.key}：已提醒 {leader.name} 审定 {sub.office.name} 第{sub.revision}版报告")


def assemble_period(
    settings: Settings,
    engine: Engine,
    period_id: int,
    report: TickReport | None = None,
    *,
    audit: Event | None = None,
    now: dt.datetime | None = None,
) -> Document:
    """Assemble a new draft of the period's consolidated notice and send it for sign-off.

    Used by tick (when every report is approved or the grace days are over), by `duban assemble`
    (after the signer returned a draft) and by `duban period close`, whose ``audit`` row is committed
    together with the draft. The draft is dated ``now`` (the service clock); publishing re-dates it on the
    sign-off day.

    :raises DubanError: when the directory names no signer
    """

    report = report or TickReport()
    # Render (and convert to PDF, which can take a while) in a read-only session, so the registry is not
    # write-locked meanwhile; then record the draft and queue its mail in one short transaction.
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        if signer(s) is None:
            raise DubanError("名录中没有签发人（人员表中角色为“签发人”），无法送签。请导入包含签发人的名录。")
        old = current_draft(s, period)
        version = (old.version + 1) if old else 1
        assembled = assemble_notice(
            settings, s, period, version=version, issued_on=local_date(settings, now or utcnow())
        )
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        the_signer = signer(s)
        assert period is not None and the_signer is not None
        old = current_draft(s, period)
        if old is not None and old.state == "current":
            old.state = "superseded"
        doc = Document(
            kind="draft",
            period_id=period.id,
            version=version,
            path=str(assembled.docx.relative_to(settings.home)),
            pdf_path=str(assembled.pdf.relative_to(settings.home)) if assembled.pdf else "",
            sha256=assembled.sha256,
            token=period_token(settings, period),
        )
        s.add(doc)
        s.flush()
        attachments = [(assembled.docx.name, assembled.docx.read_bytes())]
        if assembled.pdf is not None:
            attachments.append((assembled.pdf.name, assembled.pdf.read_bytes()))
        summary = assembled.data.summary_text
        queue_mail(
            s,
            settings,
            f"signoff_request:{doc.id}",
            "signoff_request",
            Mail(
                "signoff_request",
                {
                    **_ctx(settings, period),
                    "signer": the_signer.name,
                    "version": version,
                    "summary": summary,
                    "pdf_error": assembled.pdf_error or "",
                },
                [the_signer.email],
                cc=_bureau_addrs(settings, s),
                attachments=attachments,
            ),
            token=period_token(settings, period),
            period_id=period.id,
            person_id=the_signer.id,
            document_id=doc.id,
        )
        period.state = PeriodState.AWAITING_SIGNOFF
        s.add(
            Event(
                kind="assembled",
                period_id=period.id,
                detail=f"第{version}稿已生成并送 {the_signer.name} 签发",
            )
        )
        if audit is not None:
            s.add(audit)
        report.queued += 1
        report.note(f"{period.key}：通报第{version}稿已汇总并送签发")
        return doc


def _assemble_if_due(
    settings: Settings, engine: Engine, period_id: int, now: dt.datetime, report: TickReport
) -> None:
    today = local_date(settings, now)
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        if period.state not in (PeriodState.COLLECTING, EMPTY):
            return
        empty = nothing_reported(s, period)
        if period.state == EMPTY and empty:
            return  # told once; waits for a report or `duban assemble --force`
        still_open = _open_offices(s, period)
        # Wait for the latest deadline among the offices still open (an extension moves it).
        after = [office_dates(s, period, o.id).assemble_after for o, _ in still_open]
        if still_open and (None in after or today < max(a for a in after if a is not None)):
            return
        if empty:
            if hold_empty(settings, s, period, _ctx(settings, period)):
                report.queued += 1
                report.note(f"{period.key}：没有任何报告获审定，通报未送签，已告知局办公室")
            return
        if signer(s) is None:
            if queue_mail(
                s,
                settings,
                f"no_signer:{period.key}",
                "other",
                Mail("escalation", _ctx(settings, period, None, missing_signer=True), _bureau_addrs(settings, s)),
                period_id=period.id,
            ):
                report.note(f"{period.key}：名录中没有签发人，已告知局办公室")
            return
    assemble_period(settings, engine, period_id, report, now=now)


def _publish_if_signed(
    settings: Settings, engine: Engine, period_id: int, now: dt.datetime, report: TickReport
) -> None:
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        assert period is not None
        if period.state != PeriodState.SIGNED_OFF:
            return
        draft = current_draft(s, period)
        assert draft is not None
        dest = settings.outbox / "published" / period.key
        pdf = settings.path(draft.pdf_path) if draft.pdf_path else None
        files = publish_notice(settings.path(draft.path), pdf, dest)
        # 成文日期 = the day the signer approved, on the service's clock (not the assembly day).
        files = redate_published(settings, files, local_date(settings, period.signed_off_at or now))
        docx = next(f for f in files if f.suffix == ".docx")
        pdf_out = next((f for f in files if f.suffix == ".pdf"), None)
        s.add(
            Document(
                kind="published",
                period_id=period.id,
                version=draft.version,
                path=str(docx.relative_to(settings.home)),
                pdf_path=str(pdf_out.relative_to(settings.home)) if pdf_out else "",
                state="signed",
            )
        )
        to = _bureau_addrs(settings, s)
        cc = [r.email for r in s.scalars(select(Recipient).order_by(Recipient.id))]
        since = last_dispatch_id(s)
        queue_mail(
            s,
            settings,
            f"published:{period.key}",
            "published",
            Mail(
                "published",
                {**_ctx(settings, period), "version": draft.version, "has_pdf": pdf_out is not None},
                to,
                cc=cc,
                attachments=[(f.name, f.read_bytes()) for f in files],
            ),
            token=period_token(settings, period),
            period_id=period.id,
        )
        period.state, period.published_at = PeriodState.PUBLISHED, now
        s.add(Event(kind="published", period_id=period.id, detail=f"已发布：{docx.name}"))
        tell_robots(s, settings, period, since, ("published",))
        report.queued += 1
        report.note(f"{period.key}：通报已印发（{docx.name}）")


def tick(
    settings: Settings,
    engine: Engine,
    transport: Transport | None,
    now: dt.datetime | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    auto_confirm: str = "",
) -> TickReport:
    """Do whatever is due at ``now`` and not yet done, then send what was queued (if a transport is given).

    When the confirmation gate holds (mailer.service.startgate) the tick does nothing of its own and sends only
    replies to incoming mail; ``auto_confirm`` (e.g. "serve --yes") names who confirms instead.
    """
    now = now or utcnow()
    today = local_date(settings, now)
    report = TickReport()
    report.held = before_tick(settings, engine, now, auto_confirm=auto_confirm)
    if report.held:
        report.note(f"等待确认，本次不发送计划内邮件：{report.held}（duban plan 查看，duban confirm 确认）")
        if transport is not None:
            report.sent = send_pending(
                settings, engine, transport, progress=progress, now=now, skip_kinds=TICK_KINDS
            )
        return report
    with atomic(engine) as s:
        plan_ids = list(s.scalars(select(Plan.id).where(Plan.active.is_(True))))
    for plan_id in plan_ids:
        _contained(engine, report, None, _open_period, settings, engine, plan_id, today, report)
    with atomic(engine) as s:
        period_ids = list(s.scalars(select(Period.id).where(Period.state.not_in((PeriodState.PUBLISHED, PeriodState.SKIPPED))).order_by(Period.id)))
    for pid in period_ids:
        # Each step on its own: a broken template or a bug in one does not stop the others, the other
        # periods, nor the sending below (mailer.registry.tickfailures records it once and tells when it is stuck).
        with atomic(engine) as s:
            state = s.get(Period, pid).state  # type: ignore[union-attr]
        if state == PeriodState.OPEN:
            _contained(engine, report, pid, _dispatch_forms, settings, engine, pid, report)
        elif state == PeriodState.COLLECTING:
            _contained(engine, report, pid, _retry_failed_forms, settings, engine, pid, report)
        _contained(engine, report, pid, _remind, settings, engine, pid, today, report)
        _contained(engine, report, pid, _assemble_if_due, settings, engine, pid, now, report)
        _contained(engine, report, pid, _publish_if_signed, settings, engine, pid, now, report)
    if transport is not None:
        report.sent = send_pending(settings, engine, transport, progress=progress, now=now)
        # After the mail, never before: a robot that fails cannot hold back or repeat a mail.
        posted = _contained(engine, report, None, post_pending, settings, engine, now=now)
        for line in posted.lines if posted is not None else []:
            report.note(line)
    if report.steps:
        _refresh_ledger(settings, engine, now)
    _contained(engine, report, None, note_run, engine, report.failures, now)
    return report


def _contained(engine: Engine, report: TickReport, period_id: int | None, step: Callable[..., T], *args: Any,
               **kwargs: Any) -> T | None:
    """``step(*args)``; a failure is recorded and reported, and the tick goes on. A transient registry
    or disk failure is not the step's fault: it is raised, and the service retries the whole tick."""
    try:
        return step(*args, **kwargs)
    except Exception as e:
        if is_transient(e):
            raise
        report.failures.append(record_failure(engine, period_id, e))
        return None


def _refresh_ledger(settings: Settings, engine: Engine, now: dt.datetime | None = None) -> Path | None:
    from mailer.render.ledger import write_ledger

    try:
        return write_ledger(settings, engine, now=now)  # days late counted on the service clock
    except OSError as e:  # e.g. the ledger is open in Excel on Windows: try again next tick
        log.warning("Ledger not refreshed: %s", e)
        return None


def run_once(
    settings: Settings,
    engine: Engine,
    transport: Transport,
    now: dt.datetime | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    auto_confirm: str = "",
) -> TickReport:
    """One poll and one tick (`duban run --once`); ``auto_confirm`` as for :func:`tick`."""
    from mailer.service.intake import poll

    polled = poll(settings, engine, transport, now=now)
    report = tick(settings, engine, transport, now, progress=progress, auto_confirm=auto_confirm)
    report.steps[:0] = polled.outcomes
    report.taken = polled.taken
    if polled.outcomes and not report.steps[len(polled.outcomes) :]:
        _refresh_ledger(settings, engine, now)
    if polled.deferred:
        report.steps.append("来信暂未处理：登记簿被占用或磁盘已满（暂时性故障），邮件留在邮箱中，下次收信时再处理")
    return report
