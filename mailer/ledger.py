"""The work ledger (工作台账): ``registry/ledger.xlsx``, regenerated from the registry for people to read.

Sheet 任务台账 lists every milestone of the active plan's tasks; then one sheet per period ("2022年1—6月")
lists each lead office's tasks with the state of its report, revision, approval, days late and reminders.
The registry is the record; this file is a view of it, written atomically (a reader never sees half a
file) and safe to open: no text ever becomes a formula, control characters are stripped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import RegistryError
from mailer.model import Document, Period, Plan, Task, utcnow
from mailer.periods import span_label
from mailer.status import display_width, office_states
from mailer.store import atomic
from mailer.text import clean

TASK_SHEET = "任务台账"
TASK_HEADER = ["序号", "任务名称", "牵头股室", "责任股室", "节点", "完成时限", "备注"]
PERIOD_HEADER = [
    "股室",
    "序号",
    "任务名称",
    "状态",
    "报送时间",
    "版本",
    "审定人",
    "审定时间",
    "逾期天数",
    "催报次数",
]
# Column width caps (in Excel character units): long text wraps instead of making the sheet unreadable.
_CAPS = {"任务名称": 28, "节点": 60, "备注": 30, "责任股室": 24, "牵头股室": 14}
DATE_FORMAT = 'yyyy"年"m"月"d"日"'
TIME_FORMAT = "yyyy-mm-dd hh:mm"


def ledger_path(settings: Settings) -> Path:
    return settings.registry / "ledger.xlsx"


def _set_text(cell: Any, value: object) -> None:
    """Store ``value`` as text: never a formula (a remark "=HYPERLINK(…)" stays words), no control chars."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell.value = ILLEGAL_CHARACTERS_RE.sub("", clean(value))
    cell.data_type = "s"


def _sheet(wb: Any, title: str, header: list[str]) -> Any:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(name="黑体", bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    return ws


def _row(ws: Any, values: list[object], formats: dict[int, str] | None = None) -> None:
    from openpyxl.styles import Alignment

    r = ws.max_row + 1
    for c, value in enumerate(values, 1):
        cell = ws.cell(row=r, column=c)
        if isinstance(value, dt.datetime | dt.date | int) and not isinstance(value, bool):
            cell.value = value
            if formats and c in formats:
                cell.number_format = formats[c]
        elif value is not None:
            _set_text(cell, value)
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _finish(ws: Any, header: list[str]) -> None:
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "C2"
    ws.auto_filter.ref = ws.dimensions
    for i, name in enumerate(header, 1):
        widest = display_width(name)
        for (value,) in ws.iter_rows(min_row=2, min_col=i, max_col=i, values_only=True):
            if isinstance(value, str):
                widest = max(widest, *(display_width(line) for line in value.split("\n")))
            elif isinstance(value, dt.datetime):
                widest = max(widest, 16)
            elif isinstance(value, dt.date):
                widest = max(widest, 15)
        ws.column_dimensions[get_column_letter(i)].width = min(widest, _CAPS.get(name, 40)) + 2


def _task_sheet(wb: Any, session: Session, plan: Plan) -> None:
    ws = _sheet(wb, TASK_SHEET, TASK_HEADER)
    tasks = session.scalars(
        select(Task).where(Task.plan_id == plan.id, Task.removed.is_(False)).order_by(Task.seq)
    )
    for task in tasks:
        lead = "、".join(link.office.name for link in task.offices if link.is_lead)
        offices = "、".join(link.office.name for link in task.offices)
        nodes = [(f"{m.label}{m.text}", m.due) for m in task.milestones] or [("", None)]
        for text, due in nodes:
            _row(ws, [task.seq, task.name, lead, offices, text, due, task.remark], {6: DATE_FORMAT})
    _finish(ws, TASK_HEADER)


def _naive(t: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    # Excel has no time zones: write the bureau's wall-clock time.
    return t.astimezone(zone).replace(tzinfo=None) if t else None


def _period_title(period: Period, used: set[str]) -> str:
    title = f"{period.year}年{span_label(period.month)}"
    base, n = title, 2
    while title in used:
        title, n = f"{base}({n})", n + 1
    used.add(title)
    return title


def _period_sheet(
    wb: Any, session: Session, period: Period, title: str, settings: Settings, now: dt.datetime | None
) -> None:
    zone = ZoneInfo(settings.cycle.timezone)
    ws = _sheet(wb, title, PERIOD_HEADER)
    names = {
        seq: name
        for seq, name in session.execute(select(Task.seq, Task.name).where(Task.plan_id == period.plan_id))
    }
    for st in office_states(session, period, now=now, tz=settings.cycle.timezone):
        for seq in st.tasks:
            _row(
                ws,
                [
                    st.office,
                    seq,
                    names.get(seq, ""),
                    st.state,
                    _naive(st.submitted_at, zone),
                    st.revision,
                    st.approved_by,
                    _naive(st.approved_at, zone),
                    st.days_late,
                    st.reminders,
                ],
                {5: TIME_FORMAT, 8: TIME_FORMAT},
            )
    _finish(ws, PERIOD_HEADER)


def build_workbook(settings: Settings, session: Session, *, now: dt.datetime | None = None) -> Any:
    """The ledger as an openpyxl Workbook (not saved).

    :raises RegistryError: when no plan has been imported
    """
    from openpyxl import Workbook

    from mailer.queries import active_plan

    plan = active_plan(session)
    if plan is None:
        raise RegistryError(
            "尚未导入任何工作计划，无法生成工作台账。请先导入通知：duban import 通知.docx"
        )
    wb = Workbook()
    wb.remove(wb.active)
    _task_sheet(wb, session, plan)
    used = {TASK_SHEET}
    for period in session.scalars(select(Period).order_by(Period.year, Period.month, Period.id)):
        _period_sheet(wb, session, period, _period_title(period, used), settings, now)
    wb.properties.title = f"{plan.title} 工作台账"
    return wb


def _save_atomic(wb: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ledger-", suffix=".xlsx.part", dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_ledger(
    settings: Settings, engine: Engine, path: Path | None = None, *, now: dt.datetime | None = None
) -> Path:
    """Write the work ledger (default ``registry/ledger.xlsx``) atomically and record it as the ledger
    document of the registry.

    :param now: the clock for days late of offices that have not reported (default: now)
    :returns: the path written
    :raises RegistryError: when no plan has been imported
    :raises OSError: when the file cannot be written (e.g. it is open in Excel on Windows)
    """
    target = Path(path) if path is not None else ledger_path(settings)
    with atomic(engine) as session:
        wb = build_workbook(settings, session, now=now)
        _save_atomic(wb, target)
        _record(settings, session, target)
    return target


def _record(settings: Settings, session: Session, target: Path) -> None:
    """One Document row for the ledger, kept current (regenerating it is not a new document each time)."""
    try:
        rel = str(target.resolve().relative_to(settings.home.resolve()))
    except ValueError:
        return  # written outside the home (duban ledger -o …): a copy for someone, not the home's ledger
    doc = session.scalars(select(Document).where(Document.kind == "ledger")).first()
    if doc is None:
        doc = Document(kind="ledger", path=rel, version=0)
        session.add(doc)
    doc.path, doc.version = rel, doc.version + 1
    doc.sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
    doc.created_at = utcnow()
