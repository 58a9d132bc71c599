"""Returned forms as Microsoft Word saves them: the markup Word writes around what a person typed must
never change the text read, add to it or lose any of it.

Each test renders 基财股's June form, writes one cell the way Word stores it (XML taken from Word's own
habits), and asserts that the parse gives exactly the text shown in Word.
"""

from __future__ import annotations

import pytest
from realforms_kit import (
    DECL,
    NUMBERING,
    PROBLEMS,
    PROGRESS,
    REMARK,
    Package,
    check,
    fragment,
    messages,
    numbered,
    para,
    render,
    run,
    table,
    w,
    wordify,
)

from mailer.read.formparse import parse_form
from mailer.registry.store import atomic


@pytest.fixture
def form(home, engine) -> bytes:  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        data, _token, _ids = render(home, s)
    return data


def _progress(pkg: Package, seq: int = 1) -> str:
    rows = {r.number: r for r in parse_form(pkg.save()).rows}
    return rows[seq].progress


def test_rsids_proofing_marks_bookmarks_and_rendered_page_breaks_split_runs_but_not_text(form):
    """
    GIVEN a progress cell as Word saves it after editing: rsid and paraId attributes everywhere, the text
          split by w:proofErr (spelling/grammar marks), the _GoBack bookmark and a named bookmark cutting
          through it, w:lastRenderedPageBreak inside a run, empty runs and w:rPr with East Asian hints
    WHEN  parsed
    THEN  the text reads exactly as typed
    """
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        '<w:proofErr w:type="gramStart"/>',
        run("已完成施", '<w:rFonts w:hint="eastAsia"/><w:lang w:eastAsia="zh-CN"/>'),
        '<w:bookmarkStart w:id="0" w:name="_GoBack"/>',
        '<w:r><w:rPr><w:rFonts w:hint="eastAsia"/></w:rPr><w:lastRenderedPageBreak/><w:t>工招标</w:t></w:r>',
        '<w:bookmarkEnd w:id="0"/><w:proofErr w:type="gramEnd"/>',
        '<w:r><w:rPr><w:rFonts w:hint="eastAsia"/></w:rPr></w:r>',
        '<w:bookmarkStart w:id="1" w:name="开标"/>', run("，6月20日开标"), '<w:bookmarkEnd w:id="1"/>',
        '<w:proofErr w:type="spellStart"/>', run("BIM"), '<w:proofErr w:type="spellEnd"/>', run("建模中。"),
    ), para(run("第二段")))
    wordify(pkg.document)
    assert _progress(pkg) == "已完成施工招标，6月20日开标BIM建模中。\n第二段"


def test_soft_hyphen_no_break_hyphen_and_breaks(form):
    """w:softHyphen is invisible unless a line breaks there; w:noBreakHyphen is a "-"; a manual line break
    (Shift+Enter) is a new line; a page or column break inside a cell is no text."""
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("GB"), "<w:r><w:softHyphen/></w:r>", run("50016"), "<w:r><w:noBreakHyphen/></w:r>", run("2014标准"),
        "<w:r><w:br/></w:r>", run("第二行"), '<w:r><w:br w:type="page"/></w:r>', run("同一行"),
    ))
    assert _progress(pkg) == "GB50016-2014标准\n第二行同一行"


def test_smart_tags_custom_xml_and_simple_fields(form):
    """
    GIVEN Word 2003-style Chinese date smart tags (chsdate, with their w:smartTagPr attributes), a
          w:customXml element, and a DATE field stored as w:fldSimple
    WHEN  parsed
    THEN  the text shown is read once; attribute values and field instructions are not text
    """
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("已于"),
        '<w:smartTag w:uri="urn:schemas-microsoft-com:office:smarttags" w:element="chsdate">'
        '<w:smartTagPr><w:attr w:name="Year" w:val="2022"/><w:attr w:name="Month" w:val="6"/>'
        '<w:attr w:name="Day" w:val="20"/><w:attr w:name="IsLunarDate" w:val="False"/></w:smartTagPr>'
        + run("2022年6月20日") + "</w:smartTag>",
        '<w:customXml w:element="stage"><w:customXmlPr><w:attr w:name="id" w:val="x9"/></w:customXmlPr>'
        + run("开标") + "</w:customXml>",
        run("，填报于"),
        '<w:fldSimple w:instr=" DATE \\@ &quot;yyyy年M月d日&quot; \\* MERGEFORMAT ">' + run("2022年6月15日") + "</w:fldSimple>",
        run("。"),
    ))
    assert _progress(pkg) == "已于2022年6月20日开标，填报于2022年6月15日。"


def test_complex_fields_show_their_result_never_their_instructions(form):
    """
    GIVEN complex fields (w:fldChar begin/separate/end): a HYPERLINK, a nested IF around a MERGEFIELD, a
          field whose instruction is split over several w:instrText runs, and a field with no result
    WHEN  parsed
    THEN  the result text is read and no w:instrText ever appears
    """
    def field(instr: list[str], result: str | None) -> str:
        parts = ['<w:r><w:fldChar w:fldCharType="begin"/></w:r>']
        parts += [f'<w:r><w:instrText xml:space="preserve">{i}</w:instrText></w:r>' for i in instr]
        if result is not None:
            parts += ['<w:r><w:fldChar w:fldCharType="separate"/></w:r>', run(result)]
        parts.append('<w:r><w:fldChar w:fldCharType="end"/></w:r>')
        return "".join(parts)

    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("详见"), field([' HYPERLINK "http://www.ts.gov.cn/zbgg" \\o "', '招标公告" '], "招标公告"),
        run("；完成率"),
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> IF </w:instrText></w:r>'
        + field([" MERGEFIELD rate "], "80") + '<w:r><w:instrText> &gt; 50 "达标" "" </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>' + run("80%") + '<w:r><w:fldChar w:fldCharType="end"/></w:r>',
        run("。"), field([" PAGE "], None),
    ))
    assert _progress(pkg) == "详见招标公告；完成率80%。"


def test_symbols_inserted_with_insert_symbol(form):
    """
    GIVEN symbols inserted from symbol fonts (w:sym: Wingdings check mark, Symbol ×, ≥ and °), from a
          Unicode font (w:sym with a plain code point), and a symbol stored as text, the font's private-use
          code in a Wingdings run (as LibreOffice writes w:sym back)
    WHEN  parsed
    THEN  each reads as the character Word shows
    """
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        '<w:r><w:sym w:font="Wingdings" w:char="F0FC"/></w:r>', run("招标完成；面积"),
        '<w:r><w:sym w:font="Symbol" w:char="F0B3"/></w:r>', run("5万m²，30"),
        '<w:r><w:sym w:font="Symbol" w:char="F0B4"/></w:r>', run("40米；气温35"),
        '<w:r><w:sym w:font="Symbol" w:char="F0B0"/></w:r>', run("C；"),
        '<w:r><w:rPr><w:rFonts w:ascii="宋体" w:hAnsi="宋体"/></w:rPr><w:sym w:font="宋体" w:char="2103"/></w:r>',
        run("；验收", ), run("\uf0fb", '<w:rFonts w:ascii="Wingdings" w:hAnsi="Wingdings" w:cs="Wingdings"/>'),
    ))
    assert _progress(pkg) == "✓招标完成；面积≥5万m²，30×40米；气温35°C；℃；验收✗"


def test_emoji_written_as_an_alternate_content_symbol(form):
    """Word 2016+ writes an emoji as mc:AlternateContent: w16se:symEx in the Choice (an extension we do
    not understand) and the character itself in the Fallback; the Fallback is what must be read."""
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("进展顺利"),
        '<w:r><mc:AlternateContent><mc:Choice Requires="w16se">'
        '<w16se:symEx w16se:font="Segoe UI Emoji" w16se:char="1F44D"/></mc:Choice>'
        "<mc:Fallback><w:t>\U0001f44d</w:t></mc:Fallback></mc:AlternateContent></w:r>",
    ))
    assert _progress(pkg) == "进展顺利\U0001f44d"


def test_hyperlink_inside_a_cell(form):
    pkg = Package(form)
    rid = pkg.relate("hyperlink", "http://www.ts.gov.cn/zbgg/2022/0620.html", external=True)
    pkg.set_cell(1, PROGRESS, para(
        run("招标公告已发布（"),
        f'<w:hyperlink r:id="{rid}" w:history="1"><w:r><w:rPr><w:rStyle w:val="Hyperlink"/></w:rPr>'
        '<w:t>http://www.ts.gov.cn/zbgg/2022/0620.html</w:t></w:r></w:hyperlink>',
        '<w:hyperlink w:anchor="_附表" w:history="1">' + run("见附表") + "</w:hyperlink>",
        run("）。"),
    ))
    assert _progress(pkg) == "招标公告已发布（http://www.ts.gov.cn/zbgg/2022/0620.html见附表）。"


def test_comments_and_footnotes_never_leak_into_the_cell(form):
    """
    GIVEN a reviewer's comment on part of the progress text (w:commentRangeStart/End, a comment reference
          run, the comment's text in comments.xml), a reply comment, and a footnote reference whose text
          lives in footnotes.xml
    WHEN  parsed
    THEN  the cell reads only what was typed in it: no comment text, no footnote text, no footnote number
          (Word draws that number itself; it is not in the text)
    """
    pkg = Package(form)
    comments = (
        f'<w:comments {DECL}>'
        '<w:comment w:id="0" w:author="陈志明" w:date="2022-06-16T09:00:00Z" w:initials="陈">'
        '<w:p><w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr><w:annotationRef/></w:r>'
        "<w:r><w:t>请核实开标日期</w:t></w:r></w:p></w:comment>"
        '<w:comment w:id="1" w:author="张三"><w:p><w:r><w:t>已核实</w:t></w:r></w:p></w:comment></w:comments>'
    ).encode()
    footnotes = (
        f'<w:footnotes {DECL}>'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t>数据来源：市住建局</w:t></w:r></w:p></w:footnote>'
        "</w:footnotes>"
    ).encode()
    pkg.add_part("word/comments.xml", comments,
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml", "comments")
    pkg.add_part("word/footnotes.xml", footnotes,
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml", "footnotes")
    pkg.set_cell(1, PROGRESS, para(
        run("已于"), '<w:commentRangeStart w:id="0"/><w:commentRangeStart w:id="1"/>', run("6月20日开标"),
        '<w:commentRangeEnd w:id="0"/><w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr>'
        '<w:commentReference w:id="0"/></w:r><w:commentRangeEnd w:id="1"/>'
        '<w:r><w:commentReference w:id="1"/></w:r>',
        run("，投资1.2亿元"),
        '<w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r>',
        run("。"),
    ))
    text = _progress(pkg)
    assert text == "已于6月20日开标，投资1.2亿元。"


def test_tracked_insertions_deletions_and_formatting_changes(form):
    """Track Changes on: inserted text is read, deleted text is not, formatting changes (w:rPrChange,
    w:pPrChange, which hold the old properties) add nothing, and a tracked-inserted paragraph is read."""
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("已完成"),
        '<w:del w:id="11" w:author="张三" w:date="2022-06-15T10:00:00Z"><w:r><w:delText>部分</w:delText></w:r></w:del>',
        '<w:ins w:id="12" w:author="张三" w:date="2022-06-15T10:00:00Z">' + run("全部") + "</w:ins>",
        '<w:r><w:rPr><w:b/><w:rPrChange w:id="13" w:author="张三"><w:rPr/></w:rPrChange></w:rPr><w:t>施工招标</w:t></w:r>',
        ppr='<w:pPrChange w:id="14" w:author="张三"><w:pPr><w:jc w:val="center"/></w:pPr></w:pPrChange>',
    ), para(
        '<w:ins w:id="15" w:author="张三">' + run("7月开工。") + "</w:ins>",
        ppr='<w:rPr><w:ins w:id="16" w:author="张三"/></w:rPr>',
    ))
    assert _progress(pkg) == "已完成全部施工招标\n7月开工。"


def test_a_tracked_deleted_paragraph_mark_joins_the_two_paragraphs(form):
    """
    GIVEN with Track Changes on, the person deleted the paragraph mark between two lines (the lines are
          shown joined, the mark struck through), and deleted a whole middle paragraph (its text and mark)
    WHEN  parsed
    THEN  the joined lines read as one line and the deleted paragraph leaves no empty line
    """
    deleted_mark = '<w:rPr><w:del w:id="21" w:author="张三" w:date="2022-06-15T10:00:00Z"/></w:rPr>'
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS,
                 para(run("已完成施工招标，"), ppr=deleted_mark),
                 para(run("6月20日开标。")),
                 para('<w:del w:id="22" w:author="张三"><w:r><w:delText>此段删除。</w:delText></w:r></w:del>',
                      ppr='<w:rPr><w:del w:id="23" w:author="张三"/></w:rPr>'),
                 para(run("7月开工。")))
    assert _progress(pkg) == "已完成施工招标，6月20日开标。\n7月开工。"


def test_moved_text_is_read_once_where_it_was_moved_to(form):
    """
    GIVEN a paragraph moved (Track Changes: w:moveFrom at its old place, w:moveTo at its new one, with
          their range markers, and the old paragraph's mark marked as moved)
    WHEN  parsed
    THEN  the moved text is read once, at its new place, and its old place leaves no empty line
    """
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS,
                 para('<w:moveFromRangeStart w:id="31" w:author="张三" w:name="move1"/>'
                      '<w:moveFrom w:id="32" w:author="张三">' + run("7月开工。") + "</w:moveFrom>"
                      '<w:moveFromRangeEnd w:id="31"/>',
                      ppr='<w:rPr><w:moveFrom w:id="33" w:author="张三"/></w:rPr>'),
                 para(run("已完成施工招标。")),
                 para('<w:moveToRangeStart w:id="34" w:author="张三" w:name="move1"/>'
                      '<w:moveTo w:id="35" w:author="张三">' + run("7月开工。") + "</w:moveTo>"
                      '<w:moveToRangeEnd w:id="34"/>',
                      ppr='<w:rPr><w:moveTo w:id="36" w:author="张三"/></w:rPr>'))
    assert _progress(pkg) == "已完成施工招标。\n7月开工。"


def test_automatic_numbering_is_read_as_the_numbers_word_shows(form):
    """
    GIVEN progress typed as "1.已完成…" that Word's AutoFormat turned into a numbered list (w:numPr; the
          "1." is then no longer in the text), a second level "（1）", Chinese numbering "一、" in 存在问题,
          circled numbers in 备注, a bulleted list, and a list restarted in the next task's cell
    WHEN  parsed
    THEN  each numbered paragraph starts with the number Word shows ("1." "（1）" "一、" "①"), counted as
          Word counts (continuing across cells of the same list, restarting where the list restarts);
          bullets, which carry no information, are left out, and so is the number of an empty item
    """
    pkg = Package(form)
    pkg.add_part("word/numbering.xml", NUMBERING,
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml", "numbering")
    pkg.set_cell(1, PROGRESS, numbered(1, "已完成施工招标。"), numbered(1, "开标：", 0),
                 numbered(1, "6月20日开标；", 1), numbered(1, "6月25日定标。", 1), numbered(1, "7月开工。"),
                 numbered(1, ""))  # Enter after the last item: Word shows "4." on an empty line
    pkg.set_cell(1, PROBLEMS, numbered(2, "用地报批。"), numbered(2, "资金到位。"))
    pkg.set_cell(1, REMARK, numbered(4, "市重点"), numbered(4, "民生"))
    pkg.set_cell(2, PROGRESS, numbered(3, "台城中心小学完成设备配套。"), numbered(3, "桂水分教点完成80%。"))
    pkg.set_cell(3, PROGRESS, numbered(5, "春季经费已拨付。"), numbered(5, "秋季经费待拨付。"))
    rows = {r.number: r for r in parse_form(pkg.save()).rows}
    assert rows[1].progress == "1.已完成施工招标。\n2.开标：\n（1）6月20日开标；\n（2）6月25日定标。\n3.7月开工。"
    assert rows[1].problems == "一、用地报批。\n二、资金到位。"
    assert rows[1].remark == "① 市重点\n② 民生"
    assert rows[2].progress == "台城中心小学完成设备配套。\n桂水分教点完成80%。"
    assert rows[3].progress == "1.春季经费已拨付。\n2.秋季经费待拨付。"


def test_text_box_inside_a_cell_is_read_once(form):
    """
    GIVEN a text box drawn inside the progress cell, stored as Word stores it: mc:AlternateContent with a
          DrawingML shape (wps:txbx) in the Choice and the same text as a VML text box in the Fallback
    WHEN  parsed
    THEN  the box's text belongs to the cell, after the paragraph that anchors it, and is read once
    """
    box = (
        '<w:txbxContent><w:p><w:r><w:t>框内：已封顶</w:t></w:r></w:p></w:txbxContent>'
    )
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(
        run("已完成施工招标。"),
        "<w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing>"
        '<wp:anchor distT="0" distB="0" distL="114300" distR="114300" simplePos="0" relativeHeight="1" '
        'behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/>'
        '<wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH>'
        '<wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>'
        '<wp:extent cx="914400" cy="457200"/><wp:wrapNone/><wp:docPr id="1" name="文本框 1"/>'
        '<a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">'
        f"<wps:wsp><wps:cNvSpPr txBox=\"1\"/><wps:spPr/><wps:txbx>{box}</wps:txbx><wps:bodyPr/></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        f'<mc:Fallback><w:pict><v:shape id="文本框 1" type="#_x0000_t202"><v:textbox>{box}</v:textbox>'
        "</v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>",
    ), para(run("7月开工。")))
    assert _progress(pkg) == "已完成施工招标。\n框内：已封顶\n7月开工。"


def test_a_table_pasted_into_a_cell_is_that_cells_text(form):
    """
    GIVEN an Excel range pasted into the progress cell of task 2 (Word nests a table in the cell), between
          two paragraphs, and in task 3's cell a nested table as wide as the form itself
    WHEN  parsed
    THEN  each nested table is its cell's text, one line per row with the cells tab-separated (as Word's
          表格转换成文本), and none of its rows is taken for a task row
    """
    pkg = Package(form)
    pkg.set_cell(2, PROGRESS, para(run("各校进度：")), table(["学校", "完成率"], ["台城中心小学", "80%"],
                                                             ["桂水分教点", "60%"]), para(run("均按计划推进。")))
    pkg.set_cell(3, PROGRESS, para(run("拨付明细：")), table(["1", "春季", "", "", "已拨付", "", ""]), para())
    rows = {r.number: r for r in parse_form(pkg.save()).rows}
    assert sorted(rows) == [1, 2, 3]
    assert rows[2].progress == "各校进度：\n学校\t完成率\n台城中心小学\t80%\n桂水分教点\t60%\n均按计划推进。"
    assert rows[3].progress == "拨付明细：\n1\t春季\t\t\t已拨付"


def test_hidden_text_and_content_control_placeholders_are_not_text(form):
    """
    GIVEN text formatted as hidden (w:vanish: Word neither shows nor prints it) and a content control
          still showing its placeholder ("单击或点击此处输入文字。", w:showingPlcHdr)
    WHEN  parsed
    THEN  neither is read: the office never saw them as part of its report
    """
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para(run("已完成施工招标。"), run("（内部备忘：勿报）", "<w:vanish/>")))
    pkg.set_cell(1, PROBLEMS,
                 '<w:sdt><w:sdtPr><w:id w:val="-1"/><w:placeholder><w:docPart w:val="DefaultPlaceholder"/>'
                 "</w:placeholder><w:showingPlcHdr/></w:sdtPr><w:sdtContent>"
                 + para(run("单击或点击此处输入文字。", '<w:rStyle w:val="PlaceholderText"/>'))
                 + "</w:sdtContent></w:sdt>")
    rows = {r.number: r for r in parse_form(pkg.save()).rows}
    assert (rows[1].progress, rows[1].problems) == ("已完成施工招标。", "")


def test_a_form_full_of_word_markup_is_accepted_with_exactly_the_typed_text(home, engine, form):
    """Everything above at once, through check_form: the entries are the typed text and nothing is found."""
    pkg = Package(form)
    pkg.set_cell(1, PROGRESS, para('<w:proofErr w:type="spellStart"/>', run("已完成"),
                                   '<w:bookmarkStart w:id="0" w:name="_GoBack"/><w:bookmarkEnd w:id="0"/>',
                                   '<w:proofErr w:type="spellEnd"/>', run("施工招标。")))
    pkg.set_cell(2, PROGRESS, para('<w:fldSimple w:instr=" QUOTE 80 ">' + run("80") + "</w:fldSimple>", run("%")))
    pkg.set_cell(3, PROGRESS, para(run("春季经费已拨付。"),
                                   '<w:del w:id="1" w:author="a"><w:r><w:delText>未</w:delText></w:r></w:del>'))
    wordify(pkg.document)
    info = pkg.info_paragraph()
    info.append(fragment(run("（张三）"))[0])
    result = check(engine, home, pkg.save(), office="基财股", period=(2022, 6))
    assert [(e.seq, e.progress) for e in result.entries] == [(1, "已完成施工招标。"), (2, "80%"), (3, "春季经费已拨付。")]
    assert messages(result) == []


def test_w_is_the_word_namespace():
    assert w("p") == "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"


@pytest.mark.libreoffice
@pytest.mark.skipif(not __import__("conftest").has_soffice() and not __import__("conftest").IN_CI,
                    reason="LibreOffice is not installed")
def test_libreoffice_counts_the_lists_as_we_do(form, tmp_path):
    """The same numbered form saved again by LibreOffice (which writes its own list definitions and
    imitates Word's counting) reads the same numbers: a check of the counting rules on a second program."""
    from mailer.word.pdf import convert

    pkg = Package(form)
    pkg.add_part("word/numbering.xml", NUMBERING,
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml", "numbering")
    pkg.set_cell(1, PROGRESS, numbered(1, "已完成施工招标。"), numbered(1, "开标：", 0),
                 numbered(1, "6月20日开标；", 1), numbered(1, "7月开工。"))
    pkg.set_cell(1, PROBLEMS, numbered(2, "用地报批。"), numbered(2, "资金到位。"))
    pkg.set_cell(3, PROGRESS, numbered(5, "春季经费已拨付。"), numbered(5, "秋季经费待拨付。"))
    src = tmp_path / "numbered.docx"
    src.write_bytes(pkg.save())
    ours = [(r.number, r.progress, r.problems) for r in parse_form(src.read_bytes()).rows]
    assert ours[0][1:] == ("1.已完成施工招标。\n2.开标：\n（1）6月20日开标；\n3.7月开工。", "一、用地报批。\n二、资金到位。")
    again = convert(src, tmp_path / "lo", "docx")
    assert [(r.number, r.progress, r.problems) for r in parse_form(again.read_bytes()).rows] == ours
