"""No sign-off request for a notice in which nothing was reported.

When a period's assembly is due (grace days over) and not one lead office has an approved report, the
notice would list every task as 未报送: sending that to the signer wastes the signer's time and signals a
failure of the mailing, not of the offices. The period is held in state ``nothing_reported``, the bureau
office is told once, and the clerk decides: a report approved later resumes the cycle by itself (the next
tick assembles), or `duban assemble --period … --force` assembles the all-未报送 notice anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.registry.model import Event, Period, PeriodState, Submission
from mailer.registry.periodfacts import period_label, period_token
from mailer.service.decisions import _bureau_addrs
from mailer.service.outgoing import Mail, queue_mail

STATE = PeriodState.NOTHING_REPORTED


def nothing_reported(s: Session, period: Period) -> bool:
    """Whether no lead office has an approved report in ``period``."""
    approved = s.scalar(
        select(func.count(Submission.id)).where(
            Submission.period_id == period.id, Submission.state == "approved"
        )
    )
    return not approved


def hold_empty(settings: Settings, s: Session, period: Period, ctx: dict[str, Any]) -> bool:
    """Hold ``period`` in ``nothing_reported`` and tell the bureau office (once). True when newly held.

    :param ctx: the period's mail context (cycle._ctx)
    """
    if period.state == STATE:
        return False
    period.state = STATE
    s.add(
        Event(
            kind=STATE,
            period_id=period.id,
            detail=(
                f"{period_label(period)} 没有任何股室的报告获审定，不送签；"
                f"如需按全部未报送汇总，请运行 duban assemble --period {period.key} --force"
            ),
        )
    )
    queue_mail(
        s,
        settings,
        f"{STATE}:{period.key}",
        "other",
        Mail(
            "escalation",
            {**ctx, "nothing_reported": True, "period_key": period.key},
            _bureau_addrs(settings, s),
        ),
        token=period_token(settings, period),
        period_id=period.id,
    )
    return True
