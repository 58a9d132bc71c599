"""What the progress form's 填写说明 tells the office beyond the table: the period's real due date (the
registry's, which the calendar may have moved off the plan's nominal day) and who reviews the report
after it is sent (the office's supervising leader, by name; the bureau office when it has none)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.periods import month_end
from mailer.common.text import clean
from mailer.registry.model import Office, Period, Plan


def due_date(session: Session, plan: Plan, year: int, month: int) -> dt.date:
    """The period's due date as the cycle set it; before the period exists, the plan's due day."""
    period = session.scalars(
        select(Period).where(Period.plan_id == plan.id, Period.year == year, Period.month == month)
    ).first()
    if period is not None:
        return period.due_on
    return min(dt.date(year, month, max(1, plan.due_day or 20)), month_end(year, month))


def reviewer(office: Office) -> str:
    """ "分管负责同志李明副局长", or "局办公室" when the office has no supervising leader."""
    leader = office.leader
    if leader is None:
        return "局办公室"
    return f"分管负责同志{clean(leader.name)}{clean(leader.title)}"


def instruction_context(session: Session, plan: Plan, year: int, month: int, office: Office) -> dict[str, str]:
    """``due_date`` ("6月20日", with the year when it is not the form's) and ``reviewer``."""
    due = due_date(session, plan, year, month)
    text = f"{due.month}月{due.day}日" if due.year == year else f"{due.year}年{due.month}月{due.day}日"
    return {"due_date": text, "reviewer": reviewer(office)}
