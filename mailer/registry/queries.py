"""Registry queries several layers ask: the active plan, who leads what, and the last approved text.

Registry layer: imports nothing of ours above the model. :func:`lead_offices_with_tasks` reads plain rows
(mailer.registry.rows), and SQLAlchemy and the model are imported by the functions that query through them,
so `duban status` imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailer.registry.rows import Rows, as_rows

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import Entry, Office, Plan, Task


def active_plan(session: Session) -> Plan | None:
    """The active plan (the one imported last); None when no plan was imported."""
    from sqlalchemy import select

    from mailer.registry.model import Plan

    return session.scalars(
        select(Plan).where(Plan.active.is_(True)).order_by(Plan.imported_at.desc(), Plan.id.desc())
    ).first()


def on_forms(task: Task, period_key: str | None) -> bool:
    """Whether the task is still on the forms of the period ``period_key`` ("2022-07"): not removed, and not
    办结 before it (a task done after June is on June's forms, not on July's). None: any period."""
    return not task.removed and not (period_key and task.done_after and task.done_after < period_key)


@dataclass(frozen=True)
class LeadOffice:
    """An office as :func:`lead_offices_with_tasks` gives it: the columns its callers read."""

    id: int
    name: str


def lead_offices_with_tasks(
    db: Session | Rows, plan_id: int, period_key: str | None = None
) -> list[tuple[LeadOffice, list[int]]]:
    """Offices leading at least one current task of the plan, in the order of their first task, with the
    seqs of the tasks each leads (on the forms of ``period_key``, when given: tasks 办结 before it left out).

    Plain rows (mailer.registry.rows): `duban status` asks it without SQLAlchemy; :func:`lead_offices` gives
    the ORM objects."""
    found = as_rows(db).all(
        "SELECT o.id, o.name, t.seq FROM offices o"
        " JOIN task_offices tof ON tof.office_id = o.id"
        " JOIN tasks t ON t.id = tof.task_id"
        " WHERE t.plan_id = :plan_id AND NOT t.removed AND tof.is_lead"
        + (" AND (t.done_after = '' OR t.done_after >= :period_key)" if period_key else "")
        # The position breaks a tie (two offices leading one task): the order the notice names them in.
        + " ORDER BY t.seq, tof.position",
        plan_id=plan_id,
        **({"period_key": period_key} if period_key else {}),
    )
    out: dict[int, tuple[LeadOffice, list[int]]] = {}
    for r in found:
        out.setdefault(r.id, (LeadOffice(r.id, r.name), []))[1].append(r.seq)
    return list(out.values())


def lead_offices(session: Session, plan: Plan, period_key: str | None = None) -> list[Office]:
    """Offices that lead at least one current task of the plan (on the forms of ``period_key`` if given),
    in the order of their first task."""
    from sqlalchemy import select

    from mailer.registry.model import Office

    ids = [office.id for office, _ in lead_offices_with_tasks(session, plan.id, period_key)]
    if not ids:
        return []
    by_id = {o.id: o for o in session.scalars(select(Office).where(Office.id.in_(ids)))}
    return [by_id[i] for i in ids]


def lead_tasks(
    plan: Plan, office: Office, period_key: str | None = None, *, with_milestones: bool = False
) -> list[Task]:
    """The plan's current tasks that ``office`` leads, by 编号 (those on the forms of ``period_key``);
    ``with_milestones``: their milestones loaded too, in one more query (not one per task)."""
    from sqlalchemy import select
    from sqlalchemy.orm import object_session, selectinload

    from mailer.registry.model import Task, TaskOffice

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
    from sqlalchemy import and_, or_, select

    from mailer.registry.model import Entry, Period, Submission

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
    from mailer.registry.model import Submission

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


