"""Where each lead office stands in a period, from the registry's rows (no state of its own).

Per (period, office): 未发送 (no form sent) → 已发送 (the form dispatch is sent, nothing came back) → then the
newest submission decides: invalid → 格式有误, pending_approval → 待审定, returned → 已退回, approved → 已审定.
Also here: :func:`format_table`, a terminal table that lines up Chinese text (two columns per character).
Read as plain rows (mailer.registry.rows): the same text through a session or through sqlite3 alone.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mailer.registry.deadlines import dates_with, extensions
from mailer.registry.queries import lead_offices_with_tasks as lead_offices
from mailer.registry.rows import Rows, as_rows, flag, utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import Period
    from mailer.registry.rows import PeriodRow

STATES = ("未发送", "已发送", "格式有误", "待审定", "已退回", "已审定")
_SUBMISSION_STATE = {
    "invalid": "格式有误",
    "pending_approval": "待审定",
    "returned": "已退回",
    "approved": "已审定",
}


@dataclass
class OfficeState:
    """One lead office in one period."""

    office: str
    office_id: int
    tasks: list[int]  # the seqs of the tasks it leads
    state: str  # one of STATES
    revision: int | None = None
    submitted_at: dt.datetime | None = None
    late: bool = False
    days_late: int = 0
    approved_by: str = ""
    approved_at: dt.datetime | None = None
    reminders: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "office": self.office,
            "tasks": self.tasks,
            "state": self.state,
            "revision": self.revision,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "late": self.late,
            "days_late": self.days_late,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat() if self.approved_at else None,
            "reminders": self.reminders,
        }


def _local(when: dt.datetime, tz: ZoneInfo) -> dt.date:
    return when.astimezone(tz).date()


@dataclass(frozen=True)
class _Sub:
    """A submission's columns that decide an office's state."""

    id: int
    office_id: int
    revision: int
    state: str
    received_at: dt.datetime
    late: bool
    decided_at: dt.datetime | None


def office_states(
    db: Session | Rows, period: Period | PeriodRow, *, now: dt.datetime | None = None, tz: str = "Asia/Shanghai"
) -> list[OfficeState]:
    """The state of every lead office of the period's plan.

    Lateness is that of the office's first proper report (the first submission not rejected as 格式有误):
    a report sent on time and later returned for changes stays on time. With no proper report yet, an
    office is late once the due date has passed, by the days since.

    :param db: a session, or plain rows (mailer.registry.rows: `duban status` reads without SQLAlchemy)
    :param now: the clock (default: now), for the days late of offices that have not reported
    :param tz: the bureau's timezone, in which dates are compared with the due date
    """
    rows = as_rows(db)
    zone = ZoneInfo(tz)
    today = _local(now or dt.datetime.now(dt.UTC), zone)
    # A few queries for the whole period, not a few per office: `duban status` runs this twice (the table and
    # the lights), and per office it was ~100 statements, a tenth of the command's time.
    subs_of: dict[int, list[_Sub]] = defaultdict(list)
    for r in rows.all(
        "SELECT id, office_id, revision, state, received_at, late, decided_at FROM submissions"
        " WHERE period_id = :period_id ORDER BY office_id, revision",
        period_id=period.id,
    ):
        subs_of[r.office_id].append(
            _Sub(r.id, r.office_id, r.revision, r.state, utc(r.received_at), flag(r.late), utc(r.decided_at))  # type: ignore[arg-type]
        )
    # A reminder that may have gone out (the transport could not tell) counts: the office may have seen it.
    reminders = _dispatch_counts(rows, period, "kind = 'reminder' AND state IN ('sent', 'uncertain')")
    forms_sent = _dispatch_counts(rows, period, "kind = 'form' AND state = 'sent'")
    exts = extensions(rows, period)
    approvals = _approvals(rows, period)
    out = []
    for office, seqs in lead_offices(rows, period.plan_id, period.key):
        subs = subs_of.get(office.id, [])
        st = OfficeState(office=office.name, office_id=office.id, tasks=seqs, state="未发送")
        st.reminders = reminders.get(office.id, 0)
        due_on = dates_with(period, exts.get(office.id)).due_on
        current = _current(subs)
        if current:
            newest = current[-1]
            st.state = _SUBMISSION_STATE.get(newest.state, "待审定")
            st.revision, st.submitted_at = newest.revision, newest.received_at
            proper = next((s for s in subs if s.state != "invalid"), newest)
            day = _local(proper.received_at, zone)
            st.days_late = max(0, (day - due_on).days)
            st.late = proper.late or st.days_late > 0
            if newest.state == "approved":
                _approval(approvals.get(newest.id), newest, st)
        else:
            st.state = "已发送" if forms_sent.get(office.id) else "未发送"
            st.days_late = max(0, (today - due_on).days)
            st.late = st.days_late > 0
        out.append(st)
    return out


def _current(subs: list[_Sub]) -> list[_Sub]:
    """An office's submissions that count (superseded ones only when there is nothing else), by revision."""
    return [s for s in subs if s.state != "superseded"] or subs


def _dispatch_counts(rows: Rows, period: Period | PeriodRow, condition: str) -> dict[int, int]:
    """Office id → how many of the period's dispatches meet ``condition`` (SQL over the dispatch's columns)."""
    found = rows.all(
        f"SELECT office_id, COUNT(id) AS n FROM dispatches WHERE period_id = :period_id AND {condition}"
        " GROUP BY office_id",
        period_id=period.id,
    )
    return {r.office_id: r.n for r in found if r.office_id is not None}


def _approvals(rows: Rows, period: Period | PeriodRow) -> dict[int, tuple[str, dt.datetime]]:
    """Submission id → who approved it and when (its newest review approval), for the period's approved
    submissions."""
    out: dict[int, tuple[str, dt.datetime]] = {}
    for r in rows.all(
        "SELECT a.submission_id, p.name, a.decided_at FROM approvals a"
        " JOIN people p ON p.id = a.person_id"
        " JOIN submissions s ON s.id = a.submission_id"
        " WHERE s.period_id = :period_id AND s.state = 'approved'"
        " AND a.kind = 'review' AND a.decision = 'approved'"
        " ORDER BY a.decided_at DESC, a.id DESC",
        period_id=period.id,
    ):
        out.setdefault(r.submission_id, (r.name, utc(r.decided_at)))  # type: ignore[arg-type]  # newest first: the first one seen is the one shown
    return out


def _approval(found: tuple[str, dt.datetime] | None, sub: _Sub, st: OfficeState) -> None:
    if found is not None:
        st.approved_by, st.approved_at = found
    else:
        st.approved_at = sub.decided_at


# --- terminal tables -----------------------------------------------------------------------------------


def display_width(s: str) -> int:
    """Columns ``s`` takes in a terminal: wide (CJK) and full-width characters take two."""
    return sum(
        2 if unicodedata.east_asian_width(c) in ("W", "F") else 0 if unicodedata.combining(c) else 1
        for c in s
    )


def fit(s: str, width: int) -> str:
    """``s`` cut to ``width`` columns (with "…") and padded to exactly that many."""
    s = s.replace("\n", " ")
    if display_width(s) > width:
        out, used = [], 0
        for c in s:
            w = display_width(c)
            if used + w > width - 1:
                break
            out.append(c)
            used += w
        s = "".join(out) + "…"
    return s + " " * (width - display_width(s))


def format_table(
    headers: list[str], rows: list[list[str]], *, max_width: dict[int, int] | None = None
) -> str:
    """A plain-text table whose columns line up with Chinese text in them.

    :param max_width: column index → the most columns it may take (longer text is cut with "…")
    """
    limits = max_width or {}
    widths = [display_width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell.replace("\n", " ")))
    widths = [min(w, limits.get(i, w)) for i, w in enumerate(widths)]
    lines = [
        "  ".join(fit(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(fit(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _when(t: dt.datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%m-%d %H:%M") if t else ""


def render_status_table(
    states: list[OfficeState], *, tz: str = "Asia/Shanghai", lights: Mapping[str, str] | None = None
) -> str:
    """The states as a terminal table: 股室, 牵头任务, 状态, (灯,) 版本, 报送时间, 逾期, 审定, 催报.

    :param lights: office → its light as text ("●红", mailer.render.lights); None: no 灯 column
    """
    zone = ZoneInfo(tz)
    rows = []
    for s in states:
        late = f"逾期{s.days_late}天" if s.late and s.days_late else ("逾期" if s.late else "")
        approved = f"{s.approved_by} {_when(s.approved_at, zone)}".strip()
        rows.append(
            [
                s.office,
                "、".join(map(str, s.tasks)),
                s.state,
                *([lights.get(s.office, "")] if lights is not None else []),
                str(s.revision or ""),
                _when(s.submitted_at, zone),
                late,
                approved,
                str(s.reminders or ""),
            ]
        )
    headers = ["股室", "牵头任务", "状态", *(["灯"] if lights is not None else []), "版本", "报送时间"]
    table = format_table([*headers, "逾期", "审定", "催报"], rows, max_width={1: 16})
    counts = {k: sum(1 for s in states if s.state == k) for k in STATES}
    summary = "，".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"{table}\n共 {len(states)} 个牵头股室：{summary}" if states else "（没有牵头股室）"
