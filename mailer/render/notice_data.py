"""What the consolidated notice (通报) says, read from the registry: one row per task, and the summary.

A pure query (``notice_data``) plus the Chinese prose built from its result. Nothing here writes.

Rules (stated once, used by the notice, the sign-off mail and the tests):
- a task's text comes from the newest *approved* submission of each of its lead offices for the period;
  with several leads, each office's text is prefixed with its name ("机关党委：…");
- an office reported on time (按时报送) when that submission was received by the end of the period's due
  day in the bureau's timezone and intake did not mark it late; otherwise late (逾期报送); an office
  without an approved submission has not reported (未报送), even if a submission awaits its leader;
- a task takes the worst status of its leads (未报送 over 逾期报送 over 按时报送);
- a milestone is due this month (本月到期) when its date falls in month N, already due (已到期) when it
  falls before month N; undated milestones (年内) are neither.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.errors import RegistryError
from mailer.common.periods import span_label
from mailer.common.text import clean
from mailer.registry.deadlines import office_due_on
from mailer.registry.model import Entry, Milestone, Office, Period, Plan, Submission, Task, TaskOffice
from mailer.registry.queries import approved_entries_by_office
from mailer.render.lights import LightResult

ON_TIME, LATE, MISSING = "按时报送", "逾期报送", "未报送"
DONE = "已办结"  # `duban tasks done` before this period: no report asked for it any more
STATUS_ORDER = {DONE: -1, ON_TIME: 0, LATE: 1, MISSING: 2}
DEFAULT_TZ = "Asia/Shanghai"
_CN_NUM = "一二三四五六七八九十"


@dataclass(frozen=True)
class OfficeReport:
    """How one lead office reported for the period."""

    office: str
    status: str  # ON_TIME | LATE | MISSING
    received_on: dt.date | None  # local date of the approved submission
    pending: bool  # a submission exists but is not approved (awaiting its leader, or returned)
    tasks: tuple[int, ...]  # seq of the tasks it leads


@dataclass(frozen=True)
class NoticeRow:
    """One task's row of the annex table."""

    seq: int
    name: str
    leads: tuple[str, ...]
    progress: str
    problems: str
    status: str  # the task's status: the worst of its leads'
    office_status: tuple[tuple[str, str], ...]  # (office, status) per lead
    due_this_month: tuple[str, ...]  # "二是6月底前开展施工招标"
    overdue: tuple[str, ...]  # due before month N
    light: str = ""  # "●红" (mailer.render.lights), "" when the notice is read without lights

    @property
    def status_cell(self) -> str:
        """The 报送情况 cell: the status, and the task's light on a line of its own."""
        return f"{self.status_text}\n{self.light}" if self.light else self.status_text

    @property
    def leads_text(self) -> str:
        return "\n".join(self.leads)

    @property
    def status_text(self) -> str:
        """The cell text: one status, or one line per lead when the leads differ."""
        if len({s for _, s in self.office_status}) <= 1:
            return self.status
        return "\n".join(f"{office}：{status}" for office, status in self.office_status)

    @property
    def milestones_text(self) -> str:
        lines = []
        if self.due_this_month:
            lines.append("本月到期：" + _join_items(self.due_this_month))
        if self.overdue:
            lines.append("已到期：" + _join_items(self.overdue))
        return "\n".join(lines) if lines else "本月无到期节点"


@dataclass(frozen=True)
class OfficeMilestones:
    office: str
    due_this_month: int
    overdue: int


@dataclass(frozen=True)
class NoticeSummary:
    """The counts the notice's prose is made of."""

    total: int
    on_time: int  # tasks
    late: int
    missing: int
    on_time_offices: tuple[str, ...]
    late_offices: tuple[str, ...]
    missing_offices: tuple[str, ...]  # did not report (no approved submission)
    pending_offices: tuple[str, ...]  # of the missing: a submission awaits approval
    milestones_due: int  # due in month N
    milestones_overdue: int  # due before month N
    tasks_with_due: int
    by_office: tuple[OfficeMilestones, ...]
    done: int = 0  # tasks 办结 before this period


@dataclass(frozen=True)
class NoticeData:
    """Everything the consolidated notice shows, in the order it shows it."""

    org_name: str
    year: int
    month: int
    span: str  # "1—6月"
    due_on: dt.date
    plan_title: str
    notice_title: str  # 关于印发…的通知 (the plan's notice), may be empty
    issuer: str
    due_day: int
    rows: tuple[NoticeRow, ...]
    offices: tuple[OfficeReport, ...]
    summary: NoticeSummary
    tz: str = DEFAULT_TZ
    lights_on: dt.date | None = None  # the day the rows' lights were judged at (with_lights)
    yellow_workdays: int = 0

    @property
    def title(self) -> str:
        return f"关于{self.org_name}{self.year}年重点工作任务{self.span}进展情况的通报"

    @property
    def annex_title(self) -> str:
        return f"{self.org_name}{self.year}年重点工作任务进展情况汇总表（{self.span}）"

    @property
    def summary_text(self) -> str:
        """The overview paragraph and the milestone paragraph, as the sign-off mail quotes them."""
        return overview_text(self) + milestone_overview_text(self)


# --- the query ---------------------------------------------------------------------------------------------


def _local_date(when: dt.datetime, tz: ZoneInfo) -> dt.date:
    return when.astimezone(tz).date()


def _milestone_text(m: _MilestoneRow) -> str:
    text = clean(m.text).strip()
    label = clean(m.label).strip()
    return text if not label or text.startswith(label) else f"{label}{text}"


def _join_items(items: Iterable[str]) -> str:
    """ "一是…；二是…。": items joined the way a 公文 lists them."""
    parts = [i.rstrip("。；;，, ") for i in items]
    return "；".join(parts) + "。"


class _Approved(NamedTuple):
    """The newest approved submission of an office: what the status needs."""

    id: int
    received_at: dt.datetime
    late: bool


class _Text(NamedTuple):
    progress: str
    problems: str


class _Lead(NamedTuple):
    office_id: int
    name: str


class _TaskRow(NamedTuple):
    id: int
    seq: int
    name: str
    done_after: str


class _MilestoneRow(NamedTuple):
    label: str
    text: str
    due: dt.date | None


# The notice reads plain rows (Core selects of the columns it needs), never ORM objects: at 20,000 tasks the
# ORM built ~158k objects (tasks, links, offices, milestones, entries) in 4.9–8.9 s, the SQL being 7–12% of it.
# The selects run on the session's connection (Core): Session.execute would pass every row through the
# ORM's result machinery, a third of the remaining time. notice_data flushes the session once first.


def _rows(session: Session, stmt: Any) -> Sequence[Any]:
    return session.connection().execute(stmt).all()  # fetchall: one call, not one per row


def _plan_tasks(session: Session, plan_id: int) -> list[_TaskRow]:
    rows = _rows(session, 
        select(Task.id, Task.seq, Task.name, Task.done_after)
        .where(Task.plan_id == plan_id, Task.removed.is_(False))
        .order_by(Task.seq)
    )
    return [_TaskRow(*r) for r in rows]


def _plan_offices(session: Session, plan_id: int) -> dict[int, list[tuple[int, bool, str]]]:
    """Task id → its offices (office id, is lead, name) in the plan's order (TaskOffice.position)."""
    out: dict[int, list[tuple[int, bool, str]]] = defaultdict(list)
    rows = _rows(session, 
        select(TaskOffice.task_id, TaskOffice.office_id, TaskOffice.is_lead, Office.name)
        .join(Task, Task.id == TaskOffice.task_id)
        .join(Office, Office.id == TaskOffice.office_id)
        .where(Task.plan_id == plan_id, Task.removed.is_(False))
        .order_by(TaskOffice.task_id, TaskOffice.position)
    )
    for task_id, office_id, is_lead, name in rows:
        out[task_id].append((office_id, bool(is_lead), name))
    return out


def _plan_milestones(session: Session, plan_id: int) -> dict[int, list[_MilestoneRow]]:
    """Task id → its milestones in the plan's order (Milestone.position)."""
    out: dict[int, list[_MilestoneRow]] = defaultdict(list)
    rows = _rows(session, 
        select(Milestone.task_id, Milestone.label, Milestone.text, Milestone.due)
        .join(Task, Task.id == Milestone.task_id)
        .where(Task.plan_id == plan_id, Task.removed.is_(False))
        .order_by(Milestone.task_id, Milestone.position)
    )
    for task_id, label, text, due in rows:
        out[task_id].append(_MilestoneRow(label, text, due))
    return out


def _newest_approved(session: Session, period: Period) -> dict[int, _Approved]:
    rows = _rows(session, 
        select(Submission.office_id, Submission.id, Submission.received_at, Submission.late)
        .where(Submission.period_id == period.id, Submission.state == "approved")
        .order_by(Submission.office_id, Submission.revision)
    )
    newest: dict[int, _Approved] = {}
    for office_id, sub_id, received_at, late in rows:
        newest[office_id] = _Approved(sub_id, received_at, bool(late))  # by revision: the last one wins
    return newest


def _approved_texts(session: Session, approved: Mapping[int, _Approved]) -> dict[tuple[int, int], _Text]:
    """(office id, task id) → the text of the newest approved submissions."""
    office_of = {sub.id: office_id for office_id, sub in approved.items()}
    if not office_of:
        return {}
    rows = _rows(session, 
        select(Entry.submission_id, Entry.task_id, Entry.progress, Entry.problems).where(
            Entry.submission_id.in_(list(office_of))
        )
    )
    return {(office_of[sub_id], task_id): _Text(progress, problems) for sub_id, task_id, progress, problems in rows}


def _pending_offices(session: Session, period: Period) -> set[int]:
    return set(
        session.scalars(
            select(Submission.office_id).where(
                Submission.period_id == period.id, Submission.state.in_(("pending_approval", "returned"))
            )
        )
    )


def _office_status(
    sub: _Approved | None, period: Period, tz: ZoneInfo, due_on: dt.date | None = None
) -> tuple[str, dt.date | None]:
    """:param due_on: the office's own due date (an extension), else the period's"""
    if sub is None:
        return MISSING, None
    received = _local_date(sub.received_at, tz)
    return (LATE if sub.late or received > (due_on or period.due_on) else ON_TIME), received


def _texts(leads: Sequence[_Lead], task_id: int, entries: Mapping[tuple[int, int], _Text]) -> tuple[str, str]:
    """Progress and problems of a task: one office's text, or each lead's text under its name."""
    progress: list[str] = []
    problems: list[str] = []
    prefixed = len(leads) > 1
    for lead in leads:
        entry = entries.get((lead.office_id, task_id))
        if entry is None:
            continue
        for out, text in ((progress, entry.progress), (problems, entry.problems)):
            text = clean(text).strip()
            if text:
                out.append(f"{lead.name}：{text}" if prefixed else text)
    return "\n".join(progress), "\n".join(problems)


def _month_split(
    milestones: Sequence[_MilestoneRow], year: int, month: int, first: dt.date
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """:param first: the first day of the period's month (``year``, ``month``)"""
    this_month: list[str] = []
    before: list[str] = []
    for m in milestones:
        if m.due is None:
            continue
        if m.due.year == year and m.due.month == month:
            this_month.append(_milestone_text(m))
        elif m.due < first:
            before.append(_milestone_text(m))
    return tuple(this_month), tuple(before)


def _leads(offices: Sequence[tuple[int, bool, str]], names: dict[str, str]) -> list[_Lead]:
    """The lead offices, names cleaned (``names`` caches clean() per raw name)."""
    leads = [o for o in offices if o[1]]
    # A task without a marked lead is led by its first office (the notice lists the lead first).
    out = []
    for office_id, _, raw in leads or offices[:1]:
        name = names.get(raw)
        if name is None:
            name = names[raw] = clean(raw)
        out.append(_Lead(office_id, name))
    return out


def notice_data(session: Session, period: Period, *, tz: str = DEFAULT_TZ) -> NoticeData:
    """Read what the consolidated notice of ``period`` shows: every task of the plan that is not removed,
    in 编号 order, with the approved text of its lead offices, its report status and its milestones,
    and the summary counts.

    :param tz: the bureau's timezone; the due day ends at midnight there
    :raises RegistryError: when the period's plan has no tasks
    """
    zone = ZoneInfo(tz)
    plan: Plan = period.plan
    session.flush()  # the selects below bypass the ORM's autoflush
    # The period's attributes as locals: an ORM attribute read costs ~3 µs, and there are 20,000 rows.
    year, month, key = period.year, period.month, period.key
    first = dt.date(year, month, 1)
    tasks = _plan_tasks(session, plan.id)
    if not tasks:
        raise RegistryError(f"计划“{plan.title}”没有任务，无法生成{period.key}的通报。请先导入任务一览表。")
    task_offices = _plan_offices(session, plan.id)
    task_milestones = _plan_milestones(session, plan.id)
    approved = _newest_approved(session, period)
    pending = _pending_offices(session, period)
    entries = _approved_texts(session, approved)
    dues: dict[int, dt.date] = {}
    statuses_of: dict[int, tuple[str, dt.date | None]] = {}

    def status_of(office_id: int) -> tuple[str, dt.date | None]:
        if office_id not in statuses_of:
            dues[office_id] = office_due_on(session, period, office_id)
            statuses_of[office_id] = _office_status(approved.get(office_id), period, zone, dues[office_id])
        return statuses_of[office_id]

    rows: list[NoticeRow] = []
    office_tasks: dict[int, list[int]] = defaultdict(list)
    office_names: dict[int, str] = {}
    names: dict[str, str] = {}
    done_before: dict[tuple[int, int], _Text] | None = None
    for task in tasks:
        leads = _leads(task_offices.get(task.id, []), names)
        if task.done_after and task.done_after < key:
            if done_before is None:  # the last approved text of the tasks 办结 earlier, read once
                done_before = {
                    (office_id, task_id): _Text(e.progress, e.problems)
                    for office_id, by_task in approved_entries_by_office(
                        session, plan, period.year, period.month
                    ).items()
                    for task_id, e in by_task.items()
                }
            progress, problems = _texts(leads, task.id, done_before)
            rows.append(
                NoticeRow(
                    seq=task.seq,
                    name=clean(task.name),
                    leads=tuple(lead.name for lead in leads),
                    progress=progress,
                    problems=problems,
                    status=DONE,
                    office_status=tuple((lead.name, DONE) for lead in leads),
                    due_this_month=(),
                    overdue=(),
                )
            )
            continue
        statuses = []
        for lead in leads:
            office_tasks[lead.office_id].append(task.seq)
            office_names[lead.office_id] = lead.name
            statuses.append((lead.name, status_of(lead.office_id)[0]))
        status = max((s for _, s in statuses), key=STATUS_ORDER.__getitem__, default=MISSING)
        progress, problems = _texts(leads, task.id, entries)
        due, overdue = _month_split(task_milestones.get(task.id, ()), year, month, first)
        rows.append(
            NoticeRow(
                seq=task.seq,
                name=clean(task.name),
                leads=tuple(n for n, _ in statuses),
                progress=progress,
                problems=problems,
                status=status,
                office_status=tuple(statuses),
                due_this_month=due,
                overdue=overdue,
            )
        )

    offices = []
    for office_id, seqs in office_tasks.items():
        status, received = status_of(office_id)
        offices.append(
            OfficeReport(
                office=office_names[office_id],
                status=status,
                received_on=received,
                pending=status == MISSING and office_id in pending,
                tasks=tuple(seqs),
            )
        )

    return NoticeData(
        org_name=clean(plan.org_name) or _org_from_title(clean(plan.title)),
        year=plan.year,
        month=period.month,
        span=span_label(period.month),
        due_on=period.due_on,
        plan_title=clean(plan.title),
        notice_title=clean(plan.notice_title),
        issuer=clean(plan.issuer),
        due_day=plan.due_day,
        rows=tuple(rows),
        offices=tuple(offices),
        summary=summarize(rows, offices),
        tz=tz,
    )


def with_lights(
    data: NoticeData, lights: Mapping[int, LightResult], on: dt.date, yellow_workdays: int
) -> NoticeData:
    """``data`` with each row's light ("●红", from ``lights`` by 编号) and the day they were judged at."""
    rows = tuple(replace(r, light=lights[r.seq].text) if r.seq in lights else r for r in data.rows)
    return replace(data, rows=rows, lights_on=on, yellow_workdays=yellow_workdays)


def _org_from_title(title: str) -> str:
    """ "台山市教育系统2022年重点工作任务一览表" → "台山市教育系统" (a plan imported without org_name)."""
    for i, ch in enumerate(title):
        if ch.isdigit():
            return title[:i]
    return title


def summarize(rows: Sequence[NoticeRow], offices: Sequence[OfficeReport]) -> NoticeSummary:
    """The counts of a notice: tasks by status, offices by status, milestones by lead office."""
    count = {ON_TIME: 0, LATE: 0, MISSING: 0, DONE: 0}
    for row in rows:
        count[row.status] += 1
    due: dict[str, int] = defaultdict(int)
    overdue: dict[str, int] = defaultdict(int)
    order: list[str] = []
    for row in rows:
        for office in row.leads:
            if office not in due:
                order.append(office)
            due[office] += len(row.due_this_month)
            overdue[office] += len(row.overdue)
    by_office = tuple(OfficeMilestones(o, due[o], overdue[o]) for o in order if due[o] or overdue[o])

    def names(status: str) -> tuple[str, ...]:
        return tuple(o.office for o in offices if o.status == status)

    return NoticeSummary(
        total=len(rows),
        on_time=count[ON_TIME],
        late=count[LATE],
        missing=count[MISSING],
        on_time_offices=names(ON_TIME),
        late_offices=names(LATE),
        missing_offices=names(MISSING),
        pending_offices=tuple(o.office for o in offices if o.pending),
        milestones_due=sum(len(r.due_this_month) for r in rows),
        milestones_overdue=sum(len(r.overdue) for r in rows),
        tasks_with_due=sum(1 for r in rows if r.due_this_month),
        by_office=by_office,
        done=count[DONE],
    )


# --- the prose ------------------------------------------------------------------------------------------


def cn_index(n: int) -> str:
    """1 → "一", 12 → "十二" (for "（一）" headings)."""
    if n <= 10:
        return _CN_NUM[n - 1]
    if n < 20:
        return "十" + _CN_NUM[n - 11]
    tens, ones = divmod(n, 10)
    return _CN_NUM[tens - 1] + "十" + (_CN_NUM[ones - 1] if ones else "")


def md(d: dt.date) -> str:
    return f"{d.month}月{d.day}日"


def ymd(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _names(names: Sequence[str], limit: int = 12) -> str:
    """ "基财股、人事股" — long lists are cut with "等N个股室" so a 2,000-office plan stays readable."""
    if len(names) <= limit:
        return "、".join(names)
    return "、".join(names[:limit]) + f"等{len(names)}个股室"


def _seqs(seqs: Sequence[int], limit: int = 8) -> str:
    """[9, 10, 11, 12, 15] → "第9—12、15项": runs of consecutive numbers as ranges."""
    runs: list[list[int]] = []
    for n in sorted(set(seqs)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [f"{r[0]}—{r[-1]}" if len(r) > 2 else "、".join(map(str, r)) for r in runs]
    return "第" + "、".join(parts[:limit]) + "项" + ("等" if len(parts) > limit else "")


def opening_text(d: NoticeData) -> str:
    basis = f"根据《{d.notice_title}》要求，" if d.notice_title else ""
    return (
        f"{basis}各牵头股室对{d.org_name}{d.year}年重点工作任务{d.span}落实情况进行了报送，"
        "局办公室进行了汇总梳理。现将有关情况通报如下："
    )


def overview_text(d: NoticeData) -> str:
    s = d.summary
    head = f"截至{md(d.due_on)}，{s.total}项重点工作任务中，"
    done = f"，另有{s.done}项已办结" if s.done else ""
    if s.late == 0 and s.missing == 0:
        return head + "各牵头股室均已按时报送进展情况" + done + "。"
    parts = [f"按时报送{s.on_time}项"] if s.on_time else []
    if s.late:
        parts.append(f"逾期报送{s.late}项（{_names(s.late_offices)}）")
    if s.missing:
        parts.append(f"未报送{s.missing}项（{_names(s.missing_offices)}）")
    if s.done:
        parts.append(f"已办结{s.done}项")
    return head + "，".join(parts) + "。"


def milestone_overview_text(d: NoticeData) -> str:
    s = d.summary
    if not s.milestones_due and not s.milestones_overdue:
        return f"按照任务一览表确定的关键时间节点，{d.month}月无到期节点。"
    due = (
        f"{d.month}月到期节点{s.milestones_due}个，涉及{s.tasks_with_due}项任务"
        if s.milestones_due
        else f"{d.month}月无到期节点"
    )
    before = f"；此前月份已到期节点{s.milestones_overdue}个" if s.milestones_overdue else ""
    return f"按照任务一览表确定的关键时间节点，{due}{before}（详见附件）。"


def milestone_offices_text(d: NoticeData) -> str:
    """ "基财股本月到期2个、此前到期3个；人事股…。" — one clause per lead office with due milestones."""
    clauses = []
    for m in d.summary.by_office:
        bits = []
        if m.due_this_month:
            bits.append(f"本月到期{m.due_this_month}个")
        if m.overdue:
            bits.append(f"此前到期{m.overdue}个")
        clauses.append(m.office + "、".join(bits))
    return ("各牵头股室到期节点情况：" + "；".join(clauses) + "。") if clauses else ""


def reporting_items(d: NoticeData) -> list[dict[str, str]]:
    """The "（一）按时报送。…" paragraphs, one per status that occurs."""
    by_status: dict[str, list[OfficeReport]] = defaultdict(list)
    for o in d.offices:
        by_status[o.status].append(o)
    items: list[tuple[str, str]] = []
    if by_status[ON_TIME]:
        offs = by_status[ON_TIME]
        text = f"{_names([o.office for o in offs])}{_count(offs)}按时报送，涉及任务{_task_count(offs)}项。"
        items.append(("按时报送。", text))
    if by_status[LATE]:
        offs = by_status[LATE]
        clauses = [
            f"{o.office}于{md(o.received_on)}报送（{_seqs(o.tasks)}任务），逾期{_days_late(o, d)}天"
            for o in offs[:12]
            if o.received_on
        ]
        more = f"等{len(offs)}个股室" if len(offs) > 12 else ""
        items.append(("逾期报送。", "；".join(clauses) + more + "。"))
    if by_status[MISSING]:
        offs = by_status[MISSING]
        text = f"{_names([o.office for o in offs])}{_count(offs)}未报送，涉及{_seqs(_all_tasks(offs))}任务。"
        pending = [o.office for o in offs if o.pending]
        if pending:
            text += f"其中，{_names(pending)}报表已提交，尚待分管负责同志审定。"
        text += "请上述股室抓紧补报。"
        items.append(("未报送。", text))
    return [{"head": f"（{cn_index(i)}）{head}", "text": text} for i, (head, text) in enumerate(items, 1)]


def _count(offs: Sequence[OfficeReport]) -> str:
    return f"共{len(offs)}个股室" if len(offs) > 1 else ""


def _all_tasks(offs: Sequence[OfficeReport]) -> list[int]:
    return sorted({seq for o in offs for seq in o.tasks})


def _task_count(offs: Sequence[OfficeReport]) -> int:
    return len(_all_tasks(offs))


def _days_late(o: OfficeReport, d: NoticeData) -> int:
    return max(1, ((o.received_on or d.due_on) - d.due_on).days)


def annex_note_text(d: NoticeData) -> str:
    note = (
        f"说明：报送情况以各牵头股室经分管负责同志审定的报表为准，报送截止时间为{ymd(d.due_on)}；"
        "节点情况按任务一览表所列关键时间节点统计，“本月到期”指本月到期的节点，“已到期”指此前月份已到期的节点。"
    )
    if d.lights_on is None:
        return note
    return note + (
        f"亮灯情况截至{ymd(d.lights_on)}：●红灯指节点已到期而审定报表未报完成，或逾期报送、未报送；"
        f"●黄灯指节点{d.yellow_workdays}个工作日内到期而未报完成，或报表待审定、被退回；●绿灯指按计划推进。"
    )
