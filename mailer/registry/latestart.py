"""A period opened late: the due date moves by a stated policy, and the mails say so.

Forms that go out after the send day (a service started on the 25th, a long downtime, a hold waiting for
`duban confirm`) cannot fairly be due on the calendar's day. The policy (``cycle.late_due_workdays``, 5 by
default): due = the day the forms go out + N working days, when that is later than the calendar's due date.
The moved date is stored on the period (``periods.due_on``, with ``due_moved_from`` keeping the calendar's),
so the form, the mails, reminders, escalation, assembly and the notice all read the same date.
"""

from __future__ import annotations

import datetime as dt

from mailer.common.config import Settings
from mailer.registry.model import Period


def dates_after(settings: Settings, send_on: dt.date, due_on: dt.date) -> dict[str, dt.date]:
    """The rest of a period's calendar once its send and due days are known: remind, escalate, assemble."""
    c, cal = settings.cycle, settings.calendar
    if c.workdays_only:
        remind_on = cal.workdays_before(due_on, c.remind_days_before)
        remind_on = max(remind_on, cal.next_workday(send_on))  # never before the forms went out
        escalate_on = cal.next_workday(due_on)
        assemble_after = cal.add_workdays(escalate_on, c.grace_days)
    else:
        remind_on = max(due_on - dt.timedelta(days=c.remind_days_before), send_on + dt.timedelta(days=1))
        escalate_on = due_on + dt.timedelta(days=1)
        assemble_after = escalate_on + dt.timedelta(days=c.grace_days)
    return {
        "send_on": send_on,
        "due_on": due_on,
        "remind_on": remind_on,
        "escalate_on": escalate_on,
        "assemble_after": assemble_after,
    }


def moved_due(settings: Settings, calendar_due: dt.date, sent_on: dt.date) -> dt.date | None:
    """The due date for forms first sent on ``sent_on``, or None when the calendar's ``calendar_due`` stands.

    :param calendar_due: the due date of the period's calendar
    :param sent_on: the (local) day the forms actually go out
    """
    n = settings.cycle.late_due_workdays
    if n <= 0:
        return None
    if settings.cycle.workdays_only:
        due = settings.calendar.add_workdays(sent_on, n)
    else:
        due = sent_on + dt.timedelta(days=n)
    return due if due > calendar_due else None


def late_dates(settings: Settings, dates: dict[str, dt.date], today: dt.date) -> dict[str, dt.date | None]:
    """The period's calendar for forms going out ``today``: unchanged on (or before) the send day; after it,
    the due date moved by the policy and reminders, escalation and assembly following it.

    :returns: the Period columns (``send_on`` … ``assemble_after``, ``due_moved_from``)
    """
    out: dict[str, dt.date | None] = {**dates, "due_moved_from": None}
    if today <= dates["send_on"]:
        return out
    due = moved_due(settings, dates["due_on"], today)
    if due is None:
        return out
    out.update(dates_after(settings, today, due))
    out["send_on"], out["due_moved_from"] = dates["send_on"], dates["due_on"]
    return out


def due_note(period: Period) -> str:
    """The words the mails add after the due date when it was moved, e.g. "（本月表格晚发，截止日期由
    2022年6月20日相应顺延）"; "" when it was not."""
    if period.due_moved_from is None:
        return ""
    d = period.due_moved_from
    return f"（本月表格晚发，截止日期由{d.year}年{d.month}月{d.day}日相应顺延）"
