"""No mail loops: a cap on the error answers one address draws in a day.

Automatic mail that says so (Auto-Submitted, X-Autoreply, Precedence, 自动回复 subjects…) is never answered
(``mailread``). An auto-responder that does not say so answers every answer of ours, and each of its mails
looks like a person's reply without the form ("no form attached" → answer → answer…). So the answers that
tell a sender something is wrong (:data:`ERROR_ANSWERS`) are counted per address and calendar day (the
bureau's): the message that would draw one more than ``[senders] answers_per_day`` is quarantined instead,
with nothing it would have done kept, and the bureau office is told once per address and day.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.registry.model import Dispatch, InboundMessage
from mailer.registry.periodfacts import tz

# Answers that point out a problem to the sender: what an unmarked auto-responder keeps drawing.
ERROR_ANSWERS = ("error_reply", "not_understood")


def _day(settings: Settings, when: dt.datetime) -> tuple[dt.datetime, dt.datetime, str]:
    local = when.astimezone(tz(settings))
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=local.tzinfo)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC), local.date().isoformat()


def last_dispatch_id(session: Session) -> int:
    return session.scalar(select(func.max(Dispatch.id))) or 0


def answers_drawn(session: Session, inbound: InboundMessage, address: str, after_id: int) -> list[Dispatch]:
    """The error answers to ``address`` queued for ``inbound`` since dispatch #``after_id``."""
    rows = session.scalars(
        select(Dispatch).where(
            Dispatch.id > after_id, Dispatch.in_reply_to_id == inbound.id, Dispatch.kind.in_(ERROR_ANSWERS)
        )
    )
    return [d for d in rows if address in d.to_addrs]


def answered_today(settings: Settings, session: Session, address: str, now: dt.datetime, before_id: int) -> int:
    """How many error answers ``address`` drew on ``now``'s day (by the answered message's arrival)."""
    start, end, _ = _day(settings, now)
    rows = session.execute(
        select(Dispatch.to_addrs)
        .join(InboundMessage, InboundMessage.id == Dispatch.in_reply_to_id)
        .where(
            Dispatch.id <= before_id,
            Dispatch.kind.in_(ERROR_ANSWERS),
            InboundMessage.received_at >= start,
            InboundMessage.received_at < end,
        )
    )
    return sum(1 for (to,) in rows if address in (to or []))


def notice_key(settings: Settings, address: str, now: dt.datetime) -> str:
    """The bureau office hears of a looping address once a day: the quarantine notice's dispatch key."""
    return f"loop_notice:{address}:{_day(settings, now)[2]}"
