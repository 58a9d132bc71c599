"""What each console page shows, read from the registry (no state of its own): the month per office, the
tasks with their milestones, a report with its diffs, the notices, the inbox and the audit trail."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.labels import label
from mailer.registry.audit import audit_rows
from mailer.registry.deadlines import office_dates
from mailer.registry.model import Document, Entry, InboundMessage, Office, Period, Submission, Task
from mailer.registry.queries import active_plan, last_approved_entries, lead_tasks
from mailer.registry.status import office_states

# Inbound messages the clerk has to look at: held by the sender policy or not handled at all.
TO_HANDLE = ("quarantined", "failed")


def periods(session: Session) -> list[Period]:
    """The active plan's periods, newest first."""
    plan = active_plan(session)
    if plan is None:
        return []
    return list(
        session.scalars(
            select(Period).where(Period.plan_id == plan.id).order_by(Period.year.desc(), Period.month.desc())
        )
    )


def pick_period(session: Session, key: str | None) -> Period | None:
    """The period named ``key`` ("2022-06"), else the newest one that is not skipped."""
    all_ = periods(session)
    if key:
        return next((p for p in all_ if p.key == key), None)
    return next((p for p in all_ if p.state != "skipped"), all_[0] if all_ else None)


def local(settings: Settings, when: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return when.astimezone(ZoneInfo(settings.cycle.timezone)).strftime(fmt) if when else ""


def overview(settings: Settings, session: Session, period: Period, now: dt.datetime) -> list[dict[str, Any]]:
    """One row per lead office: state, version, submitted at, late days, reminders, approval, due date."""
    rows = []
    for st in office_states(session, period, now=now, tz=settings.cycle.timezone):
        dates = office_dates(session, period, st.office_id)
        rows.append(
            {
                "office": st.office,
                "office_id": st.office_id,
                "tasks": st.tasks,
                "state": st.state,
                "revision": st.revision,
                "submitted_at": local(settings, st.submitted_at),
                "late": st.late,
                "days_late": st.days_late,
                "reminders": st.reminders,
                "approved_by": st.approved_by,
                "approved_at": local(settings, st.approved_at),
                "due_on": dates.due_on,
                "extended": dates.extended,
            }
        )
    return rows


def tasks(session: Session, period: Period | None) -> list[dict[str, Any]]:
    """Every task of the active plan with its lead office and milestones."""
    plan = active_plan(session)
    if plan is None:
        return []
    out = []
    for t in plan.tasks:
        if t.removed:
            continue
        lead = next((to.office for to in t.offices if to.is_lead), None)
        out.append(
            {
                "id": t.id,
                "seq": t.seq,
                "name": t.name,
                "lead": lead.name if lead else "",
                "lead_id": lead.id if lead else None,
                "offices": t.offices_text,
                "done_after": t.done_after,
                "milestones": [
                    {"label": m.label, "due": m.due, "text": m.text,
                     "overdue": bool(m.due and period and m.due <= _period_end(period))}
                    for m in t.milestones
                ],
            }
        )
    return out


def _period_end(period: Period) -> dt.date:
    nxt = dt.date(period.year + period.month // 12, period.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    """Lines of ``new`` against ``old`` as (mark, text): "+" added, "-" removed, " " unchanged."""
    out = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith(("+ ", "- ", "  ")):
            out.append((line[0], line[2:]))
    return out


FIELDS = (("progress", "进展情况"), ("problems", "存在问题和下一步工作计划"), ("remark", "备注"))


@dataclass
class ReportView:
    office: Office
    period: Period
    revisions: list[Submission]
    shown: Submission | None
    previous: Submission | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def report(session: Session, period: Period, office: Office, revision: int | None) -> ReportView:
    """The office's report in the period: each task's text of the revision shown (default: the newest),
    with its diff to the previous revision and to the last approved report of an earlier month."""
    revisions = list(
        session.scalars(
            select(Submission)
            .where(Submission.period_id == period.id, Submission.office_id == office.id)
            .order_by(Submission.revision)
        )
    )
    shown = next((s for s in revisions if s.revision == revision), None) if revision else None
    shown = shown or (revisions[-1] if revisions else None)
    view = ReportView(office, period, revisions, shown, None)
    if shown is None:
        return view
    view.findings = list(shown.findings or [])
    view.previous = next((s for s in reversed(revisions) if s.revision < shown.revision), None)
    before: dict[int, Entry] = {e.task_id: e for e in view.previous.entries} if view.previous else {}
    last_month = last_approved_entries(session, period.plan, office, period.year, period.month)
    entries = {e.task_id: e for e in shown.entries}
    tasks_ = {t.id: t for t in lead_tasks(period.plan, office, period.key)}
    for entry in entries.values():
        tasks_.setdefault(entry.task_id, entry.task)
    for task in sorted(tasks_.values(), key=lambda t: t.seq):
        e: Entry | None = entries.get(task.id)
        row: dict[str, Any] = {"task_id": task.id, "seq": task.seq, "name": task.name, "fields": []}
        for attr, title in FIELDS:
            now_text = getattr(e, attr) if e else ""
            prev = before.get(task.id)
            last = last_month.get(task.id)
            row["fields"].append(
                {
                    "title": title,
                    "text": now_text,
                    # A previous revision without this row (a form rejected as unreadable) counts as empty.
                    "vs_previous": (_diff(getattr(prev, attr) if prev is not None else "", now_text)
                                    if view.previous is not None else None),
                    "vs_last_month": _diff(getattr(last, attr), now_text) if last is not None else None,
                }
            )
        view.rows.append(row)
    return view


def changed(diff: list[tuple[str, str]] | None) -> bool:
    return bool(diff) and any(mark != " " for mark, _ in diff or [])


def notices(settings: Settings, session: Session) -> list[dict[str, Any]]:
    """Drafts and published notices, newest first."""
    q = (
        select(Document, Period)
        .join(Period, Document.period_id == Period.id)
        .where(Document.kind.in_(("draft", "published")))
        .order_by(Period.year.desc(), Period.month.desc(), Document.id.desc())
    )
    return [
        {
            "id": d.id,
            "period": p.key,
            "kind": "印发稿" if d.kind == "published" else "汇总稿",
            "version": d.version,
            "state": d.state,
            "created_at": local(settings, d.created_at, "%Y-%m-%d %H:%M"),
            "docx": bool(d.path),
            "pdf": bool(d.pdf_path),
        }
        for d, p in session.execute(q)
    ]


def inbox(settings: Settings, session: Session, *, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
    """Messages to handle (quarantined, failed), and the newest messages taken in."""

    def row(m: InboundMessage) -> dict[str, Any]:
        return {
            "id": m.id,
            "received_at": local(settings, m.received_at, "%Y-%m-%d %H:%M"),
            "from": m.from_addr,
            "subject": m.subject,
            "kind": m.kind,
            "kind_label": label("inbound", m.kind),
            "outcome": m.outcome,
            "error": (m.error or "").splitlines()[-1:] if m.error else [],
            "released": m.released_at is not None,
        }

    pending = session.scalars(
        select(InboundMessage).where(InboundMessage.kind.in_(TO_HANDLE)).order_by(InboundMessage.id.desc())
    )
    recent = session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit))
    return {"pending": [row(m) for m in pending], "recent": [row(m) for m in recent]}


def audit(settings: Settings, session: Session, period: Period | None, *, actions_only: bool) -> list[dict[str, Any]]:
    rows = audit_rows(session, period=period, actions_only=actions_only, tz=settings.cycle.timezone)
    rows.reverse()  # newest first on a page
    for r in rows:
        r["at"] = r["at"][:16].replace("T", " ")
    return rows


def task_by_seq(session: Session, seq: int) -> Task | None:
    plan = active_plan(session)
    if plan is None:
        return None
    return session.scalars(select(Task).where(Task.plan_id == plan.id, Task.seq == seq)).first()
