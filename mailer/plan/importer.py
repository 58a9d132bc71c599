"""Importing into the registry: a notice .docx (or a legacy .doc, converted), a task .xlsx, a directory .xlsx.

:func:`import_file` finds out what the file is from its bytes, reads it completely (``plan_read``,
``directory``), and only then applies it in one transaction: a bad file changes nothing. Importing a plan
again (same year and title) updates it in place and reports new, changed and removed tasks; a removed task
is flagged, never deleted, because entries of earlier reports point at it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import ConversionError, PlanImportError
from mailer.plan.directory import (
    DirectoryChanges,
    ParsedDirectory,
    apply_directory,
    is_directory,
    read_directory,
)
from mailer.plan.milestones import tidy
from mailer.plan.plan_read import ParsedPlan, ParsedTask, open_workbook, read_notice_docx, read_tasks_xlsx
from mailer.registry.model import Milestone, Office, Plan, Task, TaskOffice, utcnow
from mailer.registry.offices import find_office
from mailer.registry.queries import active_plan
from mailer.registry.store import atomic

log = logging.getLogger(__name__)

# Formats LibreOffice turns into .docx for us.
CONVERTIBLE = {"doc": ".doc", "rtf": ".rtf", "odt": ".odt"}

_REFUSALS = {
    "encrypted": "已设置打开密码（加密），无法读取。请在 Word 或 WPS 中取消密码（文件→信息→保护文档）后重新保存，再导入。",
    "docm": "是含宏的 Word 文档（.docm），不予导入。请另存为普通 Word 文档（.docx）后再导入。",
    "xls": "是旧版 Excel 工作簿（.xls）。请在 Excel 或 WPS 中另存为 .xlsx 后再导入。",
    "zip": "是压缩包，不是 Word 文档（其中没有 word/document.xml）。请导入通知的 Word 原文件（.docx）。",
    "ole": "是旧版 Office 文件，但既不是 Word（.doc）也不是 Excel（.xls），无法识别。",
    "pdf": "是 PDF 文件，无法导入。请导入生成该 PDF 的 Word 原文件（.docx）。",
    "text": "是纯文本文件，不是 Word（.docx）或 Excel（.xlsx）文件（是否改过扩展名？）。",
    "empty": "是空文件（0 字节）。",
    "unknown": "不是 Word（.docx）或 Excel（.xlsx）文件。",
}
_KIND_NAMES = {"notice": "通知（任务一览表）", "tasks": "任务工作簿", "directory": "名录"}
_META_NAMES = {
    "notice_title": "通知标题",
    "issuer": "发文机关",
    "issued_on": "成文日期",
    "org_name": "单位名称",
    "first_month": "起报月份",
    "due_day": "每月报送截止日",
}


@dataclass
class ImportReport:
    """What one import did, in words for the operator and as data for scripts."""

    path: Path
    kind: str  # notice | tasks | directory
    converted_from: str = ""  # "doc" etc. when LibreOffice converted the file first
    plan_title: str = ""
    year: int | None = None
    plan_created: bool = False
    plan_activated: str = ""  # the plan that was active before, when this import replaced it
    metadata_changes: list[str] = field(default_factory=list)
    task_count: int = 0
    new: list[int] = field(default_factory=list)
    changed: dict[int, list[str]] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    lead_assumed: list[tuple[int, str]] = field(default_factory=list)
    leads_kept: list[tuple[int, str]] = field(default_factory=list)
    offices_created: list[str] = field(default_factory=list)
    offices_outside_directory: list[str] = field(default_factory=list)
    reporting: tuple[int, int] | None = None  # (first month, due day)
    directory: DirectoryChanges | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        if self.directory is not None:
            return not self.directory.changed
        return not (
            self.plan_created
            or self.metadata_changes
            or self.new
            or self.changed
            or self.removed
            or self.restored
            or self.plan_activated
        )

    def __str__(self) -> str:
        if self.directory is not None:
            d = self.directory
            return f"名录：{d.offices} 个股室，{d.people} 人" + ("" if d.changed else "（无变化）")
        if self.unchanged:
            return f"{self.plan_title}（{self.year}年）：{self.task_count} 项任务，无变化"
        parts = [f"新增 {len(self.new)} 项", f"变更 {len(self.changed)} 项", f"移除 {len(self.removed)} 项"]
        return f"{self.plan_title}（{self.year}年）：{self.task_count} 项任务；" + "，".join(parts)

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        head = f"{self.path.name}：{_KIND_NAMES.get(self.kind, self.kind)}" + (
            f"（由 .{self.converted_from} 转换）" if self.converted_from else ""
        )
        if self.directory is not None:
            return [
                head,
                *("  " + x for x in self.directory.lines()),
                *("  提示：" + w for w in self.warnings),
            ]
        out = [f"{head} → 计划 {self.plan_title}（{self.year}年）" + ("，新计划" if self.plan_created else "")]
        if self.plan_activated:
            out.append(f"  已设为当前计划（原当前计划：{self.plan_activated}）")
        if self.reporting:
            first, due = self.reporting
            out.append(
                f"  报送要求：从{first}月起，每月{due}日前报送"
            )
        out += [f"  {m}" for m in self.metadata_changes]
        if self.plan_created:
            out.append(f"  导入 {self.task_count} 项任务")
        elif self.unchanged:
            out.append(f"  {self.task_count} 项任务，无变化")
        else:
            if self.new:
                out.append(f"  新增任务：{_seqs(self.new)}")
            for seq, what in sorted(self.changed.items()):
                out.append(f"  任务 {seq} 有变更：{'、'.join(what)}")
            if self.restored:
                out.append(f"  重新列入计划的任务：{_seqs(self.restored)}")
            if self.removed:
                out.append(f"  文件中已没有的任务（保留记录，标为已移除）：{_seqs(self.removed)}")
        for seq, office in self.lead_assumed:
            out.append(
                f"  任务 {seq}：责任股室没有下划线，默认第一个股室（{office}）为牵头股室。"
                f"如需更正：duban tasks set-lead {seq} 股室"
            )
        for seq, office in self.leads_kept:
            out.append(f"  任务 {seq}：文件中没有下划线，保留此前指定的牵头股室（{office}）")
        if self.offices_created:
            out.append(f"  根据任务表新建的股室：{'、'.join(self.offices_created)}")
        if self.offices_outside_directory:
            out.append(
                f"  名录中没有的股室（尚无邮箱地址）：{'、'.join(self.offices_outside_directory)}"
                " → 请导入名录工作簿（格式见 docs/directory-format.md）"
            )
        out += [f"  提示：{w}" for w in self.warnings]
        return out

    def render(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["unchanged"] = self.unchanged
        data["changed"] = {str(k): v for k, v in self.changed.items()}
        return data


def _seqs(seqs: list[int]) -> str:
    return "、".join(str(s) for s in sorted(seqs))


MAX_FILE_BYTES = 50 * 2**20
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .doc, .xls, encrypted OOXML


# --- what kind of file is it ---------------------------------------------------------------------------


def sniff(path: Path) -> str:
    """The file's real kind, from its bytes (never its name): docx, docm, xlsx, odt, zip, doc, xls,
    encrypted, ole, rtf, pdf, text, empty or unknown.

    :raises PlanImportError: when the file cannot be read or is too large
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as e:
        raise PlanImportError(f"文件“{path}”无法读取：{e.strerror or e}。") from e
    if size > MAX_FILE_BYTES:
        raise PlanImportError(
            f"文件“{path.name}”有 {size // 2**20} MB，超过 {MAX_FILE_BYTES // 2**20} MB 的上限。"
        )
    if not head:
        return "empty"
    if head.startswith(b"PK"):
        return _sniff_zip(path)
    if head.startswith(OLE_MAGIC):
        return _sniff_ole(path)
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"%PDF"):
        return "pdf"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "text" if _mostly_text(head) else "unknown"


def _mostly_text(head: bytes) -> bool:
    for enc in ("gb18030", "utf-16"):
        try:
            s = head.decode(enc)
        except UnicodeDecodeError:
            continue
        if sum(c.isprintable() or c.isspace() for c in s) > 0.9 * len(s):
            return True
    return False


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            types = ""
            if "[Content_Types].xml" in names and z.getinfo("[Content_Types].xml").file_size < 2**20:
                types = z.read("[Content_Types].xml").decode("utf-8", "replace")
            mimetype = z.read("mimetype")[:100].decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, KeyError):
        return "unknown"
    if "ms-word.document.macroEnabled" in types:
        return "docm"
    if "wordprocessingml.document.main" in types or "word/document.xml" in names:
        return "docx"
    if "spreadsheetml.sheet.main" in types or "xl/workbook.xml" in names:
        return "xlsx"
    if mimetype == "application/vnd.oasis.opendocument.text":
        return "odt"
    return "zip"


def _sniff_ole(path: Path) -> str:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s) for s in ole.listdir()}
    except OSError:
        return "unknown"
    if "EncryptedPackage" in streams:
        return "encrypted"  # an Office file protected with a password (OOXML inside a CFB container)
    if "WordDocument" in streams:
        return "doc"
    if "Workbook" in streams or "Book" in streams:
        return "xls"
    return "ole"


# --- reading ------------------------------------------------------------------------------------------


def detect_kind(path: Path) -> str:
    """What :func:`import_file` would take ``path`` for: notice, tasks, directory — or why not.

    :raises PlanImportError: when the file is not something duban can import
    """
    kind = sniff(path)
    if kind in ("docx", *CONVERTIBLE):
        return "notice"
    if kind == "xlsx":
        wb = open_workbook(path, path.name)
        try:
            return "directory" if is_directory(wb) else "tasks"
        finally:
            wb.close()
    raise PlanImportError(f"文件“{path.name}”{_REFUSALS.get(kind, _REFUSALS['unknown'])}")


def _convert(settings: Settings, path: Path, kind: str, work: Path) -> Path:
    from mailer.word.pdf import convert

    # The suffix tells LibreOffice the format; the user's file name never becomes a path.
    staged = work / f"source{CONVERTIBLE[kind]}"
    shutil.copyfile(path, staged)
    try:
        out = convert(
            staged,
            work / "out",
            "docx",
            soffice=settings.service.libreoffice,
            timeout=settings.service.pdf_timeout_s,
        )
    except ConversionError as e:
        raise PlanImportError(
            f"文件“{path.name}”是旧版 Word 文档（.{kind}），无法转换为 .docx：{e} "
            "请在 Word 或 WPS 中另存为 .docx 后再导入。"
        ) from e
    if sniff(out) != "docx":
        raise PlanImportError(
            f"文件“{path.name}”转换失败：LibreOffice 没有生成 Word 文档。请在 Word 或 WPS 中另存为 .docx 后再导入。"
        )
    return out


def read_file(settings: Settings, path: Path) -> tuple[str, str, ParsedPlan | ParsedDirectory]:
    """Read ``path`` completely without touching the registry: (kind, converted_from, parsed).

    :raises PlanImportError: naming the file and what is wrong with it
    """
    kind = sniff(path)
    if kind in CONVERTIBLE:
        with tempfile.TemporaryDirectory(prefix="duban-import-") as tmp:
            docx_path = _convert(settings, path, kind, Path(tmp))
            return "notice", kind, read_notice_docx(docx_path, path.name)
    if kind == "docx":
        return "notice", "", read_notice_docx(path, path.name)
    if kind == "xlsx":
        wb = open_workbook(path, path.name)
        try:
            if is_directory(wb):
                return "directory", "", read_directory(wb, path.name)
            return "tasks", "", read_tasks_xlsx(path, path.name, wb)
        finally:
            wb.close()
    raise PlanImportError(f"文件“{path.name}”{_REFUSALS.get(kind, _REFUSALS['unknown'])}")


def import_file(settings: Settings, engine: Engine, path: Path) -> ImportReport:
    """Import a notice .docx (or .doc/.rtf/.odt via LibreOffice), a task .xlsx or a directory .xlsx.

    The file is read and checked completely first; the registry is then changed in one transaction.

    :raises PlanImportError: when the file cannot be imported; the message names the file and the problem,
        and nothing in the registry has changed
    """
    path = Path(path)
    kind, converted, parsed = read_file(settings, path)
    report = ImportReport(path=path, kind=kind, converted_from=converted)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        with atomic(engine) as session:
            if isinstance(parsed, ParsedDirectory):
                report.directory = apply_directory(session, parsed)
                report.warnings += parsed.warnings
            else:
                apply_plan(session, parsed, report, source=path.name, sha256=sha, settings=settings)
    except SQLAlchemyError as e:
        raise PlanImportError(
            f"文件“{path.name}”无法写入登记库：{e}。登记库未作任何改动。"
        ) from e
    log.info("Imported %s: %s", path.name, report)
    return report


# --- applying a plan ----------------------------------------------------------------------------------


def _office(session: Session, name: str, report: ImportReport) -> Office:
    office = find_office(session, name)
    if office is None:
        office = Office(name=tidy(name).replace(" ", ""), in_directory=False)
        session.add(office)
        session.flush()
        report.offices_created.append(office.name)
    if not office.in_directory and office.name not in report.offices_outside_directory:
        report.offices_outside_directory.append(office.name)
    return office


def _state(task: Task) -> dict[str, Any]:
    return {
        "name": task.name,
        "content": task.content,
        "remark": task.remark,
        "offices": [(link.office_id, link.is_lead) for link in task.offices],
        "lead_assumed": task.lead_assumed,
        "milestones": [(m.label, m.due, m.text) for m in task.milestones],
    }


_FIELD_NAMES = {
    "name": "项目名称",
    "content": "主要内容",
    "remark": "备注",
    "offices": "责任股室/牵头股室",
    "lead_assumed": "下划线",
    "milestones": "时间节点",
}


def _set_offices(session: Session, task: Task, wanted: list[tuple[Office, bool]]) -> None:
    current = {link.office_id: link for link in task.offices}
    links = []
    for pos, (office, lead) in enumerate(wanted):
        link = current.pop(office.id, None) or TaskOffice(office_id=office.id)
        link.position, link.is_lead = pos, lead
        links.append(link)
    task.offices[:] = links


def _apply_task(session: Session, task: Task, pt: ParsedTask, report: ImportReport) -> None:
    offices = [_office(session, name, report) for name in pt.offices]
    lead_ids = {o.id for name, o in zip(pt.offices, offices, strict=True) if name in pt.leads}
    assumed = pt.lead_assumed
    kept = [link for link in task.offices if link.is_lead] if task.id is not None else []
    if assumed and kept and not task.lead_assumed and {k.office_id for k in kept} <= {o.id for o in offices}:
        # Someone set the lead by hand (or an earlier file underlined it): a file without underline
        # must not undo that.
        lead_ids = {k.office_id for k in kept}
        assumed = False
        report.leads_kept.append((pt.seq, "、".join(o.name for o in offices if o.id in lead_ids)))
    elif assumed:
        report.lead_assumed.append((pt.seq, offices[0].name))
    wanted: list[tuple[Office, bool]] = []
    for office in offices:
        if office.id not in {o.id for o, _ in wanted}:  # two names of one office (督导室, 督导组)
            wanted.append((office, office.id in lead_ids))
    task.name, task.content, task.remark = pt.name, pt.content, pt.remark
    task.offices_text = pt.offices_text
    task.lead_assumed = assumed
    _set_offices(session, task, wanted)
    if [(m.label, m.due, m.text) for m in task.milestones] != [
        (m.label, m.due, m.text) for m in pt.milestones
    ]:
        task.milestones[:] = [
            Milestone(position=i, label=m.label, due=m.due, text=m.text) for i, m in enumerate(pt.milestones)
        ]


def _apply_metadata(
    plan: Plan, parsed: ParsedPlan, report: ImportReport, settings: Settings | None, *, new: bool
) -> None:
    values: dict[str, Any] = {
        "notice_title": parsed.notice_title,
        "issuer": parsed.issuer,
        "issued_on": parsed.issued_on,
        "org_name": parsed.org_name,
        "first_month": parsed.first_month,
        "due_day": parsed.due_day,
    }
    if new:
        cycle = settings.cycle if settings is not None else None
        values["first_month"] = parsed.first_month or (cycle.first_month if cycle else 6)
        values["due_day"] = parsed.due_day or (cycle.due_day if cycle else 20)
    for name, value in values.items():
        if value in (None, ""):
            continue  # a task workbook says nothing about the notice: keep what the notice said
        old = getattr(plan, name)
        if old != value:
            if not new:
                report.metadata_changes.append(f"{_META_NAMES.get(name, name)}：{old or '—'} → {value}")
            setattr(plan, name, value)
    report.reporting = (plan.first_month, plan.due_day)


def apply_plan(
    session: Session,
    parsed: ParsedPlan,
    report: ImportReport,
    *,
    source: str = "",
    sha256: str = "",
    settings: Settings | None = None,
) -> Plan:
    """Create or update the plan (matched by year and title) and its tasks in ``session``."""
    plan = session.scalars(select(Plan).where(Plan.year == parsed.year, Plan.title == parsed.title)).first()
    report.plan_title, report.year, report.task_count = parsed.title, parsed.year, len(parsed.tasks)
    report.warnings += parsed.warnings
    new_plan = plan is None
    if plan is None:
        plan = Plan(year=parsed.year, title=parsed.title, active=True)
        session.add(plan)
        session.flush()
        report.plan_created = True
    _apply_metadata(plan, parsed, report, settings, new=new_plan)
    for other in session.scalars(select(Plan).where(Plan.active.is_(True), Plan.id != plan.id)):
        other.active = False
        report.plan_activated = f"{other.title}（{other.year}年）"
    if not plan.active:
        plan.active = True
        report.plan_activated = report.plan_activated or "无"
    existing = {t.seq: t for t in plan.tasks}
    for pt in parsed.tasks:
        task = existing.pop(pt.seq, None)
        if task is None:
            task = Task(plan_id=plan.id, seq=pt.seq, name=pt.name)
            session.add(task)
            _apply_task(session, task, pt, report)
            if not new_plan:
                report.new.append(pt.seq)
            continue
        before = _state(task)
        was_removed = task.removed
        task.removed = False
        _apply_task(session, task, pt, report)
        session.flush()
        after = _state(task)
        diff = [label for f, label in _FIELD_NAMES.items() if before[f] != after[f]]
        if was_removed:
            report.restored.append(pt.seq)
        elif diff:
            report.changed[pt.seq] = list(dict.fromkeys(diff))
    for task in existing.values():
        if not task.removed:
            task.removed = True
            report.removed.append(task.seq)
    if not report.unchanged or new_plan:
        plan.source_file, plan.source_sha256, plan.imported_at = source, sha256, utcnow()
    session.flush()
    return plan


# --- corrections --------------------------------------------------------------------------------------


def set_lead(
    engine: Engine, seq: int, offices: list[str], *, plan_id: int | None = None, actor: str = ""
) -> str:
    """Make ``offices`` the lead(s) of task ``seq`` of the active plan (or ``plan_id``).

    :param actor: who did it; when given, the change is in the audit trail (`duban audit`)

    :returns: a sentence saying what was done
    :raises PlanImportError: when there is no plan, no such task, or an office is not one of the task's
    """
    with atomic(engine) as session:
        plan = session.get(Plan, plan_id) if plan_id is not None else active_plan(session)
        if plan is None:
            raise PlanImportError("尚未导入任何工作计划。请先导入通知：duban import 通知.docx")
        task = session.scalars(select(Task).where(Task.plan_id == plan.id, Task.seq == seq)).first()
        if task is None:
            raise PlanImportError(f"{plan.title}中没有编号为 {seq} 的任务。任务列表见：duban tasks")
        names = [link.office.name for link in task.offices]
        chosen: set[int] = set()
        for name in offices:
            office = find_office(session, name)
            if office is None or office.id not in {link.office_id for link in task.offices}:
                raise PlanImportError(
                    f"“{name}”不是任务 {seq} 的责任股室（{'、'.join(names)}）。"
                )
            chosen.add(office.id)
        for link in task.offices:
            link.is_lead = link.office_id in chosen
        task.lead_assumed = False
        leads = "、".join(link.office.name for link in task.offices if link.is_lead)
        if actor:
            from mailer.registry.audit import record

            record(session, "lead_changed", f"任务 {seq}「{task.name}」牵头股室改为 {leads}", actor=actor)
        return f"任务 {seq}（{task.name}）的牵头股室已改为：{leads}。"
