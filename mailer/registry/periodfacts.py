"""Facts about a period the service layer asks for again and again: its lead offices, labels, tokens,
and the bureau's local clock.

SQLAlchemy and the model are imported only by the functions that query through them: `duban status` uses
the labels and dates here without either (mailer.registry.rows).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mailer.common.config import Settings
from mailer.common.periods import span_label
from mailer.common.tokens import make_token

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import Office, Period, Submission
    from mailer.registry.rows import PeriodRow


def tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.cycle.timezone)


def local_date(settings: Settings, when: dt.datetime) -> dt.date:
    return when.astimezone(tz(settings)).date()


def local_time(settings: Settings, when: dt.datetime) -> str:
    """ "2022-06-10 09:00" in the bureau's configured time zone (cycle.timezone), as mails and lists show it."""
    return when.astimezone(tz(settings)).strftime("%Y-%m-%d %H:%M")


def period_label(period: Period | PeriodRow) -> str:
    """ "2022年1—6月", as the form's title and the mails say it."""
    return f"{period.year}年{span_label(period.month)}"


def form_token(settings: Settings, period: Period, office: Office) -> str:
    return make_token(settings.secret_key(), period.plan_id, period.year, period.month, office.id)


def period_token(settings: Settings, period: Period) -> str:
    return make_token(settings.secret_key(), period.plan_id, period.year, period.month, 0)


def latest_submission(
    session: Session, period: Period, office: Office, state: str | None = None
) -> Submission | None:
    """The office's newest revision for the period (only among those in ``state`` when given)."""
    from sqlalchemy import select

    from mailer.registry.model import Submission

    q = select(Submission).where(Submission.period_id == period.id, Submission.office_id == office.id)
    if state is not None:
        q = q.where(Submission.state == state)
    return session.scalars(q.order_by(Submission.revision.desc())).first()


def approved_submission(session: Session, period: Period, office: Office) -> Submission | None:
    return latest_submission(session, period, office, "approved")


def settled_submission(session: Session, period: Period, office: Office) -> Submission | None:
    """The office's approved revision, unless a newer one still awaits its leader's review.

    A leader may approve revision N after the office sent N+1 (they answer the request they read); the
    office is not done until N+1 is decided too, so the notice is not assembled meanwhile.
    """
    approved = approved_submission(session, period, office)
    waiting = latest_submission(session, period, office, "pending_approval")
    if approved is None or (waiting is not None and waiting.revision > approved.revision):
        return None
    return approved


def date_cn(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"
