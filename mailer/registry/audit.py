"""The audit trail as people read it: every event, and who did what and why for the clerk's own actions
(`duban audit`). Writing an audit row is :func:`record`, called inside the action's own transaction.

Registry layer: imports nothing of ours above the model.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.registry.model import Event, Office, Period, utcnow

# The clerk's actions, by Event.kind, as the audit listing names them.
ACTION_LABELS = {
    "form_accepted": "录入表格",
    "decision_in_person": "录入当面审定",
    "deadline_extended": "延长截止日",
    "form_resent": "重发表格",
    "period_skipped": "本月不报",
    "period_closed": "截止收集",
    "task_done": "任务办结",
    "address_changed": "修改邮箱",
    "reassembled": "重新汇总",
    "lead_changed": "更正牵头股室",
    "decision_web": "网页审定",
    "released": "认可发件人放行",
    "inbox_rejected": "拒收来信",
    "user_added": "添加用户",
    "password_changed": "修改密码",
    "login": "登录",
    "login_locked": "登录锁定",
}


def current_user() -> str:
    """Who is acting, when the command does not say (--by): $DUBAN_USER, else the login name."""
    name = os.environ.get("DUBAN_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "unknown"


def record(
    session: Session,
    kind: str,
    detail: str,
    *,
    actor: str,
    reason: str = "",
    period_id: int | None = None,
    office_id: int | None = None,
    at: dt.datetime | None = None,
) -> Event:
    """Add the audit row of a clerk's action to ``session`` (committed with the action, or not at all)."""
    event = Event(
        kind=kind,
        detail=detail[:4000],
        actor=actor[:100],
        reason=reason[:4000],
        period_id=period_id,
        office_id=office_id,
        at=at or utcnow(),
    )
    session.add(event)
    return event


def audit_rows(
    session: Session,
    *,
    period: Period | None = None,
    actions_only: bool = False,
    tz: str = "Asia/Shanghai",
) -> list[dict[str, Any]]:
    """The audit trail, oldest first: every event (or only the clerk's actions), of one period if given."""
    q = select(Event, Period, Office).outerjoin(Period, Event.period_id == Period.id)
    q = q.outerjoin(Office, Event.office_id == Office.id)
    if period is not None:
        q = q.where(Event.period_id == period.id)
    if actions_only:
        q = q.where(Event.actor != "")
    zone = ZoneInfo(tz)
    out = []
    for event, p, office in session.execute(q.order_by(Event.at, Event.id)):
        out.append(
            {
                "id": event.id,
                "at": event.at.astimezone(zone).isoformat(timespec="seconds"),
                "actor": event.actor,
                "kind": event.kind,
                "action": ACTION_LABELS.get(event.kind, ""),
                "period": p.key if p is not None else None,
                "office": office.name if office is not None else None,
                "detail": event.detail,
                "reason": event.reason,
            }
        )
    return out
