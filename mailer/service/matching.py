"""Match an incoming message to what it answers (design principle 4), in this order:

1. In-Reply-To / References ↔ a Message-ID we sent (a Dispatch);
2. a token in the subject (``[DB-2206-…]``) ↔ the token of a form we sent;
3. the token inside the returned .docx (custom property or the visible 表单编号);
4. the sender's address ↔ an office with exactly one open period (accepted, but flagged).

The result names the period and office (and the dispatch, submission or document when known); who may
act on it is decided by the handlers, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.tokens import find_tokens
from mailer.registry.model import Dispatch, Document, Office, Period
from mailer.registry.offices import offices_for_address
from mailer.registry.queries import lead_offices

OPEN_STATES = ("open", "collecting", "nothing_reported", "assembling", "awaiting_signoff")


@dataclass
class Match:
    by: str  # in_reply_to | subject_token | docx_token | sender | none
    dispatch: Dispatch | None = None
    period: Period | None = None
    office: Office | None = None
    flagged: bool = False

    @property
    def found(self) -> bool:
        return self.period is not None


def by_headers(session: Session, in_reply_to: str | None, references: list[str]) -> Match | None:
    ids = [i for i in [in_reply_to, *reversed(references)] if i]
    for mid in dict.fromkeys(ids):
        d = session.scalars(select(Dispatch).where(Dispatch.message_id == mid.strip())).first()
        if d is not None:
            return Match(
                "in_reply_to",
                dispatch=d,
                period=session.get(Period, d.period_id) if d.period_id else None,
                office=session.get(Office, d.office_id) if d.office_id else None,
            )
    return None


def by_token(session: Session, text: str, how: str) -> Match | None:
    for tok in find_tokens(text):
        # The newest mail with the token, and only it: every mail to the office in the period carries the
        # token, so without the limit the whole history of the thread was loaded for each reply.
        d = session.scalars(
            select(Dispatch).where(Dispatch.token == tok).order_by(Dispatch.id.desc()).limit(1)
        ).first()
        if d is not None and d.period_id:
            return Match(
                how,
                dispatch=d,
                period=session.get(Period, d.period_id),
                office=session.get(Office, d.office_id) if d.office_id else None,
            )
        doc = session.scalars(select(Document).where(Document.token == tok).limit(1)).first()
        if doc is not None and doc.period_id:
            return Match(
                how,
                period=session.get(Period, doc.period_id),
                office=session.get(Office, doc.office_id) if doc.office_id else None,
            )
    return None


def by_sender(session: Session, from_addr: str, offices: list[Office] | None = None) -> Match | None:
    """The sender's office, when it has exactly one open period in which it leads a task.

    :param offices: the offices of ``from_addr``, when the caller looked them up already
    """
    for office in offices_for_address(session, from_addr) if offices is None else offices:
        periods = [
            p
            for p in session.scalars(select(Period).where(Period.state.in_(OPEN_STATES)))
            if office in lead_offices(session, p.plan)
        ]
        if len(periods) == 1:
            return Match("sender", period=periods[0], office=office, flagged=True)
    return None


def match_message(
    session: Session,
    *,
    in_reply_to: str | None,
    references: list[str],
    subject: str,
    docx_token: str | None,
    from_addr: str,
    sender_offices: list[Office] | None = None,
) -> Match:
    """The first of the four rules that finds something; Match("none") otherwise.

    :param sender_offices: the offices of ``from_addr``, when the caller looked them up already
    """
    return (
        by_headers(session, in_reply_to, references)
        or by_token(session, subject, "subject_token")
        or (by_token(session, docx_token, "docx_token") if docx_token else None)
        or by_sender(session, from_addr, sender_offices)
        or Match("none")
    )
