"""Returned forms as WPS Office (金山 WPS 文字) saves them: its own namespaces and extension parts, full
rPr on every run, full-width spaces and colons, 首行缩进 typed as spaces, table grids that do not match
the cells, and merges written the old way (w:hMerge) as well as the new (w:gridSpan)."""

from __future__ import annotations

import copy

import pytest
from lxml import etree
from realforms_kit import (
    NS,
    PROBLEMS,
    PROGRESS,
    REMARK,
    Package,
    check,
    fragment,
    messages,
    para,
    render,
    run,
    set_tc,
    w,
)

from mailer.read.formparse import parse_form
from mailer.registry.store import atomic

WPS_RPR = ('<w:rFonts w:hint="eastAsia" w:ascii="仿宋_GB2312" w:hAnsi="仿宋_GB2312" w:eastAsia="仿宋_GB2312"/>'
           '<w:sz w:val="24"/><w:szCs w:val="24"/><w:vertAlign w:val="baseline"/>'
           '<w:lang w:val="en-US" w:eastAsia="zh-CN"/>')
KSO_CUSTOM = (
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="3" name="KSOProductBuildVer">'
    "<vt:lpwstr>2052-11.1.0.11830</vt:lpwstr></property>"
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="4" name="ICV">'
    "<vt:lpwstr>9E0C5C41D6A547A3B0E1C6B1D3C2F3A1</vt:lpwstr></property>"
)


@pytest.fixture
def form(home, engine) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        data, token, _ids = render(home, s)
    return data, token


def wps_para(*lines: str) -> list[str]:
    """Paragraphs as WPS writes them: full rPr on the paragraph mark and every run, w14 ids."""
    return [
        f'<w:p w14:paraId="{0x3C000000 + i:08X}"><w:pPr><w:pStyle w:val="FormCell"/><w:jc w:val="left"/>'
        f"<w:rPr>{WPS_RPR}</w:rPr></w:pPr>{run(line, WPS_RPR)}</w:p>"
        for i, line in enumerate(lines)
    ]


def wpsify(pkg: Package) -> None:
    """What a WPS save does around the text: its namespaces on the root (wpsCustomData, w14/w15/wp14 as
    ignorable), its properties in docProps/custom.xml beside ours, its application name."""
    doc = pkg.document
    nsmap = {**doc.nsmap, "wpsCustomData": NS["wpsCustomData"], "w15": NS["w15"], "wp14": NS["wp14"]}
    root = etree.Element(doc.tag, nsmap=nsmap)
    root.set(f"{{{NS['mc']}}}Ignorable", "w14 w15 wp14")
    root.extend(list(doc))
    pkg._xml["word/document.xml"] = root
    custom = pkg.xml("docProps/custom.xml")
    for prop in fragment(f'<x xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"'
                         f' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties">'
                         f"{KSO_CUSTOM}</x>")[0]:
        custom.append(prop)
    settings = pkg.xml("word/settings.xml")
    settings.append(etree.fromstring(f'<wpsCustomData:docfieldLst xmlns:wpsCustomData="{NS["wpsCustomData"]}"/>'))


def test_a_form_saved_by_wps_reads_exactly_as_typed(home, engine, form):
    """
    GIVEN the form filled in WPS: WPS namespaces and custom properties, full rPr everywhere, paragraphs
          indented with full-width spaces ("　　"), the info line typed with full-width colons and spaces
          ("填报人：　张　三", "填报日期：2022 年 6 月 13 日")
    WHEN  checked
    THEN  the entries are the typed text (indentation is layout, not text), the token is still ours, and
          填报人 and 填报日期 read as "张三" and "2022年6月13日"
    """
    data, token = form
    pkg = Package(data)
    pkg.set_cell(1, PROGRESS, *wps_para("　　已完成施工招标，6月20日开标。", "　　下一步：7月开工。"))
    pkg.set_cell(2, PROGRESS, *wps_para("桂水分教点基础工程完成80%。"))
    pkg.set_cell(3, PROGRESS, *wps_para("  春季经费已于5月全额拨付。"))
    pkg.set_cell(3, REMARK, *wps_para("民生实事　"))
    info = pkg.info_paragraph()
    for r in info.findall(w("r")):
        info.remove(r)
    info.extend(fragment(run("填报股室：基财股　　　　填报人：　张　三　　　　填报日期：2022 年 6 月 13 日", WPS_RPR)))
    wpsify(pkg)
    result = check(engine, home, pkg.save(), office="基财股", period=(2022, 6))
    assert result.ok and result.findings == []
    assert [(e.seq, e.progress, e.remark) for e in result.entries] == [
        (1, "已完成施工招标，6月20日开标。\n下一步：7月开工。", ""),
        (2, "桂水分教点基础工程完成80%。", ""),
        (3, "春季经费已于5月全额拨付。", "民生实事"),
    ]
    assert (result.token, result.filled_by, result.filled_on) == (token, "张三", "2022年6月13日")
    assert parse_form(pkg.save()).token_source == "custom_property"


def test_table_grid_widths_that_do_not_match_the_cells(home, engine, form):
    """WPS (and Word after a paste) leaves w:tblGrid with fewer or more w:gridCol, or widths unlike the
    cells' w:tcW: the grid is built from the cells, so nothing moves."""
    data, _ = form
    for n in (5, 9):
        pkg = Package(data)
        for seq, text in ((1, "甲"), (2, "乙"), (3, "丙")):
            pkg.set_cell(seq, PROGRESS, *wps_para(text))
        grid = pkg.table().find(w("tblGrid"))
        for col in list(grid):
            grid.remove(col)
        for _ in range(n):
            grid.append(etree.fromstring(f'<w:gridCol xmlns:w="{NS["w"]}" w:w="1800"/>'))
        result = check(engine, home, pkg.save(), office="基财股", period=(2022, 6))
        assert [e.progress for e in result.entries] == ["甲", "乙", "丙"], n


def _merge_across(pkg: Package, seq: int, text: str, *, legacy: bool) -> None:
    """存在问题 and 备注 of row ``seq`` merged into one cell: w:gridSpan (Word, new WPS) or the legacy
    w:hMerge restart/continue pair (older WPS, Word 97 files)."""
    tr = pkg.row(seq)
    tcs = tr.findall(w("tc"))
    first, second = tcs[PROBLEMS], tcs[REMARK]
    set_tc(first, *wps_para(text))
    pr = first.find(w("tcPr"))
    if legacy:
        pr.insert(1, etree.fromstring(f'<w:hMerge xmlns:w="{NS["w"]}" w:val="restart"/>'))
        set_tc(second, para())
        second.find(w("tcPr")).insert(1, etree.fromstring(f'<w:hMerge xmlns:w="{NS["w"]}"/>'))
    else:
        pr.insert(1, etree.fromstring(f'<w:gridSpan xmlns:w="{NS["w"]}" w:val="2"/>'))
        tr.remove(second)


@pytest.mark.parametrize("legacy", [False, True], ids=["gridSpan", "hMerge"])
def test_problems_and_remark_merged_across(home, engine, form, legacy):
    """
    GIVEN in row 2, 存在问题 and 备注 merged into one cell holding one text
    WHEN  checked
    THEN  the text is 存在问题's and 备注 is empty, with either way of writing the merge
    """
    data, _ = form
    pkg = Package(data)
    for seq in (1, 2, 3):
        pkg.set_cell(seq, PROGRESS, *wps_para(f"进展{seq}"))
    _merge_across(pkg, 2, "用地指标未落实，7月协调。", legacy=legacy)
    result = check(engine, home, pkg.save(), office="基财股", period=(2022, 6))
    assert result.ok and [f.column for f in result.findings] == ["填报人"]
    assert [(e.progress, e.problems, e.remark) for e in result.entries] == [
        ("进展1", "", ""), ("进展2", "用地指标未落实，7月协调。", ""), ("进展3", "", ""),
    ]


def test_a_header_merged_the_legacy_way_over_two_columns(home, engine, form):
    """
    GIVEN the office split 进展情况 into two columns (完成情况 | 佐证) and WPS wrote the header above them
          as a legacy w:hMerge pair
    WHEN  checked
    THEN  both columns are read as 进展情况, in order
    """
    data, _ = form
    pkg = Package(data)
    tbl = pkg.table()
    grid = tbl.find(w("tblGrid"))
    grid.findall(w("gridCol"))[PROGRESS].addnext(copy.deepcopy(grid.findall(w("gridCol"))[PROGRESS]))
    for i, tr in enumerate(tbl.findall(w("tr"))):
        tc = tr.findall(w("tc"))[PROGRESS]
        twin = copy.deepcopy(tc)
        tc.addnext(twin)
        if i == 0:
            tc.find(w("tcPr")).insert(1, etree.fromstring(f'<w:hMerge xmlns:w="{NS["w"]}" w:val="restart"/>'))
            twin.find(w("tcPr")).insert(1, etree.fromstring(f'<w:hMerge xmlns:w="{NS["w"]}" w:val="continue"/>'))
            set_tc(twin, para())
        else:
            set_tc(tc, *wps_para(f"完成{i}"))
            set_tc(twin, *wps_para(f"佐证{i}"))
    result = check(engine, home, pkg.save(), office="基财股", period=(2022, 6))
    assert result.ok, messages(result)
    assert [e.progress for e in result.entries] == ["完成1\n佐证1", "完成2\n佐证2", "完成3\n佐证3"]
