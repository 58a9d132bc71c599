"""Test data for the progress form: a plan built directly with the model (a realistic subset of the seed
notice), approved earlier reports, and a person's hands filling a form in with python-docx.

Tasks 1, 2, 3 are led by 基财股 (task 1 with 职终股, task 2 with 基安股 as co-offices), task 4 by 人事股,
task 9 by 督导室 with 基财股 among its co-offices (so 基财股 must not report it).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from docx import Document
from docx.oxml import OxmlElement
from sqlalchemy.orm import Session

from mailer.registry.model import Entry, Milestone, Office, Period, Plan, Submission, Task, TaskOffice

ORG = "台山市教育系统"

# (seq, name, content paragraphs, offices (lead first), remark, milestones (label, month, text))
TASKS = [
    (
        1,
        "培英职业技术学校新校区建设项目",
        [
            (
                "项目规划用地183.37亩，建筑面积约5.2万平方米，包括4幢5层教学大楼、1幢7层图文信息中心、"
                "1幢6层公共实训中心、2幢8层学生宿舍、1幢4层食堂等。年内开展基础工程建设。"
            ),
            "关键节点及解决难点：",
            "一是3月底前完成招标文件编制。",
            "二是6月底前开展施工招标。",
            "三是10月底前开展基础工程建设。",
        ],
        ["基财股", "职终股"],
        "2022年台山市政府重点工作任务",
        [("一是", 3, "3月底前完成招标文件编制。"), ("二是", 6, "6月底前开展施工招标。"),
         ("三是", 10, "10月底前开展基础工程建设。")],
    ),
    (
        2,
        "增加学位供给",
        [
            (
                "增加公办中小学、幼儿园学位供给。扩建台城中心小学、李星衢纪念学校桂水分教点，"
                "开办恒大名都小区配套幼儿园，增加优质公办学位1170个。"
            ),
            "关键节点及解决难点：",
            "一是3月底前完成台城中心小学教学楼设备配套方案。完成恒大名都小区配套幼儿园项目规划设计。",
            "二是6月底前完成李星衢纪念学校桂水分教点教学楼基础工程。",
            "三是10月底前完成李星衢纪念学校桂水分教点教学楼建设工程。",
        ],
        ["基财股", "基安股"],
        "2022年台山市十件民生实事",
        [("一是", 3, "3月底前完成台城中心小学教学楼设备配套方案。完成恒大名都小区配套幼儿园项目规划设计。"),
         ("二是", 6, "6月底前完成李星衢纪念学校桂水分教点教学楼基础工程。"),
         ("三是", 10, "10月底前完成李星衢纪念学校桂水分教点教学楼建设工程。")],
    ),
    (
        3,
        "提升基础教育生均公用经费补助标准",
        [
            "大力提升基础教育生均公用经费补助标准。公办幼儿园生均公用经费提至每生每年800元。",
            "关键节点及解决难点：",
            "一是5月底前完成春季学期生均公用经费拨付。",
            "二是10月底前完成秋季学期生均公用经费拨付。",
        ],
        ["基财股"],
        "2022年台山市十件民生实事",
        [("一是", 5, "5月底前完成春季学期生均公用经费拨付。"), ("二是", 10, "10月底前完成秋季学期生均公用经费拨付。")],
    ),
    (
        4,
        "加强教师培训",
        [
            "加强教师培训，开展全市教师免费培训约1500人，提升教学水平。",
            "关键节点及解决难点：",
            "一是3月底前完成年度培训方案。",
            "二是6月底前完成上半年培训。",
        ],
        ["人事股"],
        "2022年台山市十件民生实事",
        [("一是", 3, "3月底前完成年度培训方案。"), ("二是", 6, "6月底前完成上半年培训。")],
    ),
    (
        9,
        "完成教育强镇复评工作",
        [
            "2022年我市共有大江、四九、斗山、都斛、赤溪、广海等6个广东省教育强镇到期需接受复评。",
            "关键节点和解决难点：",
            "一是3月底前开展教育强镇复评预算方案及相关镇调研工作。",
        ],
        ["督导室", "教育装备中心", "基安股", "基财股"],
        "江门市人民政府教育督导室2022年工作要点",
        [("一是", 3, "3月底前开展教育强镇复评预算方案及相关镇调研工作。")],
    ),
]

OFFICES = ["基财股", "职终股", "基安股", "人事股", "督导室", "教育装备中心"]


@dataclass
class PlanIds:
    plan_id: int
    offices: dict[str, int]
    tasks: dict[int, int]  # seq → task id


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def make_plan(session: Session, *, year: int = 2022, extra_offices: Iterable[str] = ()) -> PlanIds:
    """The seed notice's plan, abridged, with its offices."""
    offices = {name: Office(name=name, in_directory=True) for name in [*OFFICES, *extra_offices]}
    session.add_all(offices.values())
    plan = Plan(year=year, title=f"{ORG}{year}年重点工作任务一览表", org_name=ORG, first_month=6, due_day=20,
                active=True)
    session.add(plan)
    session.flush()
    for seq, name, paras, office_names, remark, milestones in TASKS:
        task = Task(plan_id=plan.id, seq=seq, name=name, content="\n".join(paras), remark=remark,
                    offices_text=" ".join(office_names))
        task.offices = [TaskOffice(office=offices[o], position=i, is_lead=i == 0) for i, o in enumerate(office_names)]
        task.milestones = [
            Milestone(position=i, label=label, due=_month_end(year, month), text=text)
            for i, (label, month, text) in enumerate(milestones)
        ]
        session.add(task)
    session.flush()
    return PlanIds(plan.id, {n: o.id for n, o in offices.items()},
                   {t.seq: t.id for t in session.get(Plan, plan.id).tasks})


def add_approved(
    session: Session,
    ids: PlanIds,
    office: str,
    year: int,
    month: int,
    entries: dict[int, tuple[str, str, str]],
    *,
    revision: int = 1,
    state: str = "approved",
) -> Submission:
    """A report of ``office`` for (year, month) in ``state``: seq → (progress, problems, remark)."""
    period = session.query(Period).filter_by(plan_id=ids.plan_id, year=year, month=month).one_or_none()
    if period is None:
        period = Period(plan_id=ids.plan_id, year=year, month=month, state="published",
                        send_on=dt.date(year, month, 10), due_on=dt.date(year, month, 20))
        session.add(period)
        session.flush()
    sub = Submission(period_id=period.id, office_id=ids.offices[office], revision=revision, state=state)
    sub.entries = [
        Entry(task_id=ids.tasks[seq], progress=p, problems=q, remark=r) for seq, (p, q, r) in entries.items()
    ]
    session.add(sub)
    session.flush()
    return sub


# --- a person filling the form in ---------------------------------------------------------------------------

HEADER = ["编号", "项目名称", "主要内容和关键时间节点计划", "责任股室", "进展情况", "存在问题和下一步工作计划", "备注"]
COLUMN = {"progress": 4, "problems": 5, "remark": 6}


def form_table(doc: Document):  # type: ignore[no-untyped-def]
    """The table whose first row is the form's header."""
    for t in doc.tables:
        if [c.text.strip() for c in t.rows[0].cells][:2] == HEADER[:2]:
            return t
    raise AssertionError("no form table")


def type_into(cell, text: str, *, split_runs: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Replace a cell's text as a person would: one paragraph per line, each line typed in pieces (Word
    splits runs at every edit, spell check and IME commit)."""
    paragraphs = cell.paragraphs
    for p in paragraphs[1:]:
        p._p.getparent().remove(p._p)
    first = paragraphs[0]
    for r in list(first.runs):
        r._r.getparent().remove(r._r)
    for i, line in enumerate(text.split("\n")):
        p = first if i == 0 else cell.add_paragraph(style=first.style)
        if split_runs and len(line) > 3:
            cut = len(line) // 3
            for piece in (line[:cut], line[cut : 2 * cut], line[2 * cut :]):
                p.add_run(piece)
        elif line:
            p.add_run(line)


def row_of(table, seq: int):  # type: ignore[no-untyped-def]
    for row in table.rows[1:]:
        if row.cells[0].text.strip() == str(seq):
            return row
    raise AssertionError(f"no row {seq}")


def fill(
    data: bytes,
    values: dict[int, dict[str, str]],
    *,
    filled_by: str | None = "张三",
    filled_on: str | None = "2022年6月15日",
    add_empty_row: bool = False,
    reverse_rows: bool = False,
) -> bytes:
    """Fill a rendered form: seq → {progress/problems/remark: text}; 填报人 and 填报日期 typed after their
    labels; optionally an empty row added at the end and the task rows put in reverse order."""
    doc = Document(io.BytesIO(data))
    table = form_table(doc)
    for seq, cols in values.items():
        row = row_of(table, seq)
        for col, text in cols.items():
            type_into(row.cells[COLUMN[col]], text)
    info = next(p for p in doc.paragraphs if "填报人" in p.text)
    for run in info.runs:
        if filled_by is not None and run.text.endswith("填报人："):
            run.text = run.text + filled_by
        if filled_on is not None and "填报日期" in run.text:
            run.text = run.text.split("填报日期")[0] + "填报日期：" + filled_on
    if add_empty_row:
        table.add_row()
    if reverse_rows:
        trs = [r._tr for r in table.rows[1:]]
        for tr in trs:
            tr.getparent().remove(tr)
        for tr in reversed(trs):
            table._tbl.append(tr)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def notice_form(
    rows: list[list[str]],
    *,
    title: str = "台山市教育系统 2022 年重点工作推进项目进展情况表（1—6月）",
    office: str = "基财股",
    filled_by: str = "李四",
    filled_on: str = "2022 年 6 月 16 日",
) -> bytes:
    """A form filled on the notice's own Attachment 2: plain paragraphs above a seven-column table, no
    token, no styles of ours, the rows typed by hand."""
    doc = Document()
    doc.add_paragraph("附件 2")
    doc.add_paragraph(title)
    doc.add_paragraph(f"填报股室：{office}")
    doc.add_paragraph(f"填报人：{filled_by}")
    doc.add_paragraph(f"填报日期：{filled_on}")
    table = doc.add_table(rows=1 + len(rows), cols=7)
    for c, label in enumerate(HEADER):
        table.rows[0].cells[c].text = label
    for r, values in enumerate(rows, start=1):
        for c, text in enumerate(values):
            type_into(table.rows[r].cells[c], text, split_runs=False)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def wrap_in_sdt(el) -> None:  # type: ignore[no-untyped-def]
    """Wrap a w:tc, w:tr, w:p or w:r in a content control, as Word does for a form field."""
    sdt = OxmlElement("w:sdt")
    sdt.append(OxmlElement("w:sdtPr"))
    content = OxmlElement("w:sdtContent")
    sdt.append(content)
    el.addprevious(sdt)
    content.append(el)


def docx_bytes(doc: Document) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


__all__ = ["COLUMN", "HEADER", "PlanIds", "add_approved", "docx_bytes", "fill", "form_table", "make_plan",
           "notice_form", "row_of", "type_into", "wrap_in_sdt"]
