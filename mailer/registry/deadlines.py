"""The dates that hold for one office in one period: the period's own (send, due, remind, escalate,
assemble-after), unless the clerk extended that office's deadline (`duban extend`, an OfficeDeadline row).

Every due-date question — reminders, escalation, lateness, the notice's 按时/逾期, when to assemble — goes
through :func:`office_dates`, so a period-level change of the dates and a per-office extension compose.
Registry layer: imports nothing of ours above the model. :func:`extensions` reads plain rows
(mailer.registry.rows), so `duban status` asks it without SQLAlchemy; the rest query through the session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mailer.registry.rows import Rows, as_rows, day

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import OfficeDeadline, Period
    from mailer.registry.rows import PeriodRow


@dataclass(frozen=True)
class OfficeDates:
    due_on: dt.date  # the last day a report is on time
    remind_on: dt.date | None
    escalate_on: dt.date | None
    assemble_after: dt.date | None
    extended: bool = False  # True: the office's own deadline, not the period's
    reason: str = ""


class Extension(Protocol):
    """What :func:`dates_with` reads of an extension: an OfficeDeadline, or :class:`ExtensionRow`."""

    @property
    def due_on(self) -> dt.date: ...
    @property
    def remind_on(self) -> dt.date | None: ...
    @property
    def escalate_on(self) -> dt.date | None: ...
    @property
    def assemble_after(self) -> dt.date | None: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class ExtensionRow:
    """An office's extension in a period as plain data (the OfficeDeadline columns :func:`dates_with` reads)."""

    office_id: int
    due_on: dt.date
    remind_on: dt.date | None
    escalate_on: dt.date | None
    assemble_after: dt.date | None
    reason: str


def extension(session: Session, period: Period, office_id: int) -> OfficeDeadline | None:
    from sqlalchemy import select

    from mailer.registry.model import OfficeDeadline

    return session.scalars(
        select(OfficeDeadline).where(OfficeDeadline.period_id == period.id, OfficeDeadline.office_id == office_id)
    ).first()


def period_dates_of(period: Period | PeriodRow) -> OfficeDates:
    return OfficeDates(period.due_on, period.remind_on, period.escalate_on, period.assemble_after)


def office_dates(session: Session, period: Period, office_id: int | None) -> OfficeDates:
    """The dates that hold for ``office_id`` in ``period`` (the period's when None or not extended)."""
    return dates_with(period, extension(session, period, office_id) if office_id is not None else None)


def dates_with(period: Period | PeriodRow, ext: Extension | None) -> OfficeDates:
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


def extensions(db: Session | Rows, period: Period | PeriodRow) -> dict[int, ExtensionRow]:
    """Office id → its extension in ``period`` (one query for the whole period)."""
    found = as_rows(db).all(
        "SELECT office_id, due_on, remind_on, escalate_on, assemble_after, reason FROM office_deadlines"
        " WHERE period_id = :period_id",
        period_id=period.id,
    )
    return {
        r.office_id: ExtensionRow(
            r.office_id, day(r.due_on), day(r.remind_on), day(r.escalate_on), day(r.assemble_after), r.reason  # type: ignore[arg-type]
        )
        for r in found
    }
