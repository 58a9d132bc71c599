"""parse_form on the layouts and markup people really send back (no database involved)."""

from __future__ import annotations

import copy
import io

import pytest
from docx import Document
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from form_factory import HEADER, docx_bytes, notice_form, type_into, wrap_in_sdt

from mailer.common.errors import FormParseError
from mailer.read.formparse import parse_form, parse_number

ROWS = [
    ["1", "培英职业技术学校新校区建设项目", "计划……", "基财股\n职终股", "已完成施工招标。\n6月20日开标。", "资金缺口", ""],
    ["2", "增加学位供给", "计划……", "基财股\n基安股", "基础工程完成80%", "", "民生实事"],
    ["3", "提升基础教育生均公用经费补助标准", "计划……", "基财股", "已拨付春季经费。", "", ""],
]


def _doc(rows: list[list[str]] = ROWS, header: list[str] = HEADER, before: list[str] | None = None):  # type: ignore[no-untyped-def]
    doc = Document()
    for text in before if before is not None else ["台山市教育系统2022年重点工作推进项目进展情况表（1—6月）",
                                                  "填报股室：基财股　　填报人：张三　　填报日期：2022年6月15日"]:
        doc.add_paragraph(text)
    table = doc.add_table(rows=1 + len(rows), cols=len(header))
    for c, label in enumerate(header):
        type_into(table.rows[0].cells[c], label, split_runs=False)
    for r, values in enumerate(rows, start=1):
        for c, text in enumerate(values):
            type_into(table.rows[r].cells[c], text)
    return doc, table


def _triples(parsed):  # type: ignore[no-untyped-def]
    return [(r.number, r.name, r.progress, r.problems, r.remark) for r in parsed.rows]


EXPECTED = [(int(r[0]), r[1], r[4], r[5], r[6]) for r in ROWS]


def test_plain_form_reads_rows_and_header_facts():
    doc, _ = _doc()
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed) == EXPECTED
    assert parsed.rows[0].offices_text == "基财股\n职终股"
    assert (parsed.year, parsed.month) == (2022, 6)
    assert (parsed.office_text, parsed.filled_by, parsed.filled_on) == ("基财股", "张三", "2022年6月15日")
    assert parsed.columns == ["number", "name", "content", "offices", "progress", "problems", "remark"]
    assert parsed.token is None


def test_header_labels_with_spaces_full_width_line_breaks_extra_and_reordered_columns():
    """
    GIVEN a header typed loosely — "编 号", "项目\\n名称", "进展情况（截至6月底）", "备　注" — with an extra
          "完成进度(%)" column and 进展情况 moved before 主要内容
    WHEN  parsed
    THEN  every field is found by its label, not its position
    """
    header = ["编 号", "项目\n名称", "进展情况（截至6月底）", "完成进度(%)", "主要内容和关键\n时间节点计划", "责任股室",
              "存在问题和下一步工作计划", "备　注"]
    rows = [[r[0], r[1], r[4], "80", r[2], r[3], r[5], r[6]] for r in ROWS]
    doc, _ = _doc(rows, header)
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed) == EXPECTED
    assert parsed.columns == ["number", "name", "progress", "content", "offices", "problems", "remark"]


def test_content_controls_around_cells_rows_paragraphs_and_runs():
    """
    GIVEN the progress cell of row 1 wrapped in a content control (w:sdt), the whole row 2 wrapped, a
          paragraph of row 3 and a run of row 3 wrapped
    WHEN  parsed
    THEN  nothing is missing and no cell shifts (python-docx would miss all four)
    """
    doc, table = _doc()
    cell = table.rows[3].cells[4]  # before wrapping: python-docx no longer sees sdt-wrapped rows
    row2 = table.rows[2]._tr
    wrap_in_sdt(table.rows[1].cells[4]._tc)
    wrap_in_sdt(row2)
    cell.add_paragraph("第二段")
    wrap_in_sdt(cell.paragraphs[1]._p)
    wrap_in_sdt(cell.paragraphs[0].runs[0]._r)
    parsed = parse_form(docx_bytes(doc))
    expected = [*EXPECTED[:2], (3, ROWS[2][1], "已拨付春季经费。\n第二段", "", "")]
    assert _triples(parsed) == expected


def test_tracked_insertions_kept_and_deletions_dropped():
    doc, table = _doc()
    p = table.rows[2].cells[4].paragraphs[0]
    p._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="张三"><w:r><w:t>，已封顶</w:t></w:r></w:ins>'))
    p._p.append(parse_xml(
        f'<w:del {nsdecls("w")} w:id="2" w:author="张三"><w:r><w:delText>（旧）</w:delText></w:r>'
        f'<w:r><w:t>不该出现</w:t></w:r></w:del>'
    ))
    parsed = parse_form(docx_bytes(doc))
    assert parsed.rows[1].progress == "基础工程完成80%，已封顶"


def test_grid_span_header_over_two_columns_and_a_cell_merged_across_two_fields():
    """
    GIVEN the 进展情况 header spans two columns whose data cells stay separate, and in row 3 the
          存在问题 and 备注 cells are merged into one
    WHEN  parsed
    THEN  both progress cells are read (in order) and the merged text goes to 存在问题 only
    """
    header = [*HEADER[:4], "进展情况", "", *HEADER[5:]]
    rows = [[*r[:4], r[4], "（补充）", *r[5:]] for r in ROWS]
    doc, table = _doc(rows, header)
    table.rows[0].cells[4].merge(table.rows[0].cells[5])
    row3 = table.rows[3]
    row3.cells[6].merge(row3.cells[7])
    type_into(row3.cells[6], "经费下达延迟")
    parsed = parse_form(docx_bytes(doc))
    assert parsed.rows[0].progress == "已完成施工招标。\n6月20日开标。\n（补充）"
    assert (parsed.rows[2].problems, parsed.rows[2].remark) == ("经费下达延迟", "")


def test_vertical_merges_offices_shared_and_an_added_row_under_a_task():
    """
    GIVEN 责任股室 merged vertically over rows 1–3, and a row added under task 1 whose 编号 and 项目名称 are
          merged into task 1's and which carries more progress text
    WHEN  parsed
    THEN  rows 2 and 3 read the shared office text, and the added row's text joins task 1
    """
    doc, table = _doc()
    new = copy.deepcopy(table.rows[1]._tr)
    table.rows[1]._tr.addnext(new)
    rows = table.rows  # header, 1, added, 2, 3
    rows[1].cells[0].merge(rows[2].cells[0])
    rows[1].cells[1].merge(rows[2].cells[1])
    type_into(rows[2].cells[4], "7月开工。")
    type_into(rows[2].cells[5], "")
    type_into(rows[1].cells[0], "1", split_runs=False)
    type_into(rows[1].cells[1], ROWS[0][1], split_runs=False)
    rows[3].cells[3].merge(rows[4].cells[3])
    type_into(rows[3].cells[3], "基财股")
    parsed = parse_form(docx_bytes(doc))
    assert [r.number for r in parsed.rows] == [1, 2, 3]
    assert parsed.rows[0].progress == "已完成施工招标。\n6月20日开标。\n7月开工。"
    assert parsed.rows[1].offices_text == parsed.rows[2].offices_text == "基财股"


def test_grid_before_row_without_a_number_cell():
    """A row that starts one grid column in (w:gridBefore) has no 编号 but keeps its other columns."""
    doc, table = _doc()
    tr = table.rows[2]._tr
    tr.remove(tr.findall(qn("w:tc"))[0])
    tr_pr = tr.get_or_add_trPr()
    gb = OxmlElement("w:gridBefore")
    gb.set(qn("w:val"), "1")
    tr_pr.insert(0, gb)
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed)[1] == (None, "增加学位供给", "基础工程完成80%", "", "民生实事")


def test_split_tables_with_repeated_headers_and_a_header_row_repeated_inside():
    """
    GIVEN the form split in two tables (Word: split table), each with its header, the second table
          repeating its header again in the middle, and a third table with no header and the same width
    WHEN  parsed
    THEN  every row is read once, in order, and no header row is taken for a task
    """
    doc, _table = _doc(ROWS[:1])
    gap = doc.add_paragraph("")
    _, second = _doc(ROWS[1:2])
    gap._p.addnext(second._tbl)
    second.add_row()
    hdr = copy.deepcopy(second.rows[0]._tr)
    second.rows[1]._tr.addnext(hdr)
    third = doc.add_table(rows=1, cols=7)
    for c, text in enumerate(ROWS[2]):
        type_into(third.rows[0].cells[c], text)
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed) == EXPECTED
    assert parsed.tables == 3


def test_form_nested_in_a_layout_table_and_info_in_table_cells():
    """
    GIVEN a layout table whose first row holds 填报股室 / 填报人 / 填报日期 as label and value cells
          (full-width colons, underscores as blanks, extra spaces) and whose second row nests the form
    WHEN  parsed
    THEN  the form is found inside and the three facts are read from the cells
    """
    doc = Document()
    doc.add_paragraph("台山市教育系统2022年重点工作推进项目进展情况表（1-6月）")
    layout = doc.add_table(rows=2, cols=6)
    for c, text in enumerate(["填报股室：", " 基财股 ", "填 报 人", "__张三__", "填报日期：", "2022 年 6 月 15 日"]):
        layout.rows[0].cells[c].text = text
    holder = layout.rows[1].cells[0].merge(layout.rows[1].cells[5])
    _, form = _doc()
    holder._tc.append(form._tbl)
    holder._tc.append(OxmlElement("w:p"))
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed) == EXPECTED
    assert (parsed.office_text, parsed.filled_by, parsed.filled_on) == ("基财股", "张三", "2022年6月15日")
    assert parsed.month == 6


@pytest.mark.parametrize(
    ("title", "year", "month"),
    [
        ("台山市教育系统 2022 年重点工作推进项目进展情况表（1—6月）", 2022, 6),
        ("台山市教育系统2022年重点工作推进项目进展情况表（1-6月）", 2022, 6),
        ("台山市教育系统２０２２年重点工作推进项目进展情况表（１－６月）", 2022, 6),
        ("台山市教育系统2022年重点工作推进项目进展情况表(1至6月)", 2022, 6),
        ("台山市教育系统2022年重点工作推进项目进展情况表（1~6月）", 2022, 6),
        ("台山市教育系统2022年重点工作推进项目进展情况表（1～7月）", 2022, 7),
        ("台山市教育系统2022年重点工作推进项目进展情况表（1月—12月）", 2022, 12),
        ("台山市教育系统 2022 年重点工作推进项目进展情况表（1—月）", 2022, None),
        ("台山市教育系统2022年重点工作推进项目进展情况表（6月）", 2022, 6),
    ],
)
def test_title_period_variants(title, year, month):
    doc, _ = _doc(before=[title, "填报股室：基财股"])
    parsed = parse_form(docx_bytes(doc))
    assert (parsed.year, parsed.month) == (year, month)


def test_title_split_over_two_paragraphs():
    doc, _ = _doc(before=["台山市教育系统2022年重点工作推进项目", "进展情况表（1—6月）"])
    parsed = parse_form(docx_bytes(doc))
    assert (parsed.year, parsed.month) == (2022, 6)
    assert parsed.title == "台山市教育系统2022年重点工作推进项目进展情况表（1—6月）"


@pytest.mark.parametrize(
    ("line", "office", "by", "on"),
    [
        ("填报股室：基财股\t填报人：\t填报日期：        年     月     日", "基财股", "", ""),
        ("填报股室:基财股    填报人:王五    填报日期:2022.6.18", "基财股", "王五", "2022.6.18"),
        ("填报股室 ： 基 财 股", "基 财 股", "", ""),
        ("填报人：________", "", "", ""),
        ("填报人：张三（电话：5521816）", "", "张三", ""),
        ("填表人：赵六  填表日期：2022年6月19日", "", "赵六", "2022年6月19日"),
        ("填报日期：２０２２ 年 ６ 月 １５ 日", "", "", "２０２２年６月１５日"),
    ],
)
def test_info_line_variants(line, office, by, on):
    doc, _ = _doc(before=["进展情况表（1—6月）", line])
    parsed = parse_form(docx_bytes(doc))
    assert (parsed.office_text, parsed.filled_by, parsed.filled_on) == (office, by, on)


def test_the_notice_attachment_two_layout_filled_by_hand():
    """
    GIVEN the notice's own Attachment 2 (separate 填报 lines, no token, no styles of ours), rows typed by
          hand in a different order, one with no number
    WHEN  parsed
    THEN  it reads like any form
    """
    data = notice_form([
        ["2", "增加学位供给", "", "基财股", "基础工程完成80%", "", ""],
        ["", "培英职业技术学校新校区建设项目", "", "基财股", "已完成施工招标。", "", ""],
    ])
    parsed = parse_form(data)
    assert [(r.number, r.name, r.progress) for r in parsed.rows] == [
        (2, "增加学位供给", "基础工程完成80%"),
        (None, "培英职业技术学校新校区建设项目", "已完成施工招标。"),
    ]
    assert (parsed.year, parsed.month, parsed.token) == (2022, 6, None)
    assert (parsed.office_text, parsed.filled_by, parsed.filled_on) == ("基财股", "李四", "2022年6月16日")


def test_empty_and_number_only_rows_are_skipped():
    doc, table = _doc()
    table.add_row()
    extra = table.add_row()
    extra.cells[0].text = "4"
    parsed = parse_form(docx_bytes(doc))
    assert _triples(parsed) == EXPECTED


def test_token_from_identifier_and_from_visible_text():
    doc, _ = _doc()
    doc.core_properties.identifier = "DB-2206-ABCDEFGH"
    parsed = parse_form(docx_bytes(doc))
    assert (parsed.token, parsed.token_source) == ("DB-2206-ABCDEFGH", "identifier")
    doc, _ = _doc()
    doc.sections[0].footer.paragraphs[0].text = "表单编号：db 2206 abcdefgh"
    parsed = parse_form(docx_bytes(doc))
    assert (parsed.token, parsed.token_source) == ("DB-2206-ABCDEFGH", "text")


def test_no_form_table_is_a_parse_error_in_chinese():
    doc = Document()
    doc.add_paragraph("附件 1")
    t = doc.add_table(rows=2, cols=5)
    for c, label in enumerate(["序号", "任务名称", "主要内容和关键时间节点计划", "责任股室", "备注"]):
        t.rows[0].cells[c].text = label
    with pytest.raises(FormParseError) as e:
        parse_form(docx_bytes(doc))
    assert str(e.value) == (
        "附件中没有找到进展情况表：没有表头含“编号”（或“项目名称”）和“进展情况”的表格。"
        "请使用下发的《重点工作推进项目进展情况表》填写后重新发送。"
    )


def test_not_a_docx_is_a_parse_error():
    with pytest.raises(FormParseError, match="不是有效的 Word"):
        parse_form(b"hello, not a zip")
    buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "x")
    with pytest.raises(FormParseError, match="找不到正文"):
        parse_form(buf.getvalue())


@pytest.mark.parametrize(("text", "n"), [("3", 3), ("３", 3), ("3.", 3), ("（3）", 3), ("三", 3), ("十二", 12),
                                         ("二十一", 21), ("", None), ("三A", None), ("12345", None)])
def test_parse_number(text, n):
    assert parse_number(text) == n
