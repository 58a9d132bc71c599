"""Build realistic notice files from the seed text, for tests and for examples/.

The seed (``examples/seed/notice.txt``) is the notice as text: the body, then Attachment 1 as tab-separated
rows whose cells hold ``<p>…</p>`` paragraphs, split into page-sized tables that repeat the header, then the
empty Attachment 2 form. The seed lost most underlines: the lead office is the first-listed office of each
task unless a cell marks it with ``<u>…</u>`` (tasks 18 and 19).

This module reads the seed on its own (it does not use ``mailer``), so the tests compare the importer with
an independent reading of the same text. Variants (see :class:`Variant`) produce the layouts and quirks the
importer must survive: one table / page-split tables / header rows repeated inside one table; underline by
run formatting, by a character style (through ``basedOn``) or by a paragraph style; a lead name split over
several runs; full-width digits and odd spacing in the milestone lines; no underline at all.

Run as a script to regenerate the committed examples::

    .venv/bin/python tests/make_notice.py            # examples/notice-2022.docx, examples/directory-2022.xlsx
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed" / "notice.txt"
EXAMPLES = ROOT / "examples"

Layout = Literal["one", "split", "header_rows"]
Underline = Literal["direct", "char_style", "para_style", "none"]


# --- the seed, read independently of mailer ------------------------------------------------------------


@dataclass
class SeedTask:
    """One row of Attachment 1 as the seed writes it."""

    seq: int
    name: str
    content: list[str]  # paragraphs
    offices: list[list[str]]  # paragraphs → office names
    leads: list[str]
    remark: list[str]  # paragraphs
    group: int  # the seed's table (page) the row sits in

    @property
    def office_names(self) -> list[str]:
        return [n for para in self.offices for n in para]


@dataclass
class Seed:
    """The seed notice: body paragraphs, Attachment 1 (title, header, rows, note) and Attachment 2."""

    body: list[str]
    label: str  # 附件 1
    title: str  # 台山市教育系统 2022 年重点工作任务一览表
    header: list[str]
    tasks: list[SeedTask]
    note: str  # 说明：责任股室列中标注下划线为牵头股室。
    form_label: str = ""
    form_title: str = ""
    form_fields: list[str] = field(default_factory=list)
    form_header: list[str] = field(default_factory=list)


_P = re.compile(r"<p>(.*?)</p>", re.DOTALL)
_U = re.compile(r"<u>(.*?)</u>")


def _paragraphs(cell: str) -> list[str]:
    found = _P.findall(cell)
    paras = found if found else [cell]
    return [p.strip() for p in paras if p.strip()]


def _join_body(lines: list[str]) -> list[str]:
    """Undo the text dump's artefacts: a paragraph broken at a page end, list markers, a lone "（1—月）"."""
    out: list[str] = []
    for line in lines:
        line = line.removeprefix("- ").strip()
        if not line:
            continue
        if out and (re.fullmatch(r"（.*）", line) or (len(out[-1]) > 60 and out[-1][-1] not in "。：；！？")):
            out[-1] += line
        else:
            out.append(line)
    return out


def read_seed(path: Path = SEED) -> Seed:
    """Parse the seed text into paragraphs and rows (lead = underlined, else the first office)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    att1 = next(i for i, s in enumerate(lines) if re.fullmatch(r"附件\s*1", s.strip()))
    att2 = next(i for i, s in enumerate(lines) if re.fullmatch(r"附件\s*2", s.strip()))
    body = _join_body(lines[:att1])
    part = [s for s in lines[att1 + 1 : att2] if s.strip()]
    title = part[0].strip()
    header: list[str] = []
    tasks: list[SeedTask] = []
    note = ""
    group = -1
    for line in part[1:]:
        cells = line.split("\t")
        if len(cells) < 5:
            note = line.strip()
            continue
        if cells[0].strip() == "序号":
            header = [c.strip() for c in cells]
            group += 1
            continue
        offices: list[list[str]] = []
        leads: list[str] = []
        for para in _paragraphs(cells[3]):
            leads += _U.findall(para)
            offices.append(_U.sub(r"\1", para).split())
        if not leads:
            leads = [offices[0][0]]
        tasks.append(
            SeedTask(
                seq=int(cells[0]),
                name=cells[1].strip(),
                content=_paragraphs(cells[2]),
                offices=offices,
                leads=leads,
                remark=_paragraphs(cells[4]),
                group=group,
            )
        )
    tail = [s.strip() for s in lines[att2 + 1 :] if s.strip()]
    form_header = tail[-1].split("\t") if tail and "\t" in tail[-1] else []
    return Seed(
        body=body,
        label=lines[att1].strip(),
        title=title,
        header=header,
        tasks=tasks,
        note=note,
        form_label=lines[att2].strip(),
        form_title=tail[0] if tail else "",
        form_fields=tail[1:-1],
        form_header=[c.strip() for c in form_header],
    )


# --- variants ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """How the notice .docx is laid out and formatted."""

    layout: Layout = (
        "one"  # one table | tables split as the seed's pages | header rows repeated inside one table
    )
    underline: Underline = "direct"  # how the lead office is marked
    split_runs: bool = False  # the lead name split over several runs (with proofing marks between)
    odd_digits: bool = False  # full-width digits and odd spacing in the milestone lines
    offices_per_paragraph: bool = False  # each office its own paragraph (para_style implies it)


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_MILESTONE_LINE = re.compile(r"^[一二三四五六七八九十]+是")


def odd_line(text: str, n: int) -> str:
    """A milestone line as careless typing leaves it: full-width digits and one of three spacing habits."""
    text = text.translate(_FULLWIDTH)
    if n % 3 == 0:
        return re.sub(r"\s+", "", text)
    if n % 3 == 1:
        return re.sub(r"\s+", "\u3000", text).replace("是", "是\u3000", 1)
    return re.sub(r"\s+", "  ", text).replace("月底前", "月 底前", 1)


def content_paragraphs(task: SeedTask, variant: Variant) -> list[str]:
    """The content cell's paragraphs as this variant writes them."""
    if not variant.odd_digits:
        return list(task.content)
    out, n = [], 0
    for para in task.content:
        if _MILESTONE_LINE.match(para):
            para = odd_line(para, n)
            n += 1
        out.append(para)
    return out


# --- writing the .docx --------------------------------------------------------------------------------


def _east_asian(run_or_style_font_element: object, name: str) -> None:
    rpr = run_or_style_font_element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    fonts.set(qn("w:ascii"), name)
    fonts.set(qn("w:hAnsi"), name)


def _styles(doc: Document) -> None:  # type: ignore[valid-type]
    normal = doc.styles["Normal"]
    normal.font.size = Pt(16)
    _east_asian(normal.element, "仿宋_GB2312")
    # Character style chain: the underline sits on the base, the style used only inherits it.
    base = doc.styles.add_style("强调下划线", WD_STYLE_TYPE.CHARACTER)
    base.font.underline = True
    lead = doc.styles.add_style("牵头股室字符", WD_STYLE_TYPE.CHARACTER)
    lead.base_style = base
    para = doc.styles.add_style("牵头股室", WD_STYLE_TYPE.PARAGRAPH)
    para.base_style = doc.styles["Normal"]
    para.font.underline = True
    table_text = doc.styles.add_style("表格文字", WD_STYLE_TYPE.PARAGRAPH)
    table_text.base_style = doc.styles["Normal"]
    table_text.font.size = Pt(10.5)
    table_text.paragraph_format.space_after = Pt(0)


def _para(
    doc_or_cell: object,
    text: str,
    *,
    size: float | None = None,
    font: str | None = None,
    center: bool = False,
    bold: bool = False,
    style: str | None = None,
) -> object:
    p = doc_or_cell.add_paragraph(style=style)  # type: ignore[attr-defined]
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if text:
        r = p.add_run(text)
        r.bold = bold or None
        if size:
            r.font.size = Pt(size)
        if font:
            _east_asian(r._r, font)
    return p


def _proof_mark(p: object) -> None:
    el = OxmlElement("w:proofErr")
    el.set(qn("w:type"), "spellStart")
    p._p.append(el)  # type: ignore[attr-defined]


def _add_lead_run(p: object, name: str, variant: Variant) -> None:
    parts = [name[:1], name[1:2], name[2:]] if variant.split_runs and len(name) > 2 else [name]
    for i, part in enumerate(p for p in parts if p):
        if i:
            _proof_mark(p)
        r = p.add_run(part)  # type: ignore[attr-defined]
        if i == 1:
            r._r.get_or_add_rPr().append(OxmlElement("w:noProof"))  # runs that differ, as Word leaves them
        if variant.underline == "direct":
            r.font.underline = True
        elif variant.underline == "char_style":
            r.style = "牵头股室字符"


def _fill_offices(cell: object, task: SeedTask, variant: Variant) -> None:
    per_par = variant.offices_per_paragraph or variant.underline == "para_style"
    paras = [[n] for n in task.office_names] if per_par else task.offices
    first = True
    for names in paras:
        lead_par = variant.underline == "para_style" and any(n in task.leads for n in names)
        p = cell.paragraphs[0] if first else cell.add_paragraph()  # type: ignore[attr-defined]
        p.style = "牵头股室" if lead_par else "表格文字"
        first = False
        for i, name in enumerate(names):
            if i:
                p.add_run(" ")
            if name in task.leads and variant.underline != "none":
                _add_lead_run(p, name, variant)
            else:
                p.add_run(name)


def _fill(cell: object, paragraphs: list[str]) -> None:
    first = True
    for text in paragraphs or [""]:
        p = cell.paragraphs[0] if first else cell.add_paragraph()  # type: ignore[attr-defined]
        p.style = "表格文字"
        first = False
        if text:
            p.add_run(text)


_WIDTHS = (Cm(1.3), Cm(3.6), Cm(12.0), Cm(3.2), Cm(4.4))


def _header_row(table: object, header: list[str], *, repeat: bool) -> None:
    row = table.add_row()  # type: ignore[attr-defined]
    for cell, text in zip(row.cells, header, strict=True):
        cell.paragraphs[0].style = "表格文字"
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        r = cell.paragraphs[0].add_run(text)
        r.bold = True
        _east_asian(r._r, "黑体")
    if repeat:
        tr_pr = row._tr.get_or_add_trPr()
        tr_pr.append(OxmlElement("w:tblHeader"))


def _new_table(doc: object, header: list[str]) -> object:
    table = doc.add_table(rows=0, cols=len(header))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.autofit = False
    for col, width in zip(table.columns, _WIDTHS, strict=True):
        col.width = width
    _header_row(table, header, repeat=True)
    return table


def _task_row(table: object, task: SeedTask, variant: Variant) -> None:
    row = table.add_row()  # type: ignore[attr-defined]
    cells = row.cells
    _fill(cells[0], [str(task.seq)])
    _fill(cells[1], [task.name])
    _fill(cells[2], content_paragraphs(task, variant))
    _fill_offices(cells[3], task, variant)
    _fill(cells[4], task.remark)
    for cell, width in zip(cells, _WIDTHS, strict=True):
        cell.width = width


def _landscape(doc: object) -> None:
    section = doc.add_section(WD_SECTION.NEW_PAGE)  # type: ignore[attr-defined]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))


def _body(doc: object, seed: Seed) -> None:
    for i, text in enumerate(seed.body):
        if i == 0:
            _para(doc, text, size=22, font="方正小标宋简体", center=True)
        elif re.match(r"^[一二三四五六七八九十]+、", text):
            _para(doc, text, font="黑体")
        elif re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", text) or text.endswith("办公室"):
            p = _para(doc, text)
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT  # type: ignore[attr-defined]
        else:
            p = _para(doc, text)
            p.paragraph_format.first_line_indent = Pt(32)  # type: ignore[attr-defined]


def _attachment2(doc: object, seed: Seed) -> None:
    if not seed.form_header:
        return
    _landscape(doc)
    _para(doc, seed.form_label, font="黑体")
    _para(doc, seed.form_title, size=18, font="方正小标宋简体", center=True)
    for text in seed.form_fields:
        _para(doc, text)
    table = doc.add_table(rows=0, cols=len(seed.form_header))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    _header_row(table, seed.form_header, repeat=True)
    table.add_row()


def build_notice(path: Path, variant: Variant = Variant(), seed: Seed | None = None) -> Path:
    """Write the notice as a .docx: body, 附件1 with its title and task table, the note, 附件2's empty form.

    :returns: ``path``
    """
    seed = seed or read_seed()
    doc = Document()
    _styles(doc)
    _body(doc, seed)
    _landscape(doc)
    _para(doc, seed.label, font="黑体")
    _para(doc, seed.title, size=18, font="方正小标宋简体", center=True)
    table = None
    group = None
    for task in seed.tasks:
        if table is None:
            table = _new_table(doc, seed.header)
        elif task.group != group and variant.layout == "split":
            doc.add_paragraph()  # two tables touching would merge into one in Word
            table = _new_table(doc, seed.header)
        elif task.group != group and variant.layout == "header_rows":
            _header_row(table, seed.header, repeat=False)
        group = task.group
        _task_row(table, task, variant)
    _para(doc, seed.note)
    _attachment2(doc, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


# --- a task list as .xlsx -----------------------------------------------------------------------------


def build_tasks_xlsx(path: Path, *, lead_column: bool = True, seed: Seed | None = None) -> Path:
    """The task table as a workbook: a title row, the header, one row per task (offices one per line).

    :returns: ``path``
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    seed = seed or read_seed()
    wb = Workbook()
    ws = wb.active
    ws.title = "一览表"
    ws.append([seed.title.replace(" ", "")])
    header = list(seed.header)
    if lead_column:
        header.insert(4, "牵头股室")
    ws.append(header)
    for t in seed.tasks:
        row: list[object] = [
            t.seq,
            t.name,
            "\n".join(t.content),
            "\n".join(t.office_names),
            "\n".join(t.remark),
        ]
        if lead_column:
            row.insert(4, "、".join(t.leads))
        ws.append(row)
    for r in ws.iter_rows(min_row=3):
        for c in r:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# --- the example directory ----------------------------------------------------------------------------

DOMAIN = "jyj.example.gov.cn"

# (姓名, 职务, 邮箱 local part, 签发人)
PEOPLE = [
    ("林振华", "局长", "linzh", True),
    ("陈志明", "副局长", "chenzm", False),
    ("黄丽娟", "副局长", "huanglj", False),
    ("梁国栋", "党组成员、副局长", "lianggd", False),
    ("伍慧敏", "督学", "wuhm", False),
]

# (股室名称, 别名, 邮箱 local parts, 联系人, 联系电话, 分管负责同志, 局办公室)
OFFICES = [
    ("局办公室", "办公室", ["bgs"], "甄晓雯", "0750-5500001", "梁国栋", True),
    ("基财股", "", ["jcg", "jcg-zhou"], "周嘉伟", "0750-5500002", "陈志明", False),
    ("职终股", "职成股", ["zzg"], "李月明", "0750-5500003", "黄丽娟", False),
    ("基安股", "", ["jag"], "谭文浩", "0750-5500004", "陈志明", False),
    ("人事股", "", ["rsg"], "邝美玲", "0750-5500005", "梁国栋", False),
    ("督导室", "督导组、教育督导室", ["dds"], "余建新", "0750-5500006", "伍慧敏", False),
    ("教育装备中心", "装备中心", ["zbzx"], "马少峰", "0750-5500007", "陈志明", False),
    ("幼教组", "", ["yjz"], "朱丽华", "0750-5500008", "伍慧敏", False),
    ("教师发展中心", "", ["jsfz", "jsfz-office"], "何志坚", "0750-5500009", "黄丽娟", False),
    ("机关党委", "", ["jgdw"], "雷永康", "0750-5500010", "梁国栋", False),
    ("招考股", "招生考试股", ["zkg"], "刘海燕", "0750-5500011", "黄丽娟", False),
    ("卫健所", "卫生保健所", ["wjs"], "邓晓东", "0750-5500012", "陈志明", False),
]

DISTRIBUTION = [
    ("局领导班子", "ldbz"),
    ("局机关各股室", "gsjs"),
    ("市各中心小学", "zxxx"),
    ("市各中学", "zx"),
    ("有关单位", "ygdw"),
]


def email(local: str) -> str:
    return f"{local}@{DOMAIN}"


def build_directory(path: Path) -> Path:
    """The example directory workbook (layout: docs/directory-format.md).

    :returns: ``path``
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "股室"
    ws.append(["股室名称", "别名", "邮箱", "联系人", "联系电话", "分管负责同志", "局办公室"])
    for name, alias, locals_, contact, phone, leader, bureau in OFFICES:
        ws.append(
            [
                name,
                alias,
                "\n".join(email(x) for x in locals_),
                contact,
                phone,
                leader,
                "是" if bureau else "",
            ]
        )
    people = wb.create_sheet("人员")
    people.append(["姓名", "职务", "邮箱", "角色"])
    for name, title, local, signs in PEOPLE:
        people.append([name, title, email(local), "签发人" if signs else "分管负责同志"])
    dist = wb.create_sheet("分发名单")
    dist.append(["名称", "邮箱"])
    for name, local in DISTRIBUTION:
        dist.append([name, email(local)])
    notes = wb.create_sheet("说明")
    for line in (
        "股室：每行一个股室。别名用“、”分隔；邮箱可填多个（换行或“；”分隔），第一个为报表发送地址；",
        "分管负责同志填“人员”表中的姓名；局办公室一列只在局办公室一行填“是”。",
        "人员：分管负责同志和签发人（局长）；角色一列填“签发人”或“分管负责同志”，签发人只有一位。",
        "分发名单：通报印发后的分发对象。",
        "本表格式见 docs/directory-format.md。",
    ):
        notes.append([line])
    for sheet, widths in (
        (ws, (14, 22, 34, 10, 16, 14, 10)),
        (people, (10, 18, 30, 14)),
        (dist, (18, 30)),
        (notes, (100,)),
    ):
        for i, width in enumerate(widths):
            sheet.column_dimensions[chr(65 + i)].width = width
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the example notice .docx and directory .xlsx.")
    parser.add_argument(
        "--out", type=Path, default=EXAMPLES, help="folder to write into (default: examples/)"
    )
    parser.add_argument("--layout", choices=["one", "split", "header_rows"], default="one")
    parser.add_argument(
        "--underline", choices=["direct", "char_style", "para_style", "none"], default="direct"
    )
    parser.add_argument("--split-runs", action="store_true")
    parser.add_argument("--odd-digits", action="store_true")
    args = parser.parse_args(argv)
    variant = Variant(
        layout=args.layout, underline=args.underline, split_runs=args.split_runs, odd_digits=args.odd_digits
    )
    print(build_notice(args.out / "notice-2022.docx", variant))
    print(build_directory(args.out / "directory-2022.xlsx"))


if __name__ == "__main__":
    main()
