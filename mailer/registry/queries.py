"""Registry queries several layers ask: the active plan, who leads what, and the last approved text.

Registry layer: imports nothing of ours above the model.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, object_session, selectinload

from mailer.registry.model import Entry, Office, Period, Plan, Submission, Task, TaskOffice


def active_plan(session: Session) -> Plan | None:
    """The active plan (the one imported last); None when no plan was imported."""
    return session.scalars(
        select(Plan).where(Plan.active.is_(True)).order_by(Plan.imported_at.desc(), Plan.id.desc())
    ).first()


def on_forms(task: Task, period_key: str | None) -> bool:
    """Whether the task is still on the forms of the period ``period_key`` ("2022-07"): not removed, and not
    办结 before it (a task done after June is on June's forms, not on July's). None: any period."""
    return not task.removed and not (period_key and task.done_after and task.done_after < period_key)


def lead_offices_with_tasks(
    session: Session, plan_id: int, period_key: str | None = None
) -> list[tuple[Office, list[int]]]:
    """Offices leading at least one current task of the plan, in the order of their first task, with the
    seqs of the tasks each leads (on the forms of ``period_key``, when given: tasks 办结 before it left out)."""
    q = (
        select(Office, Task.seq)
        .join(TaskOffice, TaskOffice.office_id == Office.id)
        .join(Task, Task.id == TaskOffice.task_id)
        .where(Task.plan_id == plan_id, Task.removed.is_(False), TaskOffice.is_lead.is_(True))
        .order_by(Task.seq)
    )
    if period_key:
        q = q.where(or_(Task.done_after == "", Task.done_after >= period_key))
    rows = session.execute(q).all()
    out: dict[int, tuple[Office, list[int]]] = {}
    for office, seq in rows:
        out.setdefault(office.id, (office, []))[1].append(seq)
    return list(out.values())


def lead_offices(session: Session, plan: Plan, period_key: str | None = None) -> list[Office]:
    """Offices that lead at least one current task of the plan (on the forms of ``period_key`` if given),
    in the order of their first task."""
    return [office for office, _ in lead_offices_with_tasks(session, plan.id, period_key)]


def lead_tasks(
    plan: Plan, office: Office, period_key: str | None = None, *, with_milestones: bool = False
) -> list[Task]:
    """The plan's current tasks that ``office`` leads, by 编号 (those on the forms of ``period_key``);
    ``with_milestones``: their milestones loaded too, in one more query (not one per task)."""
    session = object_session(plan)
    if session is not None:
        # One query: walking plan.tasks and each task's offices loads them one task at a time (a form
        # check per message paid ~20 queries for it).
        query = (
            select(Task)
            .join(TaskOffice, TaskOffice.task_id == Task.id)
            .where(Task.plan_id == plan.id, TaskOffice.office_id == office.id, TaskOffice.is_lead.is_(True))
            .order_by(Task.seq)
        )
        if with_milestones:
            query = query.options(selectinload(Task.milestones))
        led = session.scalars(query)
        return [t for t in led if on_forms(t, period_key)]
    return sorted(
        (
            t
            for t in plan.tasks
            if on_forms(t, period_key) and any(to.is_lead and to.office_id == office.id for to in t.offices)
        ),
        key=lambda t: t.seq,
    )


def _approved_before(plan: Plan, year: int, month: int) -> Any:
    """Entries of approved submissions of ``plan`` from periods before (year, month), newest first: newest
    period, then within a period the newest revision."""
    return (
        select(Entry, Submission.office_id)
        .join(Submission, Entry.submission_id == Submission.id)
        .join(Period, Submission.period_id == Period.id)
        .where(
            Period.plan_id == plan.id,
            Submission.state == "approved",
            or_(Period.year < year, and_(Period.year == year, Period.month < month)),
        )
        .order_by(Period.year.desc(), Period.month.desc(), Submission.revision.desc())
    )


def last_approved_entries(
    session: Session, plan: Plan, office: Office, year: int, month: int
) -> dict[int, Entry]:
    """Task id → the office's newest approved entry for it from a period of ``plan`` before (year, month)."""
    out: dict[int, Entry] = {}
    for entry, _ in session.execute(_approved_before(plan, year, month).where(Submission.office_id == office.id)):
        out.setdefault(entry.task_id, entry)
    return out


def approved_entries_by_office(session: Session, plan: Plan, year: int, month: int) -> dict[int, dict[int, Entry]]:
    """:func:`last_approved_entries` for every office at once (office id → task id → entry)."""
    out: dict[int, dict[int, Entry]] = {}
    for entry, office_id in session.execute(_approved_before(plan, year, month)):
        out.setdefault(office_id, {}).setdefault(entry.task_id, entry)
    return out


