"""The dates that hold for one office in one period: the period's own (send, due, remind, escalate,
assemble-after), unless the clerk extended that office's deadline (`duban extend`, an OfficeDeadline row).

Every due-date question — reminders, escalation, lateness, the notice's 按时/逾期, when to assemble — goes
through :func:`office_dates`, so a period-level change of the dates and a per-office extension compose.
Registry layer: imports nothing of ours above the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.registry.model import OfficeDeadline, Period


@dataclass(frozen=True)
class OfficeDates:
    due_on: dt.date  # the last day a report is on time
    remind_on: dt.date | None
    escalate_on: dt.date | None
    assemble_after: dt.date | None
    extended: bool = False  # True: the office's own deadline, not the period's
    reason: str = ""


def extension(session: Session, period: Period, office_id: int) -> OfficeDeadline | None:
    return session.scalars(
        select(OfficeDeadline).where(OfficeDeadline.period_id == period.id, OfficeDeadline.office_id == office_id)
    ).first()


def period_dates_of(period: Period) -> OfficeDates:
    return OfficeDates(period.due_on, period.remind_on, period.escalate_on, period.assemble_after)


def office_dates(session: Session, period: Period, office_id: int | None) -> OfficeDates:
    """The dates that hold for ``office_id`` in ``period`` (the period's when None or not extended)."""
    return dates_with(period, extension(session, period, office_id) if office_id is not None else None)


def dates_with(period: Period, ext: OfficeDeadline | None) -> OfficeDates:
    """The dates that hold under the office's extension ``ext`` in ``period`` (None: not extended); with
    :func:`extensions`, the dates of every office of a period in one query."""
    if ext is None or ext.due_on <= period.due_on:
        # An extension never shortens: a period due date moved past it (firststart) wins.
        return period_dates_of(period)
    return OfficeDates(
        ext.due_on, ext.remind_on, ext.escalate_on, ext.assemble_after, extended=True, reason=ext.reason
    )


def office_due_on(session: Session, period: Period, office_id: int | None) -> dt.date:
    return office_dates(session, period, office_id).due_on


def extensions(session: Session, period: Period) -> dict[int, OfficeDeadline]:
    """Office id → its extension in ``period``."""
    return {
        d.office_id: d for d in session.scalars(select(OfficeDeadline).where(OfficeDeadline.period_id == period.id))
    }
