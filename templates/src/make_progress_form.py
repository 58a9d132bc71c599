"""Build templates/progress_form.docx, the docxtpl template of the monthly progress form (Attachment 2).

Run from the repository root (re-runnable; the output is overwritten):

    .venv/bin/python templates/src/make_progress_form.py [OUT.docx]

The form reproduces Attachment 2 of the notice: A4 landscape, the title with the cumulative period
"（1—N月）", 填报股室 pre-filled, 填报人 / 填报日期 left to fill, a one-line 填写说明, and a seven-column table
whose header row repeats on every page and which gets one row per task through ``{%tr for %}``.

Every font is set as an East Asian font in the *styles* (not on runs), with docDefaults saying zh-CN, so
Word, WPS and LibreOffice all pick 仿宋_GB2312 / 黑体 / 方正小标宋简体 for Chinese text; docxtpl's plain
``{{ }}`` keeps the template run, so rendered values inherit those styles. The bureau may restyle the
result in Word; the parser finds the table by its header labels, so only the labels matter to duban.

Template variables: org_name, year, span, office, token, month, due_day, due_date (the period's real due
date, "6月20日"), reviewer ("分管负责同志李明副局长"), rows (each: seq, name, content
(RichText), offices (RichText), progress, problems, remark).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

OUT = Path(__file__).resolve().parent.parent / "progress_form.docx"

LATIN = "Times New Roman"
BODY_FONT = "仿宋_GB2312"
HEAD_FONT = "黑体"
TITLE_FONT = "方正小标宋简体"

# (header label, width in cm, paragraph style of the data cell, template expression of the data cell)
# Widths add up to the text width of A4 landscape with 1.8 cm side margins (29.7 − 3.6 = 26.1 cm).
COLUMNS = [
    ("编号", 1.4, "FormCellCenter", "{{ row.seq }}"),
    ("项目名称", 2.9, "FormCell", "{{ row.name }}"),
    ("主要内容和关键时间节点计划", 7.5, "FormCellSmall", "{{r row.content }}"),
    ("责任股室", 2.2, "FormCellCenter", "{{r row.offices }}"),
    ("进展情况", 5.6, "FormCell", "{{ row.progress }}"),
    ("存在问题和下一步工作计划", 4.6, "FormCell", "{{ row.problems }}"),
    ("备注", 1.9, "FormCell", "{{ row.remark }}"),
]

TITLE = "{{ org_name }}{{ year }}年重点工作推进项目进展情况表（{{ span }}）"
NOTE = (
    "填写说明：请在原有内容基础上更新“进展情况”“存在问题和下一步工作计划”“备注”三栏（截至{{ month }}月底）；"
    "【本月到期】为本月底前应完成的节点，【已到期】为完成时限已过的节点，请在“进展情况”中逐项说明完成情况；"
    "请勿改动编号、项目名称和表单编号。报送截至{{ due_date }}：请在此前回复本邮件报送，"
    "收到后即送{{ reviewer }}审定，审定同意后纳入全局汇总通报。"
)


def _fonts(rpr: OxmlElement, latin: str, east_asia: str) -> None:
    """Explicit fonts, no theme fonts: a theme's East Asian font is MS Mincho in python-docx's default."""
    for old in rpr.findall(qn("w:rFonts")):
        rpr.remove(old)
    rfonts = OxmlElement("w:rFonts")
    rfonts.set(qn("w:ascii"), latin)
    rfonts.set(qn("w:hAnsi"), latin)
    rfonts.set(qn("w:cs"), latin)
    rfonts.set(qn("w:eastAsia"), east_asia)
    rpr.insert(0, rfonts)


def _set_defaults(doc: Document) -> None:
    styles = doc.styles.element
    rpr = styles.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}")
    _fonts(rpr, LATIN, BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    ppr = styles.find(f"{qn('w:docDefaults')}/{qn('w:pPrDefault')}/{qn('w:pPr')}")
    spacing = ppr.find(qn("w:spacing"))
    for k, v in (("w:after", "0"), ("w:line", "240"), ("w:lineRule", "auto")):
        spacing.set(qn(k), v)
    theme_lang = doc.settings.element.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), "zh-CN")


def _paragraph_style(doc: Document, style_id: str, name: str, *, font: str, size: float, latin: str = LATIN,
                     align: WD_ALIGN_PARAGRAPH | None = None, space_after: float = 0) -> None:
    style = doc.styles.add_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
    style.name = name
    style.base_style = doc.styles["Normal"]
    style.font.size = Pt(size)
    _fonts(style.element.get_or_add_rPr(), latin, font)
    pf = style.paragraph_format
    pf.space_after = Pt(space_after)
    pf.space_before = Pt(0)
    if align is not None:
        pf.alignment = align


# Style ids stay ASCII (safe everywhere); the names are what the bureau sees in Word's style pane.
STYLE_NAMES = {
    "FormTitle": "表单标题",
    "FormInfo": "填报信息",
    "FormNote": "填写说明",
    "FormHeader": "表头",
    "FormCell": "表格文字",
    "FormCellCenter": "表格文字居中",
    "FormCellSmall": "表格文字小",
    "FormFooter": "表单编号",
}
# Styles of python-docx's default template the form uses (directly or as the base of ours).
KEEP_STYLES = {"Normal", "DefaultParagraphFont", "TableNormal", "NoList", "TableGrid"}


def _set_styles(doc: Document) -> None:
    normal = doc.styles["Normal"]
    normal.font.size = Pt(12)
    _fonts(normal.element.get_or_add_rPr(), LATIN, BODY_FONT)
    n = STYLE_NAMES
    _paragraph_style(doc, "FormTitle", n["FormTitle"], font=TITLE_FONT, latin=TITLE_FONT, size=22,
                     align=WD_ALIGN_PARAGRAPH.CENTER, space_after=10)
    _paragraph_style(doc, "FormInfo", n["FormInfo"], font=BODY_FONT, size=14, space_after=4)
    _paragraph_style(doc, "FormNote", n["FormNote"], font=BODY_FONT, size=10.5, space_after=6)
    _paragraph_style(doc, "FormHeader", n["FormHeader"], font=HEAD_FONT, latin=HEAD_FONT, size=12,
                     align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph_style(doc, "FormCell", n["FormCell"], font=BODY_FONT, size=12)
    _paragraph_style(doc, "FormCellCenter", n["FormCellCenter"], font=BODY_FONT, size=12,
                     align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph_style(doc, "FormCellSmall", n["FormCellSmall"], font=BODY_FONT, size=10.5)
    _paragraph_style(doc, "FormFooter", n["FormFooter"], font=BODY_FONT, size=10.5,
                     align=WD_ALIGN_PARAGRAPH.RIGHT)


def _prune(doc: Document) -> None:
    """Drop what python-docx's default template carries and the form never uses: ~120 unused styles,
    stylesWithEffects, customXml, the thumbnail. A small package loads and saves several times faster,
    which matters when a form is rendered for every office."""
    styles = doc.styles.element
    for st in list(styles.iterchildren(qn("w:style"))):
        sid = st.get(qn("w:styleId"))
        if sid not in KEEP_STYLES and sid not in STYLE_NAMES:
            styles.remove(st)
    latent = styles.find(qn("w:latentStyles"))
    if latent is not None:
        styles.remove(latent)
    unused = ("stylesWithEffects", "customXml", "thumbnail", "webSettings", "numbering")
    for rels in (doc.part.rels, doc.part.package.rels):
        for rid, rel in list(rels.items()):
            if any(rel.reltype.endswith("/" + name) for name in unused):
                del rels[rid]


def _page(doc: Document) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    section.left_margin = section.right_margin = Cm(1.8)
    section.top_margin, section.bottom_margin = Cm(2.0), Cm(1.8)
    section.header_distance, section.footer_distance = Cm(1.0), Cm(0.9)


def _info_line(doc: Document) -> None:
    p = doc.add_paragraph(style=STYLE_NAMES["FormInfo"])
    tabs = p.paragraph_format.tab_stops
    tabs.add_tab_stop(Cm(10.0))
    tabs.add_tab_stop(Cm(17.5))
    # One run per label: a person types after each colon; {{ office }} stays a single run for docxtpl.
    p.add_run("填报股室：{{ office }}")
    p.add_run("\t填报人：")
    p.add_run("\t填报日期：        年     月     日")


def _cell_props(cell: object, width_cm: float) -> None:
    cell.width = Cm(width_cm)  # type: ignore[attr-defined]
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER  # type: ignore[attr-defined]


def _row_flag(row: object, tag: str) -> None:
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    el = OxmlElement(tag)
    tr_pr.append(el)


def _table(doc: Document) -> None:
    table = doc.add_table(rows=4, cols=len(COLUMNS))
    table.style = doc.styles["Table Grid"]
    table.autofit = False  # a fixed layout: our widths whatever the content
    tbl_w = table._tbl.tblPr.find(qn("w:tblW"))
    tbl_w.set(qn("w:type"), "dxa")
    tbl_w.set(qn("w:w"), str(round(sum(c[1] for c in COLUMNS) / 2.54 * 1440)))
    for i, col in enumerate(table.columns):
        col.width = Cm(COLUMNS[i][1])
    header, loop_open, data, loop_close = table.rows
    _row_flag(header, "w:tblHeader")  # repeat on every page
    _row_flag(header, "w:cantSplit")
    for i, (label, width, style, expr) in enumerate(COLUMNS):
        for row in table.rows:
            _cell_props(row.cells[i], width)
        header.cells[i].paragraphs[0].style = doc.styles[STYLE_NAMES["FormHeader"]]
        header.cells[i].paragraphs[0].add_run(label)
        data.cells[i].paragraphs[0].style = doc.styles[STYLE_NAMES[style]]
        data.cells[i].paragraphs[0].add_run(expr)
    loop_open.cells[0].paragraphs[0].add_run("{%tr for row in rows %}")
    loop_close.cells[0].paragraphs[0].add_run("{%tr endfor %}")


def _footer(doc: Document) -> None:
    footer = doc.sections[0].footer
    p = footer.paragraphs[0]
    p.style = doc.styles[STYLE_NAMES["FormFooter"]]
    p.add_run("表单编号：{{ token }}（请勿删改）　第 ")
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), " PAGE ")
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "1"
    r.append(t)
    fld.append(r)
    p._p.append(fld)
    tail = OxmlElement("w:r")
    tail_t = OxmlElement("w:t")
    tail_t.text = " 页"
    tail_t.set(qn("xml:space"), "preserve")
    tail.append(tail_t)
    p._p.append(tail)


def build(out: Path) -> Path:
    """Write the template to ``out`` (atomically) and return it."""
    doc = Document()
    _set_defaults(doc)
    _set_styles(doc)
    _prune(doc)
    _page(doc)
    body = doc.element.body
    for p in list(body.iterchildren(qn("w:p"))):
        body.remove(p)
    doc.add_paragraph(TITLE, style=STYLE_NAMES["FormTitle"])
    _info_line(doc)
    doc.add_paragraph(NOTE, style=STYLE_NAMES["FormNote"])
    _table(doc)
    # Word wants a paragraph between a table and the section end; keep it tiny so no blank page appears.
    tail = doc.add_paragraph(style=STYLE_NAMES["FormNote"])
    tail.paragraph_format.space_after = Pt(0)
    _footer(doc)
    props = doc.core_properties
    props.title = "重点工作推进项目进展情况表"
    props.author = "局办公室"
    props.language = "zh-CN"
    props.identifier = ""
    props.comments = "duban 督办 progress form template; rebuilt by templates/src/make_progress_form.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    doc.save(buf)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(_reproducible(buf.getvalue()))
    tmp.replace(out)
    return out


def _reproducible(data: bytes) -> bytes:
    """The same package with fixed entry timestamps, so that re-running the script changes the committed
    file only when its content changes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2022, 6, 2, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info))
    return out.getvalue()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    sys.stdout.write(f"{build(target)}\n")
