"""Judge a parsed progress form against the registry: whose form, which period, which task each row is,
and what the office must fix — every finding in Chinese, naming the row (编号 N「项目名称」), the column and
what to do. Nothing is written; the caller records the result.

Rows are matched to the office's tasks by 编号 and name, tolerant of spacing and punctuation edits
(:func:`mailer.common.text.key`): the name decides when it names one of the office's tasks exactly; otherwise the
number decides when the name was edited lightly (or left empty); a row without a number is matched by its
name alone. Reordered rows and added empty rows are accepted; identical duplicates too, with a warning
naming their lines (the first is recorded).

What offices do to the table, judged as a bureau would: rows added under a task with no 编号 and name
are that task's (a warning says so); a row with a name but no 编号 that is no task is an error offering
both fixes; 进展情况 merged over two tasks is an error naming both rows (存在问题 / 备注 merged that way are
recorded for both, with a warning); 进展情况 of only spaces or dashes is empty, and one that only points
elsewhere ("见附件", "同上") is an error, since the notice prints the table's text and never an
attachment (a mention beside real text is a warning); text added to the pre-filled 主要内容 is a warning,
or an error naming that column when 进展情况 was left empty. The pre-filled 主要内容 deleted is fine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.errors import RegistryError
from mailer.common.periods import period_key, span_label
from mailer.common.text import key, squash
from mailer.common.tokens import make_token
from mailer.registry.model import Dispatch, Document, Entry, Office, Period, Plan, Task
from mailer.registry.offices import find_office
from mailer.registry.queries import active_plan, last_approved_entries, lead_tasks

if TYPE_CHECKING:
    from mailer.read.formparse import FormRow, ParsedForm

SIMILAR = 0.6  # difflib ratio of two name keys above which a name counts as "edited lightly"
_MARKS = re.compile(r"【(?:本月到期|已到期)】")  # the milestone marks forms.py puts in 主要内容
# 进展情况 that only points elsewhere: the notice prints the table's text, never an attachment, so such a
# report has no progress to publish. Matched on the whole cell (spaces and end punctuation dropped).
_REFERENCE_ONLY = re.compile(
    r"[（(]?(?:详|具体|请|参)?见(?:附件|附表|附页|另附材料|另附|邮件正文|邮件|正文)[0-9一二三四五六七八九十]*"
    r"(?:[《“\"].{0,40}[》”\"])?[）)]?|同上|同上行|同前|见上|略"
)
_MENTIONS_ATTACHMENT = re.compile(r"见(?:附件|附表|附页|另附)")
_END_PUNCT = "。.；;，,！!"


@dataclass(frozen=True)
class Finding:
    """One problem found in a form. ``level`` "error" blocks the submission; "warning" is told only."""

    level: str  # error | warning
    message: str  # Chinese, for the office: which row, which column, what to do
    seq: int | None = None  # 编号 of the row concerned, if any
    name: str = ""  # 项目名称 of the row concerned, if any
    column: str = ""  # the column concerned (进展情况, 填报股室, 标题…), "" for a whole row or the form

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EntryData:
    """One task's report as read from the form, ready to become an :class:`mailer.registry.model.Entry`."""

    task_id: int
    seq: int
    name: str  # the task's name in the registry (not as typed)
    progress: str
    problems: str
    remark: str


@dataclass
class FormCheck:
    """The verdict on one parsed form."""

    office: Office | None
    year: int | None
    month: int | None
    token: str | None
    filled_by: str
    filled_on: str
    entries: list[EntryData] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    office_by: str = ""  # how the office was known: expected | token | 填报股室

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return not any(f.level == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level != "error"]


def resolve_token(
    session: Session, plan: Plan, token: str, secret_key: bytes | None = None
) -> tuple[Office, int, int] | None:
    """(office, year, month) of the form ``token`` was issued for: from the forms and mails on record,
    else by recomputing the HMAC for each office of the plan when ``secret_key`` is given."""
    doc = session.scalars(
        select(Document).where(Document.token == token, Document.office_id.is_not(None))
    ).first()
    ref: tuple[int | None, int | None] | None = (doc.period_id, doc.office_id) if doc is not None else None
    if ref is None:
        d = session.scalars(
            select(Dispatch).where(Dispatch.token == token, Dispatch.office_id.is_not(None))
        ).first()
        ref = (d.period_id, d.office_id) if d is not None else None
    if ref is not None and ref[0] is not None and ref[1] is not None:
        period, office = session.get(Period, ref[0]), session.get(Office, ref[1])
        if period is not None and office is not None:
            return office, period.year, period.month
    if secret_key is None or len(token) < 7 or not token[3:7].isdigit():
        return None
    yy, month = int(token[3:5]), int(token[5:7])
    year = plan.year if plan.year % 100 == yy else 2000 + yy
    for office in session.scalars(select(Office).order_by(Office.id)):
        if make_token(secret_key, plan.id, year, month, office.id) == token:
            return office, year, month
    return None


# --- messages ----------------------------------------------------------------------------------------------


def row_label(seq: int | None, name: str, line: int = 0) -> str:
    """How a message names a row: 编号 3「提升…」, or「名称」, or 第 4 行 (of the table's task rows)."""
    if seq is not None and name:
        return f"编号 {seq}「{name}」"
    if seq is not None:
        return f"编号 {seq}"
    if name:
        return f"「{name}」"
    return f"第 {line} 行"


def _span(year: int | None, month: int | None) -> str:
    if month is None:
        return "（未写明月份）"
    return f"{year}年{span_label(month)}" if year else span_label(month)


# --- the check ------------------------------------------------------------------------------------------------


@dataclass
class _Match:
    rows: dict[int, list[FormRow]] = field(default_factory=dict)  # task id → rows
    findings: list[Finding] = field(default_factory=list)
    by_line: dict[int, Task] = field(default_factory=dict)  # FormRow.line → the task it was matched to


def _similar(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if (len(a) >= 2 and a in b) or (len(b) >= 2 and b in a):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= SIMILAR


def _match_rows(rows: list[FormRow], tasks: list[Task], plan: Plan, office: Office) -> _Match:
    by_seq = {t.seq: t for t in tasks}
    by_key = {key(t.name): t for t in tasks}
    out = _Match()
    above: Task | None = None  # the task of the rows just above (for a row added under it)
    for row in rows:
        k = key(row.name)
        task = by_key.get(k) if k else None
        if task is not None and row.number is not None and row.number != task.seq:
            out.findings.append(
                Finding(
                    "warning",
                    f"{row_label(row.number, row.name)}：编号与项目名称不符，已按项目名称认定为编号 {task.seq}。"
                    "请勿修改下发表格中的编号。",
                    task.seq,
                    task.name,
                    "编号",
                )
            )
        if task is None and row.number is not None and row.number in by_seq:
            cand = by_seq[row.number]
            if not k or _similar(k, key(cand.name)):
                task = cand
        if task is None and row.number is None and k:
            best = max(
                tasks, key=lambda t: difflib.SequenceMatcher(None, k, key(t.name)).ratio(), default=None
            )
            if best is not None and _similar(k, key(best.name)):
                task = best
        if task is None:
            out.findings.append(_stranger(row, plan, office, above))
            if row.number is not None:
                above = None
            continue
        out.rows.setdefault(task.id, []).append(row)
        out.by_line[row.line] = above = task
    return out


def _stranger(row: FormRow, plan: Plan, office: Office, above: Task | None = None) -> Finding:
    """The error for a row that is none of the office's tasks, saying whose task it is if it is one, and
    what to do with a row someone added under a task (``above``)."""
    k = key(row.name)
    other = next(
        (
            t
            for t in plan.tasks
            if not t.removed and ((k and key(t.name) == k) or (not k and t.seq == row.number))
        ),
        None,
    )
    label = row_label(row.number, row.name, row.line)
    if other is not None:
        leads = "、".join(to.office.name for to in other.offices if to.is_lead) or "其他股室"
        return Finding(
            "error",
            f"{label}不是{office.name}牵头的任务（牵头股室：{leads}），请从本表中删除该行；该任务的进展由牵头股室报送。",
            row.number,
            row.name,
        )
    if row.number is None and not k:
        return Finding(
            "error",
            f"{label}没有填写编号和项目名称，无法确定是哪项任务的内容。请把内容填入对应任务所在行，然后删除该行。",
        )
    if row.number is None and above is not None:
        # A sub-item row with its own name (e.g. one school of a task) under a task: which task it belongs
        # to is a guess, and it could as well be a task the office made up, so the office decides.
        return Finding(
            "error",
            f"第 {row.line} 行「{row.name}」没有编号，也不是{office.name}牵头的任务。"
            f"如是{row_label(above.seq, above.name)}的分项内容，请写入该任务的“进展情况”栏（可分段填写），"
            "或把这一行的“项目名称”栏清空（编号和项目名称都空着的行会并入上一项任务）；否则请删除该行。",
            None,
            row.name,
        )
    return Finding(
        "error",
        f"{label}不是{office.name}牵头的任务，也不在本年度重点工作任务清单中。"
        "请删除该行，或改回下发表格中的编号和项目名称。",
        row.number,
        row.name,
    )


def _same(a: FormRow, b: FormRow) -> bool:
    return all(squash(getattr(a, f)) == squash(getattr(b, f)) for f in ("progress", "problems", "remark"))


def _typed_into_content(row: FormRow, task: Task) -> str:
    """Text the office added to the pre-filled 主要内容 cell (its own lines, not the plan's), when the cell
    still holds the plan; "" otherwise (a cell emptied or rewritten is no sign of a wrong column)."""
    plan_keys = {key(line) for line in task.content.split("\n")} | {
        key(f"{m.label}{m.text}") for m in task.milestones
    }
    plan_keys.discard("")
    lines = [_MARKS.sub("", line).strip() for line in row.content.split("\n")]
    keys = {key(line) for line in lines}
    if not plan_keys or not plan_keys <= keys:
        return ""
    return "\n".join(line for line in lines if key(line) and key(line) not in plan_keys)


def _clip(text: str, n: int = 30) -> str:
    text = squash(text.replace("\n", " "))
    return text if len(text) <= n else text[: n - 1] + "…"


def _progress_findings(
    check: FormCheck, task: Task, row: FormRow, label: str, until: str, prior: dict[int, Entry]
) -> None:
    """What is wrong with the row's 进展情况: empty (or typed in another column), only a pointer to an
    attachment or another row, or unchanged since the last approved report."""
    text = squash(row.progress)
    added = _typed_into_content(row, task)

    def add(level: str, message: str) -> None:
        check.findings.append(Finding(level, message, task.seq, task.name, "进展情况"))

    if not key(row.progress):  # nothing but spaces, dashes or slashes
        typed = f"只填写了「{_clip(text)}」" if text else "为空"
        if added:
            add(
                "error",
                f"{label}的“进展情况”栏{typed}，而“主要内容和关键时间节点计划”栏多了「{_clip(added)}」，像是填错了栏目。"
                f"请把{until}的进展情况填写在“进展情况”栏（“主要内容和关键时间节点计划”栏请保持原样），然后重新发送。",
            )
            return
        elsewhere = [
            name for name, value in (("存在问题和下一步工作计划", row.problems), ("备注", row.remark)) if value.strip()
        ]
        hint = f"（“{'”“'.join(elsewhere)}”栏已填写；如把进展填在了那里，请移到“进展情况”栏）" if elsewhere else ""
        add("error", f"{label}的“进展情况”栏{typed}。请填写{until}的进展情况{hint}。")
        return
    if _REFERENCE_ONLY.fullmatch(text.strip(_END_PUNCT + " ")):
        add(
            "error",
            f"{label}的“进展情况”只写了「{_clip(text)}」。通报只收录表格中填写的文字，不收录附件或其他行的内容。"
            f"请把{until}的进展情况直接填写（或粘贴）在该任务的“进展情况”栏，然后重新发送。",
        )
        return
    if _MENTIONS_ATTACHMENT.search(text):
        add(
            "warning",
            f"{label}的“进展情况”提到了附件（「{_clip(text)}」）。通报只收录表格中填写的文字，附件内容不会收录；"
            "需要通报的进展请写在表格中。",
        )
    if added:
        add(
            "warning",
            f"{label}的“主要内容和关键时间节点计划”栏多了「{_clip(added)}」。该栏以局下发的计划为准，改动不会被采用；"
            "如是进展情况，请写入“进展情况”栏。",
        )
    if task.id in prior and squash(prior[task.id].progress) == squash(row.progress):
        add(
            "warning",
            f"{label}的“进展情况”与上次审定的内容完全相同。请更新本月进展；如确无新进展，请写明“本月无新进展”及原因。",
        )


_COLUMN = {"progress": "进展情况", "problems": "存在问题和下一步工作计划", "remark": "备注"}


def _layout_findings(
    check: FormCheck, task: Task, row: FormRow, label: str, matched: _Match, lines: dict[int, FormRow]
) -> bool:
    """Findings on how the task's row was laid out: rows added under it, a cell merged down from another
    task's row. True when its 进展情况 is another task's too (it cannot then be judged on its own)."""
    if row.added_rows:
        check.findings.append(
            Finding(
                "warning",
                f"{label}下方新增的 {row.added_rows} 行（未填编号和项目名称）已并入该任务：其中的进展情况、"
                "存在问题和备注分别接在该任务相应栏目之后。如这些内容不属于该任务，请删除新增的行后重新发送。",
                task.seq,
                task.name,
            )
        )
    shared = False
    for f, line in row.shared_with.items():
        other, other_row = matched.by_line.get(line), lines.get(line)
        if other is not None:
            other_label = row_label(other.seq, other.name)
        else:
            other_label = row_label(other_row.number, other_row.name, line) if other_row else f"第 {line} 行"
        column = _COLUMN[f]
        if f == "progress":
            shared = True
            message = (
                f"{other_label}和{label}的“{column}”被合并成了一个单元格，无法分别认定各项任务的进展。"
                "请取消合并（Word：表格工具→布局→拆分单元格；WPS：表格工具→拆分单元格），"
                "在每项任务的“进展情况”栏分别填写后重新发送。"
            )
        else:
            message = (
                f"{other_label}和{label}的“{column}”被合并成了一个单元格，已将同一内容分别记入这两项任务。"
                "如内容只属于其中一项，请取消合并后分别填写。"
            )
        check.findings.append(
            Finding("error" if f == "progress" else "warning", message, task.seq, task.name, column)
        )
    return shared


def _duplicate_warning(task: Task, task_rows: list[FormRow], label: str) -> Finding:
    """Identical rows of one task (often the table pasted twice): taken once, but the office is told, since
    next time the copies may differ and the form be refused."""
    lines = "、".join(str(r.line) for r in task_rows if r.line)
    where = f"（第 {lines} 行）" if lines else ""
    return Finding(
        "warning",
        f"{label}在表中出现了 {len(task_rows)} 次{where}，内容相同，已按第一次出现的那一行记录。"
        "请在下次报送前删去重复的行（常见原因是表格被整张粘贴了两次）；重复行内容不一致时表格将被退回。",
        task.seq,
        task.name,
    )


def _entries(
    check: FormCheck,
    tasks: list[Task],
    matched: _Match,
    prior: dict[int, Entry],
    month: int | None,
    rows: list[FormRow] | None = None,
) -> None:
    lines = {r.line: r for r in rows or []}
    for task in tasks:
        task_rows = matched.rows.get(task.id, [])
        label = row_label(task.seq, task.name)
        if not task_rows:
            check.findings.append(
                Finding(
                    "error",
                    f"缺少{label}这一行。请按下发的表格补上该行（不要删除任务行），并填写“进展情况”。",
                    task.seq,
                    task.name,
                )
            )
            continue
        distinct = [r for i, r in enumerate(task_rows) if not any(_same(r, x) for x in task_rows[:i])]
        if len(distinct) > 1:
            check.findings.append(
                Finding(
                    "error",
                    f"{label}出现了 {len(task_rows)} 行且内容不一致。请合并为一行后重新发送。",
                    task.seq,
                    task.name,
                )
            )
            continue
        row = distinct[0]
        if len(task_rows) > 1:
            check.findings.append(_duplicate_warning(task, task_rows, label))
        check.entries.append(EntryData(task.id, task.seq, task.name, row.progress, row.problems, row.remark))
        if _layout_findings(check, task, row, label, matched, lines):
            continue
        _progress_findings(check, task, row, label, f"截至{month}月底" if month else "截至本月底", prior)


def _office(
    session: Session, parsed: ParsedForm, check: FormCheck, expected: Office | None, by_token: Office | None
) -> Office | None:
    typed = find_office(session, parsed.office_text) if parsed.office_text else None
    form_office = by_token or typed
    office: Office | None
    if expected is not None:
        if form_office is not None and form_office.id != expected.id:
            source = (
                f"表单编号 {parsed.token}"
                if by_token is not None
                else f"“填报股室”填写为「{parsed.office_text}」"
            )
            check.findings.append(
                Finding(
                    "error",
                    f"本表是「{form_office.name}」的进展情况表（{source}），而这封邮件应由「{expected.name}」报送。"
                    f"请使用发给「{expected.name}」的表格填写后重新发送。",
                    column="填报股室",
                )
            )
        check.office_by = "expected"
        office = expected
    elif by_token is not None and typed is not None and typed.id != by_token.id:
        check.findings.append(
            Finding(
                "error",
                f"“填报股室”填写为「{parsed.office_text}」，但本表（表单编号 {parsed.token}）是发给「{by_token.name}」的。"
                f"请核对填报股室；「{typed.name}」的进展请使用发给「{typed.name}」的表格填写。",
                column="填报股室",
            )
        )
        check.office_by, office = "token", by_token
    else:
        office = form_office
        check.office_by = "token" if by_token is not None else ("填报股室" if typed is not None else "")
    if office is None:
        check.findings.append(
            Finding(
                "error",
                "无法确定填报股室：表中没有表单编号，“填报股室：”后也没有可识别的股室名称。"
                "请在“填报股室：”后填写本股室全称后重新发送。",
                column="填报股室",
            )
        )
    elif parsed.office_text and typed is None:
        check.findings.append(
            Finding(
                "warning",
                f"“填报股室”填写的「{parsed.office_text}」不是已登记的股室名称，已认定为「{office.name}」。请填写股室全称。",
                column="填报股室",
            )
        )
    return office


def _period(
    parsed: ParsedForm,
    check: FormCheck,
    plan: Plan,
    expected: tuple[int, int] | None,
    by_token: tuple[int, int] | None,
) -> tuple[int | None, int | None]:
    titled = (parsed.year or plan.year, parsed.month) if parsed.month is not None else None
    if expected is not None:
        for found, source in ((by_token, f"表单编号 {parsed.token}"), (titled, "见标题")):
            if found is not None and found != expected:
                check.findings.append(
                    Finding(
                        "error",
                        f"本表是「{_span(*found)}」的进展情况表（{source}），而本次应报送「{_span(*expected)}」的进展情况。"
                        "请使用本月下发的表格填写后重新发送。",
                        column="标题",
                    )
                )
                break
        if by_token is None and parsed.month is None:
            check.findings.append(
                Finding(
                    "warning",
                    f"标题中未写明报送月份，已按本次报送期「{_span(*expected)}」处理。请在标题中写明，如“（{span_label(expected[1])}）”。",
                    column="标题",
                )
            )
        return expected
    found = by_token or titled
    if found is None:
        check.findings.append(
            Finding(
                "error",
                "无法确定报送期：标题中没有写明“（1—N月）”，表中也没有表单编号。请在标题中写明月份，如“（1—6月）”，然后重新发送。",
                column="标题",
            )
        )
        return None, None
    return found


def check_form(
    session: Session,
    parsed: ParsedForm,
    *,
    plan: Plan | None = None,
    year: int | None = None,
    month: int | None = None,
    office: Office | None = None,
    secret_key: bytes | None = None,
) -> FormCheck:
    """Judge ``parsed`` against the registry: its office and period, one entry per task of the office.

    :param plan: the plan the form belongs to (default: the newest active plan)
    :param year: with ``month``, the period expected (e.g. the one the reply answers); a form of another
        period is an error. Without it the period comes from the token or the title.
    :param office: the office expected; a form of another office is an error. Without it the office comes
        from the token, else from 填报股室.
    :param secret_key: the home's key, to recognise tokens not on record (forms rendered but never sent)
    :raises RegistryError: when no plan is given and none is active
    """
    plan = plan or active_plan(session)
    if plan is None:
        raise RegistryError("登记库中没有当前工作计划。请先导入通知：duban import 通知.docx")
    check = FormCheck(
        office=None,
        year=None,
        month=None,
        token=parsed.token,
        filled_by=parsed.filled_by,
        filled_on=parsed.filled_on,
        plan=plan,
    )
    resolved = resolve_token(session, plan, parsed.token, secret_key) if parsed.token else None
    if parsed.token and resolved is None:
        check.findings.append(
            Finding(
                "warning",
                f"表单编号 {parsed.token} 不是本系统下发的表格编号，已按表中填写的内容处理。请勿修改表单编号。",
                column="表单编号",
            )
        )
    expected_period = (year, month) if year is not None and month is not None else None
    check.office = _office(session, parsed, check, office, resolved[0] if resolved else None)
    check.year, check.month = _period(
        parsed, check, plan, expected_period, resolved[1:] if resolved else None
    )
    if not parsed.filled_by:
        check.findings.append(
            Finding("warning", "“填报人”未填写。请在表格上方“填报人：”后填写姓名。", column="填报人")
        )
    if check.office is None:
        return check
    tasks = lead_tasks(
        plan,
        check.office,
        period_key(check.year, check.month) if check.year and check.month else None,
        with_milestones=True,  # every row's check reads its task's milestones
    )
    if not tasks:
        check.findings.append(
            Finding(
                "error",
                f"「{check.office.name}」在本年度重点工作任务中没有牵头任务，无需报送本表。如有疑问请联系局办公室。",
                column="填报股室",
            )
        )
        return check
    matched = _match_rows(parsed.rows, tasks, plan, check.office)
    check.findings.extend(matched.findings)
    prior = (
        last_approved_entries(session, plan, check.office, check.year, check.month)
        if check.year and check.month
        else {}
    )
    _entries(check, tasks, matched, prior, check.month, parsed.rows)
    # Errors first; within a level the form's own findings, then the rows by 编号 (rows without one last),
    # so that the reply reads top-down.
    check.findings.sort(key=lambda f: (
        f.level != "error", f.seq is not None or bool(f.name), f.seq if f.seq is not None else 10**9
    ))
    return check
