"""Build ``templates/consolidated_notice.docx``, the docxtpl template of the consolidated notice (通报).

Run again after changing the layout: ``.venv/bin/python templates/src/make_consolidated_notice.py``.
The bureau may also edit the produced .docx in Word or WPS directly; duban only needs the Jinja tags.

Layout follows GB/T 9704-2012 (党政机关公文格式):
- A4 portrait, margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (type area 156 × 225 mm);
  22 lines × 28 characters per page (fixed line spacing 28.95 pt; characters 0.25 pt closer, 15.75 pt each);
- title 2号 方正小标宋简体, body 3号 仿宋_GB2312, first level headings 黑体, second level 楷体_GB2312,
  Latin letters and digits in Times New Roman; page numbers "— N —" 4号 宋体 on the outer side;
- issuer centred over the date, the date 右空四字;
- the annex ("附件") in a landscape A4 section with the same type area turned, holding the task table
  whose header row repeats on every page;
- 公开方式 as the 附注 under the date, "（此件主动公开）" two characters in (7.3.6);
- the 版记 (7.4) in a last portrait section that starts on an even page and sits at the bottom of it:
  抄送 and 印发机关/印发日期 in 4号 仿宋, one character in from each side, between full-width lines
  (the first and last thick, 0.35 mm; the one between thin, 0.25 mm); that page has no page number.

Every font is named in the styles with ``w:eastAsia`` (python-docx only writes ``w:ascii``/``w:hAnsi``) and
the theme font references of python-docx's default template are removed, since Word prefers a theme font
over an explicit one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Mm, Pt
from docx.styles.style import CharacterStyle, ParagraphStyle
from docx.text.paragraph import Paragraph

OUT = Path(__file__).resolve().parent.parent / "consolidated_notice.docx"

FANGSONG, XIAOBIAOSONG, HEITI, KAITI, SONGTI = "仿宋_GB2312", "方正小标宋简体", "黑体", "楷体_GB2312", "宋体"
LATIN = "Times New Roman"

BODY_PT = 16  # 3号
RECORD_PT = 14  # 4号: the 版记
TITLE_PT = 22  # 2号
PAGE_NO_PT = 14  # 4号
CELL_PT = 10.5  # 五号
LINE_TWIPS = 579  # 28.95 pt: 22 lines fill the 225 mm type area
# 28 characters of 3号 need 15.79 pt each on the 156 mm line. Chinese Word templates get there with a
# character grid (docGrid charSpace="-849"), but LibreOffice gives a 16 pt character two grid cells of
# 15.79 pt and spreads every line out; tightening the characters by 0.25 pt works the same everywhere.
CHAR_SPACING_TWIPS = -5

# Column widths of the annex table in mm; they add up to the landscape type area (225 mm).
COLUMNS = [
    ("编号", 12),
    ("项目名称", 28),
    ("责任股室", 20),
    ("进展情况", 53),
    ("存在问题和下一步工作计划", 44),
    ("报送情况", 19),
    ("节点情况", 49),
]
CELLS = [
    "{{ t.seq }}",
    "{{ t.name }}",
    "{{ t.leads }}",
    "{{ t.progress }}",
    "{{ t.problems }}",
    "{{ t.status }}",
    "{{ t.milestones }}",
]
CENTRED_COLUMNS = {0, 2, 5}

# Fonts Word and WPS look up when a name is missing: 仿宋_GB2312 is not on a stock Windows 10/11, 仿宋 is.
FONT_TABLE = [
    (FANGSONG, "仿宋", "02010609030101010101", "modern", "fixed"),
    (XIAOBIAOSONG, "宋体", "02000000000000000000", "script", "variable"),
    (HEITI, "SimHei", "02010609060101010101", "modern", "fixed"),
    (KAITI, "楷体", "02010609030101010101", "modern", "fixed"),
    (SONGTI, "SimSun", "02010600030101010101", "auto", "variable"),
]


# --- low-level helpers --------------------------------------------------------------------------------


def _el(tag: str, **attrs: str) -> BaseOxmlElement:
    el = OxmlElement(tag)
    for k, v in attrs.items():
        el.set(qn(f"w:{k}"), v)
    return el


def _child(parent: BaseOxmlElement, tag: str, successors: tuple[str, ...] = ()) -> BaseOxmlElement:
    """The parent's ``tag`` child, created (in schema order, before ``successors``) if absent."""
    found = parent.find(qn(tag))
    if found is None:
        found = OxmlElement(tag)
        parent.insert_element_before(found, *successors)
    return found


# w:pPr children in schema order from w:snapToGrid on (the ones this generator may add come first).
_PPR_ORDER = (
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)


def _after(order: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """The elements that must follow ``tag`` in ``order`` (where a new ``tag`` is inserted before)."""
    return order[order.index(tag) + 1 :]


_RPR_AFTER_FONTS = (
    "w:b",
    "w:bCs",
    "w:i",
    "w:iCs",
    "w:caps",
    "w:smallCaps",
    "w:strike",
    "w:dstrike",
    "w:outline",
    "w:shadow",
    "w:emboss",
    "w:imprint",
    "w:noProof",
    "w:snapToGrid",
    "w:vanish",
    "w:webHidden",
    "w:color",
    "w:spacing",
    "w:w",
    "w:kern",
    "w:position",
    "w:sz",
    "w:szCs",
    "w:highlight",
    "w:u",
    "w:effect",
    "w:bdr",
    "w:shd",
    "w:fitText",
    "w:vertAlign",
    "w:rtl",
    "w:cs",
    "w:em",
    "w:lang",
    "w:eastAsianLayout",
    "w:specVanish",
    "w:oMath",
)


def set_fonts(rpr: BaseOxmlElement, east_asia: str, latin: str = LATIN) -> None:
    """Name both fonts explicitly (and drop theme references, which would win over them)."""
    fonts = _child(rpr, "w:rFonts", _RPR_AFTER_FONTS)
    for attr in list(fonts.attrib):
        fonts.attrib.pop(attr)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:hint"), "eastAsia")


def set_lang(rpr: BaseOxmlElement) -> None:
    lang = _child(rpr, "w:lang", ("w:eastAsianLayout", "w:specVanish", "w:oMath"))
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    lang.set(qn("w:bidi"), "ar-SA")


def char_spacing(rpr: BaseOxmlElement, twips: int) -> None:
    _child(rpr, "w:spacing", _after(_RPR_AFTER_FONTS, "w:spacing")).set(qn("w:val"), str(twips))


def no_snap(ppr: BaseOxmlElement) -> None:
    """Keep a paragraph off the document grid (titles, tables, footers: their own sizes and spacing)."""
    _child(
        ppr,
        "w:snapToGrid",
        _after(_PPR_ORDER, "w:snapToGrid"),
    ).set(qn("w:val"), "0")


def indent_chars(
    ppr: BaseOxmlElement, *, first: int = 0, right: int = 0, left: int = 0, size_pt: float = BODY_PT
) -> None:
    """Indents in characters (Word and WPS read *Chars, LibreOffice the twips given with them)."""
    ind = _child(
        ppr,
        "w:ind",
        _after(_PPR_ORDER, "w:ind"),
    )
    twips = int(size_pt * 20)
    for name, chars in (("firstLine", first), ("left", left), ("right", right)):
        ind.set(qn(f"w:{name}Chars"), str(chars * 100))
        ind.set(qn(f"w:{name}"), str(chars * twips))


def exact_spacing(ppr: BaseOxmlElement, twips: int, *, before: int = 0, after: int = 0) -> None:
    sp = _child(
        ppr,
        "w:spacing",
        _after(_PPR_ORDER, "w:spacing"),
    )
    sp.set(qn("w:before"), str(before))
    sp.set(qn("w:after"), str(after))
    sp.set(qn("w:line"), str(twips))
    sp.set(qn("w:lineRule"), "exact")


def paragraph_style(
    doc: DocxDocument,
    style_id: str,
    name: str,
    *,
    font: str,
    size_pt: float,
    base: str | None = "Normal",
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> ParagraphStyle:
    st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    assert isinstance(st, ParagraphStyle)
    st.style_id = style_id
    if base:
        st.base_style = doc.styles[base]
    st.quick_style = True
    st.font.size = Pt(size_pt)
    set_fonts(st.element.get_or_add_rPr(), font)
    if align is not None:
        st.paragraph_format.alignment = align
    return st


def character_style(doc: DocxDocument, style_id: str, name: str, *, font: str) -> CharacterStyle:
    st = doc.styles.add_style(name, WD_STYLE_TYPE.CHARACTER)
    st.style_id = style_id
    st.quick_style = True
    set_fonts(st.element.get_or_add_rPr(), font)
    return st


# --- document-wide settings ------------------------------------------------------------------------------


def set_defaults(doc: DocxDocument) -> None:
    """docDefaults: 仿宋_GB2312 / Times New Roman 3号, language zh-CN, no paragraph spacing."""
    styles = doc.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    rpr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}")
    set_fonts(rpr, FANGSONG)
    rpr.find(qn("w:sz")).set(qn("w:val"), str(BODY_PT * 2))
    rpr.find(qn("w:szCs")).set(qn("w:val"), str(BODY_PT * 2))
    set_lang(rpr)
    spacing = defaults.find(f"{qn('w:pPrDefault')}/{qn('w:pPr')}/{qn('w:spacing')}")
    for attr in list(spacing.attrib):
        spacing.attrib.pop(attr)
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")
    spacing.set(qn("w:lineRule"), "auto")
    # The default template's styles carry theme fonts and colours (Calibri, Cambria, MS Mincho) that would
    # surface in Word's style gallery; none of them is used by the notice.
    keep = {"Normal", "DefaultParagraphFont", "TableNormal", "NoList", "TableGrid"}
    for st in list(styles.iter(qn("w:style"))):
        if st.get(qn("w:styleId")) not in keep:
            styles.remove(st)
    settings = doc.settings.element
    lang = settings.find(qn("w:themeFontLang"))
    if lang is not None:
        lang.set(qn("w:val"), "en-US")
        lang.set(qn("w:eastAsia"), "zh-CN")


def set_font_table(doc: DocxDocument) -> None:
    """Declare the Chinese fonts with GB2312 charset and the name Word/WPS should substitute."""
    part = next(r.target_part for r in doc.part.rels.values() if r.reltype == RT.FONT_TABLE)
    from docx.oxml.parser import parse_xml
    from lxml import etree

    root = parse_xml(part.blob)
    for font in list(root):
        if font.get(qn("w:name")) in {"ＭＳ 明朝", "ＭＳ ゴシック", "Cambria", "Calibri", "Courier"}:
            root.remove(font)
    for name, alt, panose, family, pitch in FONT_TABLE:
        font = _el("w:font", name=name)
        font.append(_el("w:altName", val=alt))
        font.append(_el("w:panose1", val=panose))
        font.append(_el("w:charset", val="86"))
        font.append(_el("w:family", val=family))
        font.append(_el("w:pitch", val=pitch))
        root.append(font)
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def drop_extras(doc: DocxDocument) -> None:
    """Drop parts of python-docx's default template that carry Japanese/theme defaults or a stale preview."""
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.drop_rel(rid)
    pkg_rels = doc.part.package.rels
    for rid, rel in list(pkg_rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            pkg_rels.pop(rid)


def define_styles(doc: DocxDocument) -> None:
    normal = doc.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    npr = normal.element.get_or_add_pPr()
    exact_spacing(npr, LINE_TWIPS)
    indent_chars(npr, first=2)
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    set_fonts(normal.element.get_or_add_rPr(), FANGSONG)
    char_spacing(normal.element.get_or_add_rPr(), CHAR_SPACING_TWIPS)

    title = paragraph_style(
        doc, "GWTitle", "公文标题", font=XIAOBIAOSONG, size_pt=TITLE_PT, align=WD_ALIGN_PARAGRAPH.CENTER
    )
    tpr = title.element.get_or_add_pPr()
    no_snap(tpr)
    exact_spacing(tpr, 700)  # 35 pt: a two-line 2号 title stays compact
    indent_chars(tpr, size_pt=TITLE_PT)
    char_spacing(title.element.get_or_add_rPr(), 0)

    addressee = paragraph_style(doc, "GWAddressee", "主送机关", font=FANGSONG, size_pt=BODY_PT)
    indent_chars(addressee.element.get_or_add_pPr())

    h1 = paragraph_style(doc, "GWHeading1", "公文一级标题", font=HEITI, size_pt=BODY_PT)
    h1.paragraph_format.keep_with_next = True
    _child(
        h1.element.get_or_add_pPr(),
        "w:outlineLvl",
        ("w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange"),
    ).set(qn("w:val"), "0")
    h2 = paragraph_style(doc, "GWHeading2", "公文二级标题", font=KAITI, size_pt=BODY_PT)
    h2.paragraph_format.keep_with_next = True
    _child(
        h2.element.get_or_add_pPr(),
        "w:outlineLvl",
        ("w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange"),
    ).set(qn("w:val"), "1")
    character_style(doc, "GWHeading2Char", "公文二级标题字符", font=KAITI)

    signature = paragraph_style(
        doc, "GWSignature", "署名日期", font=FANGSONG, size_pt=BODY_PT, align=WD_ALIGN_PARAGRAPH.RIGHT
    )
    indent_chars(signature.element.get_or_add_pPr(), right=4)

    label = paragraph_style(doc, "GWAnnexLabel", "附件标识", font=HEITI, size_pt=BODY_PT)
    indent_chars(label.element.get_or_add_pPr())

    # 附件说明: "附件：" two characters in, a wrapped annex name aligned under its first character.
    annex_note = paragraph_style(doc, "GWAnnexNote", "附件说明", font=FANGSONG, size_pt=BODY_PT)
    ind = _child(annex_note.element.get_or_add_pPr(), "w:ind", ("w:jc", "w:outlineLvl", "w:rPr"))
    for attr, value in (
        ("leftChars", "500"),
        ("left", str(5 * BODY_PT * 20)),
        ("hangingChars", "300"),
        ("hanging", str(3 * BODY_PT * 20)),
        ("firstLineChars", "0"),
    ):
        ind.set(qn(f"w:{attr}"), value)

    table_title = paragraph_style(
        doc, "GWTableTitle", "附件标题", font=XIAOBIAOSONG, size_pt=TITLE_PT, align=WD_ALIGN_PARAGRAPH.CENTER
    )
    ttpr = table_title.element.get_or_add_pPr()
    no_snap(ttpr)
    exact_spacing(ttpr, 700, after=240)
    indent_chars(ttpr, size_pt=TITLE_PT)
    char_spacing(table_title.element.get_or_add_rPr(), 0)

    for sid, name, font, align in (
        ("GWTableHead", "表格表头", HEITI, WD_ALIGN_PARAGRAPH.CENTER),
        ("GWTableText", "表格正文", FANGSONG, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        st = paragraph_style(doc, sid, name, font=font, size_pt=CELL_PT, align=align)
        ppr = st.element.get_or_add_pPr()
        no_snap(ppr)
        exact_spacing(ppr, 320)  # 16 pt lines for 五号 text
        indent_chars(ppr, size_pt=CELL_PT)
        char_spacing(st.element.get_or_add_rPr(), 0)

    note = paragraph_style(doc, "GWTableNote", "表格说明", font=FANGSONG, size_pt=12)
    npr2 = note.element.get_or_add_pPr()
    no_snap(npr2)
    exact_spacing(npr2, 400, before=120)
    indent_chars(npr2, size_pt=12)
    char_spacing(note.element.get_or_add_rPr(), 0)

    remark = paragraph_style(doc, "GWRemark", "附注", font=FANGSONG, size_pt=BODY_PT)
    indent_chars(remark.element.get_or_add_pPr(), first=2)

    record = paragraph_style(doc, "GWRecord", "版记", font=FANGSONG, size_pt=RECORD_PT)
    rpr = record.element.get_or_add_pPr()
    no_snap(rpr)
    exact_spacing(rpr, 560, before=0)  # 28 pt: a 4号 line with room between the rules
    indent_chars(rpr, left=1, right=1, size_pt=RECORD_PT)
    char_spacing(record.element.get_or_add_rPr(), 0)

    page_no = paragraph_style(doc, "GWPageNumber", "页码", font=SONGTI, size_pt=PAGE_NO_PT, base=None)
    pnr = page_no.element.get_or_add_pPr()
    no_snap(pnr)
    set_fonts(page_no.element.get_or_add_rPr(), SONGTI, latin=SONGTI)


# --- page layout -------------------------------------------------------------------------------------------


def page_setup(section: Section, *, landscape: bool) -> None:
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
        # The portrait margins turned with the page: the type area stays 225 × 156 mm.
        section.top_margin, section.bottom_margin = Mm(28), Mm(26)
        section.left_margin, section.right_margin = Mm(37), Mm(35)
        section.footer_distance = Mm(12)
    else:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
        # GB/T 9704 7.5: the page number's dash lies 7 mm below the type area.
        section.footer_distance = Mm(23)
    section.header_distance = Mm(15)
    section.gutter = Mm(0)
    grid = section._sectPr.find(qn("w:docGrid"))
    for attr in list(grid.attrib):
        grid.attrib.pop(attr)
    # No document grid (see CHAR_SPACING_TWIPS): the fixed line spacing of the styles sets the lines.
    grid.set(qn("w:linePitch"), str(LINE_TWIPS if not landscape else 312))


def add_page_field(p: Paragraph) -> None:
    """ "— N —" with a PAGE field (a complex field: Word, WPS and LibreOffice all update it)."""

    def run(text: str | None = None, fld: str | None = None, instr: str | None = None) -> None:
        r = p.add_run()._r
        if text is not None:
            t = OxmlElement("w:t")
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            t.text = text
            r.append(t)
        if fld is not None:
            r.append(_el("w:fldChar", fldCharType=fld))
        if instr is not None:
            it = OxmlElement("w:instrText")
            it.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            it.text = instr
            r.append(it)

    run("— ")
    run(fld="begin")
    run(instr=" PAGE ")
    run(fld="separate")
    run("1")
    run(fld="end")
    run(" —")


def footers(doc: DocxDocument, section: Section) -> None:
    """Odd pages: number on the right, one character in; even pages: on the left (单页码居右，双页码居左)."""
    doc.settings.odd_and_even_pages_header_footer = True
    for footer, align, side in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT, "right"),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT, "left"),
    ):
        footer.is_linked_to_previous = False
        p = footer.paragraphs[0]
        p.style = doc.styles["页码"]
        p.alignment = align
        indent_chars(p._p.get_or_add_pPr(), **{side: 1}, size_pt=PAGE_NO_PT)
        add_page_field(p)


# --- content -----------------------------------------------------------------------------------------------


def para(doc: DocxDocument, text: str = "", style: str | None = None) -> Paragraph:
    return doc.add_paragraph(text, style=style)


def run_in_heading(doc: DocxDocument, head: str, body: str) -> Paragraph:
    """A body paragraph opening with a 楷体 run-in heading: "（一）按时报送。正文……"."""
    p = doc.add_paragraph()
    p.add_run(head, style="公文二级标题字符")
    p.add_run(body)
    return p


def body(doc: DocxDocument) -> None:
    # The title breaks where GB/T 9704 wants it: at a word boundary, the upper line shorter (梯形).
    title = para(doc, "关于{{ org_name }}{{ year }}年", "公文标题")
    title.add_run().add_break()
    title.add_run("重点工作任务{{ span }}进展情况的通报")
    para(doc)
    para(doc, "{{ addressee }}：", "主送机关")
    para(doc, "{{ opening }}")

    para(doc, "一、总体情况", "公文一级标题")
    para(doc, "{{ overview }}")

    para(doc, "二、报送情况", "公文一级标题")
    para(doc, "{%p for item in reporting %}")
    run_in_heading(doc, "{{ item.head }}", "{{ item.text }}")
    para(doc, "{%p endfor %}")

    para(doc, "三、时间节点情况", "公文一级标题")
    para(doc, "{{ milestone_overview }}")
    para(doc, "{%p if milestone_offices %}")
    para(doc, "{{ milestone_offices }}")
    para(doc, "{%p endif %}")
    para(doc, "请各牵头股室对照时间节点逐项核实完成情况，未按期完成的，在下月报表中说明原因及整改措施。")

    para(doc, "四、下一步工作要求", "公文一级标题")
    run_in_heading(
        doc,
        "（一）强化责任落实。",
        "各牵头股室要对照任务一览表和关键时间节点，细化工作措施，倒排工期，确保各项任务按期完成；"
        "协办股室要积极配合，形成工作合力。",
    )
    run_in_heading(
        doc,
        "（二）按时报送进展。",
        "各牵头股室要在每月{{ due_day }}日前将任务落实情况经分管负责同志审定后报送局办公室，"
        "逾期未报送的将在下期通报中予以说明。",
    )
    last = run_in_heading(
        doc,
        "（三）及时解决问题。",
        "对推进中遇到的困难和问题，各股室要认真研究、对症施策；经多次协调仍无法解决的，"
        "要及时报送局党组研究解决。",
    )
    # GB/T 9704 7.3.5: the signature never stands on a page without body text, so the last paragraph, the
    # annex note and the blank lines for the seal all keep with the signature.
    tail = [
        last,
        para(doc),
        para(doc, "附件：{{ annex_title }}", "附件说明"),
        para(doc),
        para(doc),
        para(doc),
    ]
    # 发文机关署名 centred over the date (a centred tab stop at the date's middle, see the module docstring).
    issuer = para(doc, "\t{{ issuer }}", "署名日期")
    issuer.alignment = WD_ALIGN_PARAGRAPH.LEFT
    indent_chars(issuer._p.get_or_add_pPr())
    issuer.paragraph_format.tab_stops.add_tab_stop(
        Mm(156) - Pt(4 * BODY_PT) - Pt(52), alignment=WD_TAB_ALIGNMENT.CENTER
    )
    tail.append(issuer)
    date = para(doc, "{{ issued_on }}", "署名日期")
    tail.append(date)
    for p in tail:
        p.paragraph_format.keep_with_next = True
    # 公开方式 as the 附注 (one paragraph, empty when not set: a {%p if %} paragraph would be removed
    # with the section break it carries).
    para(doc, "{{ disclosure_note }}", "附注")


def annex(doc: DocxDocument) -> None:
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    page_setup(section, landscape=True)
    # python-docx puts the break in a new empty paragraph, which could spill onto a page of its own;
    # the date paragraph carries it instead.
    breaker = doc.paragraphs[-1]._p
    date = breaker.getprevious()
    assert breaker.pPr is not None
    date.get_or_add_pPr().append(breaker.pPr.find(qn("w:sectPr")))
    breaker.getparent().remove(breaker)
    para(doc, "附件", "附件标识")
    para(doc, "{{ annex_title }}", "附件标题")

    table = doc.add_table(rows=4, cols=len(COLUMNS))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    tbl = table._tbl
    tbl_pr = tbl.tblPr
    width = Mm(sum(w for _, w in COLUMNS))
    tbl_w = _child(
        tbl_pr,
        "w:tblW",
        (
            "w:jc",
            "w:tblCellSpacing",
            "w:tblInd",
            "w:tblBorders",
            "w:shd",
            "w:tblLayout",
            "w:tblCellMar",
            "w:tblLook",
        ),
    )
    tbl_w.set(qn("w:w"), str(int(width.twips)))
    tbl_w.set(qn("w:type"), "dxa")
    _child(tbl_pr, "w:tblLayout", ("w:tblCellMar", "w:tblLook")).set(qn("w:type"), "fixed")
    borders = _child(tbl_pr, "w:tblBorders", ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook"))
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_el(f"w:{edge}", val="single", sz="4", space="0", color="000000"))
    for col, (_, mm) in zip(table.columns, COLUMNS, strict=True):
        col.width = Mm(mm)

    header, loop_start, data, loop_end = table.rows
    tr_pr = header._tr.get_or_add_trPr()
    tr_pr.append(_el("w:cantSplit"))
    tr_pr.append(_el("w:tblHeader"))
    for i, (cell, (text, mm)) in enumerate(zip(header.cells, COLUMNS, strict=True)):
        cell.width = Mm(mm)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        p = cell.paragraphs[0]
        p.style = doc.styles["表格表头"]
        p.add_run(text)
        del i
    loop_start.cells[0].paragraphs[0].add_run("{%tr for t in tasks %}")
    loop_end.cells[0].paragraphs[0].add_run("{%tr endfor %}")
    for row in (loop_start, loop_end):
        for cell, (_, mm) in zip(row.cells, COLUMNS, strict=True):
            cell.width = Mm(mm)
            cell.paragraphs[0].style = doc.styles["表格正文"]
    # A task's row stays on one page (LibreOffice also top-aligns the cells of rows that may split);
    # duban lets a row split again when its text is too long for that (mailer/render/notice.py).
    data._tr.get_or_add_trPr().append(_el("w:cantSplit"))
    for i, (cell, text, (_, mm)) in enumerate(zip(data.cells, CELLS, COLUMNS, strict=True)):
        cell.width = Mm(mm)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        p = cell.paragraphs[0]
        p.style = doc.styles["表格正文"]
        if i in CENTRED_COLUMNS:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run(text)

    para(doc, "{{ annex_note }}", "表格说明")


_SECT_AFTER_VALIGN = ("w:noEndnote", "w:titlePg", "w:textDirection", "w:bidi", "w:rtlGutter", "w:docGrid",
                      "w:printerSettings")


def record(doc: DocxDocument) -> None:
    """The 版记: a last section on an even page, its text at the page's bottom, no page number."""
    section = doc.add_section(WD_SECTION.EVEN_PAGE)
    page_setup(section, landscape=False)
    breaker = doc.paragraphs[-1]._p  # the annex note carries the annex's section break (see annex())
    note = breaker.getprevious()
    assert breaker.pPr is not None
    note.get_or_add_pPr().append(breaker.pPr.find(qn("w:sectPr")))
    breaker.getparent().remove(breaker)
    sect = section._sectPr
    _child(sect, "w:vAlign", _SECT_AFTER_VALIGN).set(qn("w:val"), "bottom")
    for footer in (section.footer, section.even_page_footer):
        footer.is_linked_to_previous = False  # an empty footer of its own: the 版记 page has no number

    width = Mm(156)
    table = doc.add_table(rows=4, cols=1)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    tbl_w = _child(tbl_pr, "w:tblW", ("w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd",
                                      "w:tblLayout", "w:tblCellMar", "w:tblLook"))
    tbl_w.set(qn("w:w"), str(int(width.twips)))
    tbl_w.set(qn("w:type"), "dxa")
    _child(tbl_pr, "w:tblLayout", ("w:tblCellMar", "w:tblLook")).set(qn("w:type"), "fixed")
    # Sizes in eighths of a point: 0.35 mm ≈ 1 pt for the first and last line, 0.25 mm ≈ 0.75 pt between.
    borders = _child(tbl_pr, "w:tblBorders", ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook"))
    for edge, size in (("top", "8"), ("left", "0"), ("bottom", "8"), ("right", "0"), ("insideH", "6"),
                       ("insideV", "0")):
        val = "single" if size != "0" else "nil"
        borders.append(_el(f"w:{edge}", val=val, sz=size, space="0", color="000000"))
    margins = _child(tbl_pr, "w:tblCellMar", ("w:tblLook",))
    for side in ("left", "right"):
        margins.append(_el(f"w:{side}", w="0", type="dxa"))
    table.columns[0].width = width
    if_cc, cc, end_cc, issued = table.rows
    if_cc.cells[0].paragraphs[0].add_run("{%tr if cc_text %}")
    end_cc.cells[0].paragraphs[0].add_run("{%tr endif %}")
    cc_p = cc.cells[0].paragraphs[0]
    cc_p.style = doc.styles["版记"]
    cc_p.add_run("抄送：{{ cc_text }}")
    # GB/T 9704 7.4.2: 抄送机关 wrap aligned under the first one, after "抄送：".
    ind = cc_p._p.get_or_add_pPr().get_or_add_ind()
    ind.set(qn("w:hangingChars"), "300")
    ind.set(qn("w:hanging"), str(3 * RECORD_PT * 20))
    ind.set(qn("w:leftChars"), "400")
    ind.set(qn("w:left"), str(4 * RECORD_PT * 20))
    issued_p = issued.cells[0].paragraphs[0]
    issued_p.style = doc.styles["版记"]
    issued_p.add_run("{{ print_issuer }}\t{{ print_date }}印发")
    issued_p.paragraph_format.tab_stops.add_tab_stop(width - Pt(RECORD_PT), alignment=WD_TAB_ALIGNMENT.RIGHT)
    for row in table.rows:
        row.cells[0].width = width
    # The body must end in a paragraph; a 1 pt one adds nothing below the last line.
    tail = para(doc)
    tpr = tail._p.get_or_add_pPr()
    no_snap(tpr)
    exact_spacing(tpr, 20)
    indent_chars(tpr)
    run_pr = tail.add_run()._r.get_or_add_rPr()
    size = _el("w:sz", val="2")
    run_pr.append(size)


def build(out: Path = OUT) -> Path:
    doc = Document()
    drop_extras(doc)
    set_defaults(doc)
    set_font_table(doc)
    define_styles(doc)
    first = doc.sections[0]
    page_setup(first, landscape=False)
    footers(doc, first)
    body(doc)
    annex(doc)
    record(doc)
    props = doc.core_properties
    props.title = "重点工作任务进展情况通报"
    props.author = "duban"
    props.language = "zh-CN"
    # docxtpl renders these properties as Jinja too, so they hold no tag-like text.
    props.comments = "duban 通报模板：可在 Word/WPS 中修改版式，保留双花括号变量与 tr 循环标签。"
    props.revision = 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    doc.save(str(tmp))
    tmp.replace(out)
    return out


if __name__ == "__main__":
    sys.stdout.write(f"{build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)}\n")
