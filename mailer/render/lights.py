"""亮灯: each task lit green, yellow or red by its reports against its dated milestones — one rule, written once.

The rule (configurable: ``[lights] yellow_workdays`` in duban.toml, default 5):

- **red** (红灯): a milestone is overdue — its date has passed and no approved report says it is done —
  or a lead office is late with its report (none by its due date, or received after it);
- **yellow** (黄灯): a milestone falls due within N working days (holidays.toml / chinese-calendar) and no
  approved report says it is done, or a lead office's report is not yet approved (awaiting its leader,
  returned for changes, or sent back for format errors);
- **green** (绿灯): on schedule — the milestones met, the report approved (or not due yet).

Red wins over yellow, yellow over green. A task 办结 before the period is green. Every light comes with its
reasons in Chinese, so the console, ``duban status``, the notice's annex and the ledger can say *why*.

"A report says it is done" is read from the 进展情况 text of approved reports (the form has no status
column): the clauses about a milestone are those under its ordinal ("一是…", as the plan numbers it) or
those naming its subject (four-character runs of the milestone text without its date), and a clause says
done when it reads 已完成 / 已于3月25日完成 / 顺利完成 / 完成了 / 已办结 / 已竣工 … and not 未完成, 尚未,
基本完成 or a percentage. Any approved report of the period or of an earlier one counts (done stays done).

The rule itself (:func:`evaluate`, :func:`judge`, :func:`reported_done`) is pure over plain data
(:class:`TaskFacts`); :func:`task_lights` and :func:`office_lights` build the facts from the registry, read
as plain rows (mailer.registry.rows: through a session, or by `duban status` without SQLAlchemy).
Every document and the console use the result; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from mailer.common.periods import month_end
from mailer.plan.milestones import split_labels, tidy
from mailer.registry.deadlines import dates_with, extensions
from mailer.registry.rows import Rows, as_rows, day, flag
from mailer.registry.status import office_states

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailer.common.config import Settings
    from mailer.registry.model import Period, Task
    from mailer.registry.rows import PeriodRow


class Light(enum.Enum):
    """A task's light. The value is the CSS-friendly name (``green`` …)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def label(self) -> str:
        """绿 / 黄 / 红"""
        return {"green": "绿", "yellow": "黄", "red": "红"}[self.value]

    @property
    def symbol(self) -> str:
        return "●"

    @property
    def text(self) -> str:
        """ "●绿": the mark used in text output (status table, notice annex, ledger cell)."""
        return f"{self.symbol}{self.label}"

    @property
    def css(self) -> str:
        return self.value

    @property
    def rgb(self) -> str:
        """A fill colour (hex, no #) for spreadsheet cells and charts: muted so black text stays readable."""
        return {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE"}[self.value]

    @property
    def rank(self) -> int:
        return {"green": 0, "yellow": 1, "red": 2}[self.value]

    @classmethod
    def worst(cls, lights: Iterable[Light]) -> Light:
        """The worst of ``lights`` (red over yellow over green); green when there are none."""
        return max(lights, key=lambda x: x.rank, default=cls.GREEN)


# --- the facts the rule reads -------------------------------------------------------------------------

REPORT_STATES = ("approved", "pending", "returned", "invalid", "none")
_REPORT_CN = {
    "pending": "报表待分管负责同志审定",
    "returned": "报表已退回修改",
    "invalid": "报表格式有误，待重新报送",
}


@dataclass(frozen=True)
class MilestoneFact:
    """One milestone: ``done`` when an approved report says so (:func:`reported_done`)."""

    label: str  # 一是 …, "" when unlabelled
    text: str
    due: dt.date | None  # None: 年内 / undated — never lights anything
    done: bool = False

    @property
    def title(self) -> str:
        text = self.text.strip().rstrip("。；;，, ")
        return text if not self.label or text.startswith(self.label) else f"{self.label}{text}"


@dataclass(frozen=True)
class OfficeFact:
    """One lead office's report for the period."""

    office: str
    report: str  # one of REPORT_STATES: the newest submission's state, "none" when nothing came
    late: bool = False  # no proper report by its due date, or one received after it
    days_late: int = 0
    due_on: dt.date | None = None  # the office's due date (an extension included)


@dataclass(frozen=True)
class TaskFacts:
    """What the rule needs to know about one task in one period."""

    seq: int
    name: str
    milestones: tuple[MilestoneFact, ...] = ()
    offices: tuple[OfficeFact, ...] = ()
    closed: bool = False  # 办结 before this period


@dataclass(frozen=True)
class LightResult:
    light: Light
    reasons: list[str] = field(default_factory=list)  # Chinese, most serious first

    @property
    def text(self) -> str:
        return self.light.text

    def to_dict(self) -> dict[str, object]:
        return {"light": self.light.value, "label": self.light.label, "reasons": list(self.reasons)}


class WorkCalendar(Protocol):
    """What the rule asks of :class:`mailer.common.workdays.Calendar`."""

    def add_workdays(self, d: dt.date, n: int) -> dt.date: ...

    def workdays_before(self, d: dt.date, n: int) -> dt.date: ...


# --- the rule ------------------------------------------------------------------------------------------


def _md(d: dt.date) -> str:
    return f"{d.month}月{d.day}日"


def yellow_until(calendar: WorkCalendar, today: dt.date, workdays: int) -> dt.date:
    """The last day a milestone counts as "due within ``workdays`` working days" of ``today``:
    the ``workdays``-th working day after today (today itself when 0)."""
    return calendar.add_workdays(today, workdays) if workdays > 0 else today


def _effective_due(calendar: WorkCalendar, due: dt.date) -> dt.date:
    # "6月底前" when 30 June is a Sunday means by Friday the 28th: the last working day on or before it.
    return calendar.workdays_before(due, 0)


# A milestone's state on a day, as the ledger's milestone sheet shows it.
DONE, OVERDUE, SOON, LATER, UNDATED = "已完成", "逾期", "临近", "未到期", "未定时限"


def milestone_state(
    m: MilestoneFact, *, today: dt.date, horizon: dt.date, calendar: WorkCalendar | None = None
) -> str:
    """DONE, OVERDUE (its date passed, not reported done), SOON (due by ``horizon``), LATER or UNDATED."""
    if m.done:
        return DONE
    if m.due is None:
        return UNDATED
    if m.due < today:
        return OVERDUE
    if (_effective_due(calendar, m.due) if calendar else m.due) <= horizon:
        return SOON
    return LATER


def evaluate(
    facts: TaskFacts, *, today: dt.date, horizon: dt.date, calendar: WorkCalendar | None = None
) -> LightResult:
    """The light of one task: the rule of the module docstring, over plain data.

    :param today: the day the light is for (a milestone due today is not overdue yet)
    :param horizon: the last day "due soon" reaches (:func:`yellow_until`)
    :param calendar: moves a due date on a day off back to the working day before it; None: dates as written
    """
    if facts.closed:
        return LightResult(Light.GREEN, ["任务已办结"])
    red: list[str] = []
    yellow: list[str] = []
    for m in facts.milestones:
        state = milestone_state(m, today=today, horizon=horizon, calendar=calendar)
        if state == OVERDUE and m.due:
            red.append(f"节点逾期未完成：{m.title}（{_md(m.due)}到期）")
        elif state == SOON and m.due:
            yellow.append(f"节点临近未完成：{m.title}（{_md(m.due)}到期）")
    for o in facts.offices:
        if o.late:
            if o.report == "none":
                red.append(f"{o.office}逾期未报送{f'{o.days_late}天' if o.days_late else ''}")
            else:
                red.append(f"{o.office}逾期报送{f'{o.days_late}天' if o.days_late else ''}")
        if o.report in _REPORT_CN:
            yellow.append(f"{o.office}{_REPORT_CN[o.report]}")
    if red:
        return LightResult(Light.RED, red + yellow)
    if yellow:
        return LightResult(Light.YELLOW, yellow)
    reasons = ["按计划推进"]
    for o in facts.offices:
        if o.report == "none" and o.due_on is not None:
            reasons.append(f"{o.office}本期尚未报送（截止{_md(o.due_on)}）")
    return LightResult(Light.GREEN, reasons)


def judge(facts: TaskFacts, *, today: dt.date, calendar: WorkCalendar, yellow_workdays: int) -> LightResult:
    """:func:`evaluate` with the horizon counted in the home's working days."""
    return evaluate(
        facts, today=today, horizon=yellow_until(calendar, today, yellow_workdays), calendar=calendar
    )


# --- reading "done" from the reported text ---------------------------------------------------------------

_VERBS = (
    "完成|办结|竣工|完工|建成|落实|实现|印发|出台|召开|举办|启用|投入使用|通过验收|交付使用|交付|验收|拨付|签订|发放|"
    "下达|公布|发布|上线|开通|挂牌|揭牌|开工"
)
# "已完成", "已于3月25日完成", "已与新会区签订": 已 and an adverbial of time, place or partner before the verb.
_ALREADY = (
    r"(?:已经?|均已|业已|全部|全面|顺利|如期|按时|按期|提前)"
    r"(?:[于与和同在向对经][^，。；;,\n]{0,16}?)?(?:全部|全面|顺利|如期)?"
)
_NOT_DONE = re.compile(
    r"(?:未|尚未|没有|暂未|未能|无法)(?:能|全部|按期|按时|如期)?(?:"
    + _VERBS
    + r")|基本完成|部分完成|大部分|大部|正在|推进中|进行中|[%％]|百分之|[一二三四五六七八九]成"
)
# A milestone's own verb ("开展施工招标" → 开展) counts when the report says it was done ("已开展"), unless it
# names ongoing work that is never finished by saying it was done once.
_ONGOING = {
    "加强",
    "推进",
    "做好",
    "持续",
    "进一",
    "深化",
    "巩固",
    "提升",
    "强化",
    "推动",
    "继续",
    "常态",
    "做实",
}
_SENTENCE = re.compile(r"[。；;]")
_CLAUSE = re.compile(r"[，。；;,\n！!？?]")
_DATE_WORDS = re.compile(
    r"\d{4}年|(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])月(?:[0-3]?\d[日号])?(?:底|末|份|上旬|中旬|下旬)?"
    r"(?:之前|以前|前)?|年[底末](?:之前|以前|前)?|[上下]半年|年内|全年"
)
_GENERIC = re.compile(_VERBS + r"|全面|开展|推进|做好|加强|组织|进一步|有关|相关|工作|任务|进行")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{4,}")


# _done_pattern and _grams are pure and asked again for the same milestone text for every report text and
# every sibling milestone (``others``): cached, the 20,000-row notice's lights no longer recompute them.
@functools.lru_cache(maxsize=8192)
def _done_pattern(text: str) -> re.Pattern[str]:
    """What a clause says when the milestone ``text`` is done: 已(于…)完成 / 已开展 (its own verb) / 完成了."""
    core = _DATE_WORDS.sub("", tidy(text)).lstrip("，,、：: ")
    verbs = _VERBS
    own = core[:2]
    # Only a verb opens a milestone's sentence; "与东部新会区签订…" opens with a preposition.
    if own[:1] not in "与和同在向对经为由从将把" and re.fullmatch(r"[\u4e00-\u9fff]{2}", own) and own not in _ONGOING:
        verbs += "|" + re.escape(own)
    return re.compile(_ALREADY + "(?:" + verbs + ")|完成了")


def _clause_done(clause: str, done: re.Pattern[str]) -> bool:
    return bool(done.search(clause)) and not _NOT_DONE.search(clause)


@functools.lru_cache(maxsize=8192)
def _grams(text: str) -> frozenset[str]:
    """Four-character runs of a milestone's subject: "3月底前完成招标文件编制" → 招标文件, 标文件编, 文件编制."""
    core = _GENERIC.sub("|", _DATE_WORDS.sub("|", tidy(text)))
    return frozenset(run[i : i + 4] for run in _CJK_RUN.findall(core) for i in range(len(run) - 3))


def _clauses(text: str) -> list[str]:
    return [c for c in (x.strip() for x in _CLAUSE.split(text)) if c]


def reported_done(label: str, text: str, progress: str, others: Sequence[str] = ()) -> bool:
    """Whether the 进展情况 ``progress`` says the milestone (``label`` "一是", ``text``) is done.

    A clause under the same ordinal ("一是已完成招标文件编制") decides for the whole milestone. Otherwise
    each sentence of the milestone ("完成A。完成B") must be matched by a clause that says it is done and
    names its subject: two of its four-character runs (or its only one) that the task's ``others``
    milestones do not share — "教学楼基础工程已完工" does not finish "教学楼建设工程", nor "春季学期经费已
    拨付" the "秋季学期" one.
    """
    progress = tidy(progress)
    if not progress:
        return False
    if label:
        under: list[str] = []
        for line in progress.split("\n"):
            for piece_label, piece in split_labels(line):
                if piece_label == label:
                    under += _clauses(piece)
        if any(_clause_done(c, _done_pattern(text)) for c in under):
            return True
    clauses = _clauses(progress)
    shared = set().union(*(_grams(o) for o in others)) if others else set()
    checked = False
    for part in _SENTENCE.split(tidy(text)):
        grams = _grams(part) - shared
        if not grams:
            continue  # nothing of its own to recognise it by: the other sentences decide
        need = min(2, len(grams))
        done = _done_pattern(part)
        if not any(_clause_done(c, done) for c in clauses if sum(g in c for g in grams) >= need):
            return False
        checked = True
    return checked


# --- the registry loader ------------------------------------------------------------------------------

_STATE_REPORT = {"已审定": "approved", "待审定": "pending", "已退回": "returned", "格式有误": "invalid"}


def as_of(period: Period | PeriodRow, today: dt.date) -> dt.date:
    """The day a period's lights are judged at: ``today``, but no later than the end of the period's month —
    a past period keeps the lights it ended with, instead of turning red for milestones due after it."""
    return min(today, month_end(period.year, period.month))


def _approved_progress(rows: Rows, period: Period | PeriodRow) -> dict[int, list[str]]:
    """Task id → the 进展情况 of every approved report of the plan from this period or an earlier one."""
    found = rows.all(
        "SELECT e.task_id, e.progress FROM entries e"
        " JOIN submissions s ON e.submission_id = s.id"
        " JOIN periods p ON s.period_id = p.id"
        " WHERE p.plan_id = :plan_id AND s.state = 'approved'"
        " AND (p.year < :year OR (p.year = :year AND p.month <= :month))",
        plan_id=period.plan_id,
        year=period.year,
        month=period.month,
    )
    out: dict[int, list[str]] = defaultdict(list)
    for task_id, progress in found:
        if progress:
            out[task_id].append(progress)
    return out


# The current tasks of a plan (not removed), for the loader's queries below.
_CURRENT = "t.plan_id = :plan_id AND NOT t.removed"


def _facts_by_id(
    db: Session | Rows, settings: Settings, period: Period | PeriodRow, today: dt.date
) -> list[tuple[int, TaskFacts]]:
    """(task id, facts) of every current task of the period's plan (not removed), in 编号 order, at ``today``.

    Plain rows, never ORM objects: at 20,000 tasks building Task, TaskOffice, Office and Milestone objects
    cost seconds (the SQL a tenth of it), and the consolidated notice reads these facts for its annex.
    """
    rows = as_rows(db)
    zone = ZoneInfo(settings.cycle.timezone)
    at = as_of(period, today)
    # office_states reads its clock as an instant: noon of the day, in the bureau's timezone.
    now = dt.datetime.combine(at, dt.time(12), tzinfo=zone)
    states = {st.office_id: st for st in office_states(rows, period, now=now, tz=settings.cycle.timezone)}
    exts = extensions(rows, period)  # one query, not one per lead office

    progress = _approved_progress(rows, period)
    plan = {"plan_id": period.plan_id}
    offices: dict[int, list[tuple[int, bool, str]]] = defaultdict(list)
    for task_id, office_id, is_lead, name in rows.all(
        "SELECT tof.task_id, tof.office_id, tof.is_lead, o.name FROM task_offices tof"
        " JOIN tasks t ON t.id = tof.task_id JOIN offices o ON o.id = tof.office_id"
        f" WHERE {_CURRENT} ORDER BY tof.task_id, tof.position",
        **plan,
    ):
        offices[task_id].append((office_id, flag(is_lead), name))
    milestones: dict[int, list[tuple[str, str, dt.date | None]]] = defaultdict(list)
    for task_id, label, text, due in rows.all(
        "SELECT m.task_id, m.label, m.text, m.due FROM milestones m JOIN tasks t ON t.id = m.task_id"
        f" WHERE {_CURRENT} ORDER BY m.task_id, m.position",
        **plan,
    ):
        milestones[task_id].append((label, text, day(due)))
    out = []
    dues: dict[int, dt.date] = {}
    facts_of: dict[int, OfficeFact] = {}
    for task_id, seq, name, done_after in rows.all(
        f"SELECT t.id, t.seq, t.name, t.done_after FROM tasks t WHERE {_CURRENT} ORDER BY t.seq", **plan
    ):
        closed = bool(done_after and done_after < period.key)
        texts = progress.get(task_id, [])
        ms = milestones.get(task_id, [])
        facts = tuple(
            MilestoneFact(
                label=label,
                text=text,
                due=due,
                done=any(reported_done(label, text, p, [o[1] for j, o in enumerate(ms) if j != i]) for p in texts),
            )
            for i, (label, text, due) in enumerate(ms)
        )
        links = offices.get(task_id, [])
        leads = [o for o in links if o[1]] or links[:1]  # the notice lists the lead first when none is marked
        office_facts = []
        for office_id, _, office_name in leads:
            if office_id not in facts_of:
                dues[office_id] = dates_with(period, exts.get(office_id)).due_on
                st = states.get(office_id)
                facts_of[office_id] = OfficeFact(
                    office=office_name,
                    report=_STATE_REPORT.get(st.state, "none") if st else "none",
                    # A skipped month (`duban period skip`) asked nobody for a report: nobody is late in it.
                    late=bool(st and st.late) and period.state != "skipped",
                    days_late=st.days_late if st else 0,
                    due_on=dues[office_id],
                )
            office_facts.append(facts_of[office_id])
        out.append((task_id, TaskFacts(seq, name, facts, tuple(office_facts), closed)))
    return out


def task_facts(
    session: Session, settings: Settings, period: Period, today: dt.date
) -> list[tuple[Task, TaskFacts]]:
    """The facts of every current task of the period's plan (not removed), in 编号 order, at ``today``,
    each with its Task (for the ledger, which reads more of the task than the rule does)."""
    from sqlalchemy import select

    from mailer.registry.model import Task

    facts = _facts_by_id(session, settings, period, today)
    tasks = {
        t.id: t for t in session.scalars(select(Task).where(Task.plan_id == period.plan_id, Task.removed.is_(False)))
    }
    return [(tasks[i], f) for i, f in facts]


def _judged(
    db: Session | Rows, settings: Settings, period: Period | PeriodRow, today: dt.date
) -> list[tuple[int, TaskFacts, LightResult]]:
    """(task id, facts, light) of every current task of the period at ``today`` (judged at :func:`as_of`), by
    编号: what :func:`lit_tasks`, :func:`task_lights` and :func:`lights_by_seq` key differently."""
    at = as_of(period, today)
    n = settings.lights.yellow_workdays
    return [
        (i, f, judge(f, today=at, calendar=settings.calendar, yellow_workdays=n))
        for i, f in _facts_by_id(db, settings, period, today)
    ]


def lit_tasks(
    db: Session | Rows, settings: Settings, period: Period | PeriodRow, today: dt.date
) -> list[tuple[TaskFacts, LightResult]]:
    """Every current task of the period (its facts: 编号, name, …) with its light at ``today`` (judged at
    :func:`as_of`), by 编号."""
    return [(f, light) for _, f, light in _judged(db, settings, period, today)]


def task_lights(
    db: Session | Rows, settings: Settings, period: Period | PeriodRow, today: dt.date
) -> dict[int, LightResult]:
    """Task id → its light in ``period`` at ``today`` (judged at :func:`as_of`), for every current task."""
    return {i: light for i, _, light in _judged(db, settings, period, today)}


def lights_by_seq(
    db: Session | Rows, settings: Settings, period: Period | PeriodRow, today: dt.date
) -> dict[int, LightResult]:
    """:func:`task_lights` keyed by the task's 编号 instead of its id."""
    return {f.seq: light for _, f, light in _judged(db, settings, period, today)}


def office_lights(
    lights: dict[int, LightResult], offices: Sequence[tuple[str, Sequence[int]]]
) -> dict[str, Light]:
    """Office name → the worst light of the tasks it leads (``offices``: name and task seqs; ``lights`` by seq)."""
    return {name: Light.worst(lights[s].light for s in seqs if s in lights) for name, seqs in offices}
