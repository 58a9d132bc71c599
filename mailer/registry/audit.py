"""The audit trail as people read it: every event, and who did what and why for the clerk's own actions
(`duban audit`). Writing an audit row is :func:`record`, called inside the action's own transaction.

Registry layer: imports nothing of ours above the model.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mailer.common.periods import period_key
from mailer.registry.rows import PeriodRow, Rows, as_rows, utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import Event, Period

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
    from mailer.registry.model import Event, utcnow

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
    db: Session | Rows,
    *,
    period: Period | PeriodRow | None = None,
    actions_only: bool = False,
    tz: str = "Asia/Shanghai",
) -> list[dict[str, Any]]:
    """The audit trail, oldest first: every event (or only the clerk's actions), of one period if given."""
    where = []
    if period is not None:
        where.append("e.period_id = :period_id")
    if actions_only:
        where.append("e.actor <> ''")
    zone = ZoneInfo(tz)
    out = []
    for r in as_rows(db).all(
        "SELECT e.id, e.at, e.actor, e.kind, e.detail, e.reason, p.id AS pid, p.year, p.month, o.name AS office"
        " FROM events e LEFT JOIN periods p ON p.id = e.period_id LEFT JOIN offices o ON o.id = e.office_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY e.at, e.id",
        **({"period_id": period.id} if period is not None else {}),
    ):
        at = utc(r.at)
        assert at is not None  # events.at is always set (the model's default)
        out.append(
            {
                "id": r.id,
                "at": at.astimezone(zone).isoformat(timespec="seconds"),
                "actor": r.actor,
                "kind": r.kind,
                "action": ACTION_LABELS.get(r.kind, ""),
                "period": period_key(r.year, r.month) if r.pid is not None else None,
                "office": r.office,
                "detail": r.detail,
                "reason": r.reason,
            }
        )
    return out
