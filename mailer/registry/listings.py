"""The registry as the clerk's lists read it: the active plan's tasks (`duban tasks`), the offices (`duban
offices`) and the period a clerk names (`duban audit --period`).

Plain rows (mailer.registry.rows): the same SQL text runs through sqlite3 alone on a SQLite home, so these
commands import no SQLAlchemy, and through a session on PostgreSQL. Registry layer: imports only common and
the registry's own row reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailer.common.errors import RegistryError
from mailer.common.periods import parse_period, period_key
from mailer.registry.rows import PeriodRow, Rows, as_rows, day, flag, periods

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.registry.model import Plan

# What a clerk's action or listing says when the period it names is missing (mailer.service.actions says the
# same through its own ActionRefused).
NO_PLAN_FOR_PERIOD = "登记册中还没有任务计划：请先导入通知（duban import 通知.docx）。"


def period_not_open(year: int, month: int) -> str:
    return f"{period_key(year, month)} 期次尚未开启（表格未发出）。请用 duban status 查看已有的期次。"


@dataclass(frozen=True)
class PlanRow:
    """The active plan's columns the listings show."""

    id: int
    year: int
    title: str


def active_plan_row(db: Session | Rows) -> PlanRow | None:
    """The active plan (the one imported last), as mailer.registry.queries.active_plan picks it."""
    found = as_rows(db).all(
        "SELECT id, year, title FROM plans WHERE active ORDER BY imported_at DESC, id DESC LIMIT 1"
    )
    return PlanRow(found[0].id, found[0].year, found[0].title) if found else None


def plan_period(db: Session | Rows, text: str) -> PeriodRow:
    """The active plan's period named by ``text`` ("2022-06"), as mailer.service.actions.get_period finds it.

    :raises RegistryError: no plan yet, or no such period (the words of get_period)
    """
    year, month = parse_period(text)
    rows = as_rows(db)
    plan = active_plan_row(rows)
    if plan is None:
        raise RegistryError(NO_PLAN_FOR_PERIOD)
    for p in periods(rows, year=year, month=month):
        if p.plan_id == plan.id:
            return p
    raise RegistryError(period_not_open(year, month))


def task_dicts(db: Session | Rows, plan: Plan | PlanRow, *, include_removed: bool = False) -> list[dict[str, Any]]:
    """The plan's tasks by 序号 as the JSON of `duban tasks --json` (``include_removed``: also those a later
    import removed, each with "removed")."""
    rows = as_rows(db)
    # Each task's offices (in the notice's order) and milestones: three statements for the whole plan.
    offices: dict[int, list[tuple[str, bool]]] = {}
    for r in rows.all(
        "SELECT l.task_id, l.is_lead, o.name FROM task_offices l"
        " JOIN tasks t ON t.id = l.task_id JOIN offices o ON o.id = l.office_id"
        " WHERE t.plan_id = :plan_id ORDER BY l.task_id, l.position, l.id",
        plan_id=plan.id,
    ):
        offices.setdefault(r.task_id, []).append((r.name, flag(r.is_lead)))
    milestones: dict[int, list[dict[str, Any]]] = {}
    for r in rows.all(
        "SELECT m.task_id, m.label, m.due, m.text FROM milestones m JOIN tasks t ON t.id = m.task_id"
        " WHERE t.plan_id = :plan_id ORDER BY m.task_id, m.position, m.id",
        plan_id=plan.id,
    ):
        due = day(r.due)
        milestones.setdefault(r.task_id, []).append(
            {"label": r.label, "due": due.isoformat() if due else None, "text": r.text}
        )
    out = []
    for t in rows.all(
        "SELECT id, seq, name, content, remark, lead_assumed, removed FROM tasks WHERE plan_id = :plan_id"
        " ORDER BY seq",
        plan_id=plan.id,
    ):
        removed = flag(t.removed)
        if removed and not include_removed:
            continue
        links = offices.get(t.id, [])
        leads = [name for name, is_lead in links if is_lead]
        item: dict[str, Any] = {
            "seq": t.seq,
            "name": t.name,
            "content": t.content,
            "offices": [name for name, _ in links],
            "lead": leads[0] if leads else None,
            "leads": leads,
            "remark": t.remark,
            "lead_assumed": flag(t.lead_assumed),
            "milestones": milestones.get(t.id, []),
        }
        if include_removed:
            item["removed"] = removed
        out.append(item)
    return out


def office_dicts(db: Session | Rows) -> list[dict[str, Any]]:
    """Every office (those of the directory first) with its directory data and the seqs of the active plan's
    current tasks it leads, for `duban offices --json`."""
    rows = as_rows(db)
    plan = active_plan_row(rows)
    leads: dict[int, list[int]] = {}
    if plan is not None:
        for r in rows.all(
            "SELECT l.office_id, t.seq FROM task_offices l JOIN tasks t ON t.id = l.task_id"
            " WHERE t.plan_id = :plan_id AND l.is_lead AND NOT t.removed ORDER BY t.seq",
            plan_id=plan.id,
        ):
            leads.setdefault(r.office_id, []).append(r.seq)
    aliases: dict[int, list[str]] = {}
    for r in rows.all("SELECT office_id, alias FROM office_aliases"):
        aliases.setdefault(r.office_id, []).append(r.alias)
    addresses: dict[int, list[str]] = {}
    for r in rows.all("SELECT office_id, email FROM office_addresses ORDER BY office_id, position, id"):
        addresses.setdefault(r.office_id, []).append(r.email)
    return [
        {
            "name": o.name,
            "aliases": sorted(aliases.get(o.id, [])),
            "addresses": addresses.get(o.id, []),
            "contact": o.contact,
            "phone": o.phone,
            "leader": o.leader,
            "leader_email": o.leader_email,
            "is_bureau_office": flag(o.is_bureau_office),
            "in_directory": flag(o.in_directory),
            "leads_tasks": leads.get(o.id, []),
        }
        for o in rows.all(
            "SELECT o.id, o.name, o.contact, o.phone, o.is_bureau_office, o.in_directory,"
            " p.name AS leader, p.email AS leader_email"
            " FROM offices o LEFT JOIN people p ON p.id = o.leader_id ORDER BY o.in_directory DESC, o.id"
        )
    ]
