"""A step of the tick that failed for a reason a person must fix (a broken template, a missing signer's
address…): recorded as an event of its period, once per distinct reason, and reported, while the other
periods' steps and the sending of what was queued go on. `duban run --once` then ends with "错误：…" and
exit status 1; `duban status` and the ledger show the event.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select

from mailer.errors import DubanError
from mailer.model import Event, Period
from mailer.store import atomic

log = logging.getLogger(__name__)
KIND = "step_failed"


def record_failure(engine: Engine, period_id: int, error: DubanError) -> str:
    """Record ``error`` for the period (unless its newest failure says the same) and return the message."""
    with atomic(engine) as s:
        period = s.get(Period, period_id)
        key = period.key if period is not None else str(period_id)
        message = f"{key}：{error}"
        last = s.scalars(
            select(Event).where(Event.kind == KIND, Event.period_id == period_id).order_by(Event.id.desc())
        ).first()
        if last is None or last.detail != message[:4000]:
            s.add(Event(kind=KIND, period_id=period_id, detail=message[:4000]))
    log.error("Period %s: step failed: %s", key, error)
    return message
