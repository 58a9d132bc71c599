"""A returned form, taken into the registry: a new revision for (period, office), its entries, and the
answers it calls for — a receipt and an approval request to the office's leader, or an error reply listing
every finding with the form attached back. Runs inside intake's transaction; sends nothing itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from mailer.common.config import Settings
from mailer.common.files import store_by_hash
from mailer.read.formcheck import check_form
from mailer.read.formparse import ParsedForm
from mailer.registry.deadlines import office_due_on
from mailer.registry.model import Entry, InboundMessage, Office, Period, Submission, SubmissionState
from mailer.registry.offices import bureau_office, office_address
from mailer.registry.periodfacts import form_token, local_date
from mailer.render.mailcontext import finding_dict, findings_context, mail_context
from mailer.service.outgoing import Mail, queue_mail

log = logging.getLogger(__name__)


@dataclass
class FormFile:
    """A form attachment that passed the safety checks and was parsed (outside the transaction)."""

    filename: str
    data: bytes  # plain .docx bytes (legacy formats converted)
    parsed: ParsedForm


def _save_attachment(settings: Settings, data: bytes) -> tuple[str, str]:
    sha, path = store_by_hash(settings.inbox / "attachments", data, ".docx")
    return str(path.relative_to(settings.home)), sha


def take_form(
    settings: Settings,
    session: Session,
    inbound: InboundMessage | None,
    form: FormFile,
    period: Period,
    office: Office,
    *,
    submitted_at: dt.datetime,
    notify_office: bool = True,
) -> Submission:
    """Record ``form`` as the next revision for (period, office) and queue the answers it calls for.

    :param inbound: the mail that brought it; None for a form the clerk took in by another way
        (`duban forms accept`): then the receipt or error reply goes to the office's address, and only
        when ``notify_office``
    """
    check = check_form(
        session, form.parsed, plan=period.plan, year=period.year, month=period.month, office=office
    )
    revision = (
        session.scalar(
            select(func.max(Submission.revision)).where(
                Submission.period_id == period.id, Submission.office_id == office.id
            )
        )
        or 0
    ) + 1
    if check.ok:
        # Only a valid revision replaces the one awaiting review: a form with errors goes back to the
        # office and the leader can still decide the one they were sent.
        for older in session.scalars(
            select(Submission).where(
                Submission.period_id == period.id,
                Submission.office_id == office.id,
                Submission.state == SubmissionState.PENDING_APPROVAL,
            )
        ):
            older.state = SubmissionState.SUPERSEDED
    path, sha = _save_attachment(settings, form.data)
    late = local_date(settings, submitted_at) > office_due_on(session, period, office.id)
    findings = [f.to_dict() for f in check.findings]
    sub = Submission(
        period_id=period.id,
        office_id=office.id,
        revision=revision,
        inbound_message_id=inbound.id if inbound is not None else None,
        state=SubmissionState.PENDING_APPROVAL if check.ok else SubmissionState.INVALID,
        form_path=path,
        form_sha256=sha,
        token=check.token or "",
        filled_by=check.filled_by or "",
        filled_on=check.filled_on or "",
        findings=findings,
        received_at=submitted_at,
        late=late,
    )
    session.add(sub)
    session.flush()
    token = form_token(settings, period, office)
    ctx = mail_context(
        settings, period, office, revision=revision, late=late, filled_by=sub.filled_by, **findings_context(findings)
    )
    sender = inbound.from_addr if inbound is not None else office_address(office)
    if not notify_office:
        sender = None
    if not check.ok:
        outcome = f"{office.name} 第{revision}版表格有 {len(ctx['errors'])} 处错误，已退回发件人修改"
        if inbound is not None:
            inbound.outcome = outcome
        if sender is None:
            return sub
        queue_mail(
            session,
            settings,
            f"error_reply:{sub.id}",
            "error_reply",
            Mail("error_reply", ctx, [sender], attachments=[(form.filename, form.data)]),
            token=token,
            reply_to=inbound,
            period_id=period.id,
            office_id=office.id,
            submission_id=sub.id,
        )
        return sub
    for e in check.entries:
        session.add(
            Entry(
                submission_id=sub.id,
                task_id=e.task_id,
                progress=e.progress,
                problems=e.problems,
                remark=e.remark,
            )
        )
    session.flush()
    if sender is not None:
        queue_mail(
            session,
            settings,
            f"receipt:{sub.id}",
            "receipt",
            Mail("receipt", ctx, [sender]),
            token=token,
            reply_to=inbound,
            period_id=period.id,
            office_id=office.id,
            submission_id=sub.id,
        )
    _request_approval(settings, session, sub, form, ctx, token)
    if inbound is not None:
        inbound.outcome = f"{office.name} 第{revision}版表格有效，已送分管负责同志审定"
    return sub


def entry_rows(sub: Submission) -> list[dict[str, Any]]:
    """The submission's entries as rows for the approval summary table."""
    return [
        {
            "seq": e.task.seq,
            "name": e.task.name,
            "progress": e.progress,
            "problems": e.problems,
            "remark": e.remark,
        }
        for e in sorted(sub.entries, key=lambda e: e.task.seq)
    ]


def _request_approval(
    settings: Settings, session: Session, sub: Submission, form: FormFile, ctx: dict[str, Any], token: str
) -> None:
    office = sub.office
    leader = office.leader
    to = [leader.email] if leader is not None else []
    if not to:
        # No supervising leader in the directory: the bureau office reviews instead, and knows why.
        bureau = bureau_office(session)
        to = [a for a in [office_address(bureau) if bureau else None, settings.mail.from_address] if a][:1]
    # The entries just written, with their tasks, in one query (refreshing sub.entries loaded each entry's
    # task on its own: a query per task the office leads).
    entries = session.scalars(
        select(Entry).options(joinedload(Entry.task)).where(Entry.submission_id == sub.id).order_by(Entry.id)
    ).all()
    set_committed_value(sub, "entries", list(entries))
    queue_mail(
        session,
        settings,
        f"approval_request:{sub.id}",
        "approval_request",
        Mail(
            "approval_request",
            {
                **ctx,
                "leader": leader.name if leader else "",
                "leader_title": leader.title if leader else "",
                "no_leader": leader is None,
                "rows": entry_rows(sub),
            },
            to,
            attachments=[(form.filename, form.data)],
        ),
        token=token,
        period_id=sub.period_id,
        office_id=office.id,
        person_id=leader.id if leader else None,
        submission_id=sub.id,
    )


def no_attachment(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    period: Period,
    office: Office,
    *,
    linked: bool = False,
) -> None:
    """An office answered a form mail without a form: tell it what is missing.

    :param linked: the mail offers the file as a download link (超大附件/云附件), which duban cannot fetch
    """
    message = "邮件中没有找到进展情况表附件（.docx）。请将填好的表格作为附件回复本邮件。"
    if linked:
        message = (
            "邮件中的表格是以“超大附件”（云附件、下载链接）方式发送的，系统无法下载。"
            "请将填好的表格作为普通附件（.docx）直接添加后回复本邮件；表格过大的，请先删除或压缩其中的图片。"
        )
    ctx = mail_context(
        settings, period, office, revision=0, late=False, filled_by="", **findings_context([finding_dict(message)])
    )
    queue_mail(
        session,
        settings,
        f"error_reply:msg{inbound.id}",
        "error_reply",
        Mail("error_reply", ctx, [inbound.from_addr]),
        token=form_token(settings, period, office),
        reply_to=inbound,
        period_id=period.id,
        office_id=office.id,
    )
    inbound.outcome = (
        f"{office.name} 来信中的表格是超大附件（下载链接），已回复请其直接附上"
        if linked
        else f"{office.name} 来信未附表格，已回复提醒"
    )
