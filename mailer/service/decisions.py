"""Decisions taken by reply: a supervising leader on an office's report, the signer on the assembled
notice. Only the newest, unquoted part of the reply counts; only that leader (or the signer) may decide.
Runs inside intake's transaction; queues the answers, sends nothing itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.filenames import fit_name
from mailer.read.replies import classify_decision, newest_part
from mailer.registry.model import (
    Approval,
    Dispatch,
    Document,
    Event,
    InboundMessage,
    Period,
    PeriodState,
    Person,
    Submission,
    SubmissionState,
)
from mailer.registry.offices import bureau_office, office_address
from mailer.registry.periodfacts import form_token, period_label, period_token
from mailer.render.mailcontext import mail_context
from mailer.service.matching import Match
from mailer.service.outgoing import Mail, queue_mail

log = logging.getLogger(__name__)


def _bureau_addrs(settings: Settings, session: Session) -> list[str]:
    bureau = bureau_office(session)
    addr = office_address(bureau) if bureau is not None else None
    return [addr or settings.mail.from_address]


def find_submission(session: Session, person: Person, match: Match) -> Submission | None:
    """The report this leader's reply decides on.

    A reply to one of our mails (In-Reply-To/References) decides exactly the revision that mail named,
    even when the office has sent a newer one since: the leader approved what they read (issue 8.2).
    Otherwise the newest report awaiting this leader's review for the matched office/period, else the
    only one waiting; a subject or form token names the office, never a revision.
    """
    d = match.dispatch
    named = session.get(Submission, d.submission_id) if d is not None and d.submission_id else None
    if named is not None and match.by == "in_reply_to":
        return named
    waiting = [
        sub
        for sub in reversed(waiting_for(session, person))  # newest first
        if (match.period is None or sub.period_id == match.period.id)
        and (match.office is None or sub.office_id == match.office.id)
    ]
    if waiting and (match.office is not None or len(waiting) == 1):
        return waiting[0]
    return named  # nothing waits: review() says the named report was decided already


def request_for(session: Session, sub: Submission, match: Match) -> Dispatch | None:
    """The request a decision on ``sub`` answers: the mail replied to, when it concerns ``sub``; else the
    newest review request (or reminder) for ``sub`` — what a fresh "同意" is taken to answer."""
    if match.by == "in_reply_to" and match.dispatch is not None and match.dispatch.submission_id == sub.id:
        return match.dispatch
    return session.scalars(
        select(Dispatch)
        .where(
            Dispatch.submission_id == sub.id,
            Dispatch.kind.in_(("approval_request", "approval_reminder", "not_understood")),
        )
        .order_by(Dispatch.id.desc())
    ).first()


def _newer_revisions(session: Session, sub: Submission) -> list[Submission]:
    """Valid revisions the office sent after ``sub`` (each gets its own review request), oldest first."""
    return list(
        session.scalars(
            select(Submission)
            .where(
                Submission.period_id == sub.period_id,
                Submission.office_id == sub.office_id,
                Submission.revision > sub.revision,
                Submission.state != "invalid",
            )
            .order_by(Submission.revision)
        )
    )


def waiting_for(session: Session, person: Person) -> list[Submission]:
    """Reports awaiting this leader's review, oldest first."""
    return [
        sub
        for sub in session.scalars(
            select(Submission).where(Submission.state == "pending_approval").order_by(Submission.id)
        )
        if sub.office.leader_id == person.id
    ]


def ask_which(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    waiting: list[Submission],
    text: str,
) -> None:
    """A decision that names no report while several wait for this leader: ask them to answer the
    review mail of the one they mean."""
    first = waiting[0].period
    ctx = mail_context(
        settings,
        first,
        office="、".join(dict.fromkeys(sub.office.name for sub in waiting)),
        leader=person.name,
        waiting=len(waiting),
    )
    _ask_again(
        settings, session, inbound, person, ctx, text, period_token(settings, first), period_id=first.id
    )
    inbound.outcome = (
        f"{person.name} 的来信未指明审定哪份报告（待审 {len(waiting)} 份），已请其直接回复对应的审核邮件"
    )


def _record(
    session: Session,
    inbound: InboundMessage,
    person: Person,
    kind: str,
    decision: str,
    comment: str,
    *,
    submission_id: int | None = None,
    document_id: int | None = None,
    request: Dispatch | None = None,
) -> None:
    """The decision as an Approval row, timed by the message (not by when we happened to read it), with
    the request it answers."""
    session.add(
        Approval(
            kind=kind,
            submission_id=submission_id,
            document_id=document_id,
            person_id=person.id,
            decision=decision,
            comment=comment[:2000],
            inbound_message_id=inbound.id,
            request_dispatch_id=request.id if request is not None else None,
            decided_at=inbound.received_at,
        )
    )


def _ask_again(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    ctx: Mapping[str, object],
    text: str,
    token: str,
    **links: int,
) -> None:
    """A reply that is neither 同意 nor 退回: ask its author, with the bureau office in copy."""
    _answer(
        settings, session, inbound, person, "not_understood", {**ctx, "reply_text": newest_part(text)[:500]},
        token, **links,
    )  # fmt: skip


def _answer(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    kind: str,
    ctx: Mapping[str, object],
    token: str,
    **links: int,
) -> None:
    """Answer ``inbound``'s author with mail ``kind``, the bureau office in copy (one per message)."""
    queue_mail(
        session,
        settings,
        f"{kind}:{inbound.id}",
        kind,
        Mail(kind, dict(ctx), [person.email], cc=_bureau_addrs(settings, session)),
        token=token,
        reply_to=inbound,
        person_id=person.id,
        **links,
    )  # type: ignore[arg-type]


def review(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    sub: Submission,
    text: str,
    *,
    request: Dispatch | None = None,
) -> None:
    """Apply a leader's 同意 / 退回 to ``sub``; anything else gets a polite 'not understood'.

    ``sub`` may be a revision the office has since replaced (the leader answered the request they read):
    it is decided all the same, unless a newer revision was approved already; the newer one keeps its own
    request and is decided by the answer to that.

    :param request: the request the decision answers (see request_for), recorded with it
    """
    office, period = sub.office, sub.period
    decision = classify_decision(newest_part(text))
    token = form_token(settings, period, office)
    newer = _newer_revisions(session, sub)
    waiting_newer = [n for n in newer if n.state == "pending_approval"]
    ctx = mail_context(
        settings,
        period,
        office,
        leader=person.name,
        revision=sub.revision,
        newer_revision=waiting_newer[-1].revision if waiting_newer else 0,
        comment=decision.comment,
    )
    approved_newer = [n for n in newer if n.state == "approved"]
    if sub.state == "superseded" and approved_newer:
        inbound.outcome = (
            f"{person.name} 对 {office.name} 第{sub.revision}版的回复已忽略：该股室已报送的"
            f"第{approved_newer[-1].revision}版已审定"
        )
        return
    if sub.state not in ("pending_approval", "superseded"):
        inbound.outcome = (
            f"{person.name} 对 {office.name} 第{sub.revision}版的回复已忽略：该版本状态为 {sub.state}"
        )
        return
    if decision.kind == "unknown":
        _record(
            session,
            inbound,
            person,
            "review",
            "not_understood",
            newest_part(text),
            submission_id=sub.id,
            request=request,
        )
        _ask_again(
            settings,
            session,
            inbound,
            person,
            ctx,
            text,
            token,
            period_id=period.id,
            office_id=office.id,
            submission_id=sub.id,
        )
        inbound.outcome = f"{person.name} 的回复无法识别为同意或退回，已请其明确"
        return
    approved = decision.kind == "approve"
    _record(
        session,
        inbound,
        person,
        "review",
        "approved" if approved else "returned",
        decision.comment,
        submission_id=sub.id,
        request=request,
    )
    inbound.outcome = apply_review(
        settings, session, person, sub, approved=approved, comment=decision.comment, at=inbound.received_at
    )


def apply_review(
    settings: Settings,
    session: Session,
    person: Person,
    sub: Submission,
    *,
    approved: bool,
    comment: str,
    at: dt.datetime,
) -> str:
    """A leader's decision on ``sub`` (by reply, or given in person and recorded by the clerk): set its state
    and tell the office (returned: with its form back). Returns the outcome in words; a newer revision
    still waiting keeps its own request and is named in the outcome."""
    office, period = sub.office, sub.period
    token = form_token(settings, period, office)
    waiting_newer = [n for n in _newer_revisions(session, sub) if n.state == "pending_approval"]
    ctx = mail_context(
        settings,
        period,
        office,
        leader=person.name,
        revision=sub.revision,
        newer_revision=waiting_newer[-1].revision if waiting_newer else 0,
        comment=comment,
    )
    sub.state, sub.decided_at = (SubmissionState.APPROVED if approved else SubmissionState.RETURNED), at
    to = [a.email for a in office.addresses][:1]
    still = f"（第{ctx['newer_revision']}版已另行送审）" if waiting_newer else ""
    if approved:
        queue_mail(
            session,
            settings,
            f"approved_notice:{sub.id}",
            "approved_notice",
            Mail("approved_notice", ctx, to),
            token=token,
            period_id=period.id,
            office_id=office.id,
            submission_id=sub.id,
        )
        return f"{person.name} 同意 {office.name} 第{sub.revision}版报告{still}"
    form = settings.path(sub.form_path)
    attachments = (
        [(fit_name(f"{period_label(period)}进展情况表-{office.name}（退回修改）", ".docx"), form.read_bytes())]
        if sub.form_path and form.exists()
        else []
    )
    queue_mail(
        session,
        settings,
        f"returned:{sub.id}",
        "returned",
        Mail("returned", ctx, to, attachments=attachments),
        token=token,
        period_id=period.id,
        office_id=office.id,
        submission_id=sub.id,
    )
    return f"{person.name} 退回 {office.name} 第{sub.revision}版报告：{comment}{still}"


def current_draft(session: Session, period: Period) -> Document | None:
    return session.scalars(
        select(Document)
        .where(Document.period_id == period.id, Document.kind == "draft")
        .order_by(Document.version.desc())
    ).first()


def _stale_signoff(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    period: Period,
    read: Document,
    draft: Document,
    text: str,
    token: str,
) -> None:
    """The signer answered the request of draft ``read`` while ``draft`` (newer) awaits sign-off."""
    detail = f"{person.name} 对第{read.version}稿的签发回复未用于第{draft.version}稿（已另行送签）"
    session.add(Event(kind="signoff_stale", period_id=period.id, detail=detail))
    ctx = mail_context(
        settings,
        period,
        signer=person.name,
        replied_version=read.version,
        version=draft.version,
        reply_text=newest_part(text)[:500],
    )
    _answer(
        settings, session, inbound, person, "signoff_stale", ctx, token, period_id=period.id, document_id=draft.id
    )
    inbound.outcome = f"{person.name} 的签发回复针对 {period.key} 第{read.version}稿，已被第{draft.version}稿取代：未作处理，已告知"


def signoff(
    settings: Settings,
    session: Session,
    inbound: InboundMessage,
    person: Person,
    period: Period,
    text: str,
    now: dt.datetime,
    *,
    replied_to: Dispatch | None = None,
) -> None:
    """Apply the signer's decision on the period's newest draft.

    :param replied_to: the sign-off request the reply answers, when known: a decision is bound to the draft
        its signer read, so an answer to the request of a draft since replaced decides nothing (the signer
        is told so, and the newer draft keeps waiting for its own answer)
    """
    draft = current_draft(session, period)
    decision = classify_decision(newest_part(text))
    ctx = mail_context(
        settings,
        period,
        signer=person.name,
        comment=decision.comment,
        version=draft.version if draft else 0,
        draft_name=Path(draft.path).name if draft else "",
    )
    token = period_token(settings, period)
    request = (
        session.scalars(
            select(Dispatch)
            .where(Dispatch.document_id == draft.id, Dispatch.kind == "signoff_request")
            .order_by(Dispatch.id.desc())
        ).first()
        if draft is not None
        else None
    )
    if draft is None or period.state != PeriodState.AWAITING_SIGNOFF:
        inbound.outcome = f"{person.name} 的签发回复已忽略：{period.key} 当前没有待签发的稿件"
        return
    read = session.get(Document, replied_to.document_id) if replied_to and replied_to.document_id else None
    if read is not None and read.id != draft.id:
        _stale_signoff(settings, session, inbound, person, period, read, draft, text, token)
        return
    if decision.kind == "unknown":
        _record(
            session,
            inbound,
            person,
            "signoff",
            "not_understood",
            newest_part(text),
            document_id=draft.id,
            request=request,
        )
        _ask_again(
            settings,
            session,
            inbound,
            person,
            {**ctx, "office": "", "leader": person.name},
            text,
            token,
            period_id=period.id,
        )
        inbound.outcome = f"{person.name} 的签发回复无法识别，已请其明确"
        return
    approved = decision.kind == "approve"
    _record(
        session,
        inbound,
        person,
        "signoff",
        "approved" if approved else "returned",
        decision.comment,
        document_id=draft.id,
        request=request,
    )
    if approved:
        draft.state = "signed"
        period.state, period.signed_off_at = PeriodState.SIGNED_OFF, now
        session.add(
            Event(kind="signed_off", period_id=period.id, detail=f"{person.name} 同意签发第{draft.version}稿")
        )
        inbound.outcome = f"{person.name} 同意签发 {period.key} 第{draft.version}稿"
    else:
        draft.state = "returned"
        period.state = PeriodState.ASSEMBLING
        session.add(
            Event(
                kind="signoff_returned",
                period_id=period.id,
                detail=f"{person.name} 退回第{draft.version}稿：{decision.comment}",
            )
        )
        queue_mail(
            session,
            settings,
            f"signoff_returned:{draft.id}",
            "signoff_returned",
            Mail("signoff_returned", ctx, _bureau_addrs(settings, session)),
            token=token,
            period_id=period.id,
            document_id=draft.id,
        )
        inbound.outcome = f"{person.name} 退回 {period.key} 第{draft.version}稿：{decision.comment}"
