"""What offices do to the form's table, and what duban reads and answers: each finding names the row
(编号 and 项目名称), the column and what to do.

Decisions (documented here and in mailer/read/formparse.py, mailer/read/formcheck.py):
- A row inserted under a task with 编号 and 项目名称 left blank carries sub-items of that task: its text
  is joined to the task's (the bureau wants it with the task), and a warning tells the office so.
- A row without 编号 but with a name that is no task is an error that suggests both fixes (into the
  task's cell, or blank the name): which task it belongs to, or whether it is a task at all, is a guess.
- 进展情况 merged vertically over two tasks is an error naming both rows (the notice reports each task);
  存在问题 / 备注 merged that way are recorded for both, with a warning.
- 进展情况 that only says "见附件" / "同上" is an error: the notice prints the table's text, never an
  attachment; progress that also mentions an attachment gets a warning.
- The pre-filled 主要内容 deleted is accepted without a finding (duban never reads it back); text added
  to it is a warning, or an error naming the column when 进展情况 was left empty (a wrong column).
"""

from __future__ import annotations

import copy

import pytest
from realforms_kit import (
    CONTENT,
    NAME,
    NAMES,
    NUMBER,
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
    text_of,
    w,
)

from mailer.read.formparse import parse_form
from mailer.registry.store import atomic

PERIOD = (2022, 6)


@pytest.fixture
def form(home, engine) -> bytes:  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        data, _token, _ids = render(home, s)
    return data


def filled(form: bytes, **extra: str) -> Package:
    """基财股's form with every task's progress typed in (and 填报人), ready for one more edit."""
    pkg = Package(form)
    for seq, text in {1: "已完成施工招标。", 2: "桂水分教点基础工程完成80%。", 3: "春季经费已拨付。"}.items():
        pkg.set_cell(seq, PROGRESS, para(run(text)))
    info = pkg.info_paragraph()
    info.findall(w("r"))[1].find(w("t")).text = "填报人：张三"
    return pkg


def insert_row_after(pkg: Package, seq: int, texts: dict[int, str]) -> object:
    """Word's 在下方插入行 under task ``seq``: a copy of its row, emptied, then ``texts`` typed in."""
    tr = pkg.row(seq)
    new = copy.deepcopy(tr)
    for i, tc in enumerate(new.findall(w("tc"))):
        set_tc(tc, para(run(texts[i])) if texts.get(i) else para())
    tr.addnext(new)
    return new


def test_a_row_inserted_under_a_task_for_sub_items_joins_that_task(home, engine, form):
    """
    GIVEN two rows inserted under task 2 for its two schools, 编号 and 项目名称 left blank, progress,
          problems and remark typed into them
    WHEN  checked
    THEN  their text is task 2's (after its own, in order), and a warning says so; nothing is an error
    """
    pkg = filled(form)
    second = insert_row_after(pkg, 2, {PROGRESS: "李星衢纪念学校桂水分教点：主体封顶。", REMARK: "民生实事"})
    pkg_row = pkg.row(2)
    assert pkg_row.getnext() is second
    third = copy.deepcopy(second)
    set_tc(third.findall(w("tc"))[PROGRESS], para(run("台城中心小学：设备已到货。")))
    set_tc(third.findall(w("tc"))[PROBLEMS], para(run("安装人员不足")))
    set_tc(third.findall(w("tc"))[REMARK], para())
    second.addnext(third)
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    entry = next(e for e in result.entries if e.seq == 2)
    assert (entry.progress, entry.problems, entry.remark) == (
        "桂水分教点基础工程完成80%。\n李星衢纪念学校桂水分教点：主体封顶。\n台城中心小学：设备已到货。",
        "安装人员不足",
        "民生实事",
    )
    assert messages(result) == []
    assert messages(result, "warning") == [
        ("编号 2「增加学位供给」下方新增的 2 行（未填编号和项目名称）已并入该任务：其中的进展情况、"
        "存在问题和备注分别接在该任务相应栏目之后。如这些内容不属于该任务，请删除新增的行后重新发送。")
    ]


def test_a_sub_item_row_with_its_own_name_is_an_error_that_says_what_to_do(home, engine, form):
    pkg = filled(form)
    insert_row_after(pkg, 2, {NAME: "台城中心小学", PROGRESS: "设备已到货。"})
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == [
        ("第 3 行「台城中心小学」没有编号，也不是基财股牵头的任务。如是编号 2「增加学位供给」的分项内容，"
        "请写入该任务的“进展情况”栏（可分段填写），或把这一行的“项目名称”栏清空（编号和项目名称都空着的行会并入上一项任务）；"
        "否则请删除该行。")
    ]


def test_a_blank_row_above_every_task_is_an_error_naming_its_line(home, engine, form):
    pkg = filled(form)
    first = pkg.row(1)
    blank = copy.deepcopy(first)
    for i, tc in enumerate(blank.findall(w("tc"))):
        set_tc(tc, para(run("补充说明：均按计划推进。")) if i == PROGRESS else para())
    first.addprevious(blank)
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == [
        "第 1 行没有填写编号和项目名称，无法确定是哪项任务的内容。请把内容填入对应任务所在行，然后删除该行。"
    ]


def _merge_down(pkg: Package, col: int, top: int, bottom: int, text: str) -> None:
    """Word's 合并单元格 on one column over rows ``top``..``bottom``: vMerge restart, then continue."""
    for seq in range(top, bottom + 1):
        tc = pkg.cell(seq, col)
        pr = tc.find(w("tcPr"))
        merge = pr.makeelement(w("vMerge"), {})
        if seq == top:
            merge.set(w("val"), "restart")
            set_tc(tc, para(run(text)))
        else:
            set_tc(tc, para())
        pr.insert(1, merge)


def test_progress_merged_over_two_tasks_is_an_error_naming_both_rows(home, engine, form):
    """
    GIVEN 进展情况 of tasks 1 and 2 merged into one cell (vertical merge) holding one text for both
    WHEN  checked
    THEN  an error names both rows, the column and how to undo it; no other finding about those rows
    """
    pkg = filled(form)
    _merge_down(pkg, PROGRESS, 1, 2, "两个项目均已完成招标。")
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert [(f.seq, f.column, f.message) for f in result.findings] == [(
        2,
        "进展情况",
        ("编号 1「培英职业技术学校新校区建设项目」和编号 2「增加学位供给」的“进展情况”被合并成了一个单元格，"
        "无法分别认定各项任务的进展。请取消合并（Word：表格工具→布局→拆分单元格；WPS：表格工具→拆分单元格），"
        "在每项任务的“进展情况”栏分别填写后重新发送。"),
    )]


def test_problems_merged_over_two_tasks_is_recorded_for_both_with_a_warning(home, engine, form):
    pkg = filled(form)
    _merge_down(pkg, PROBLEMS, 2, 3, "资金拨付进度偏慢。")
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert result.ok
    assert {e.seq: e.problems for e in result.entries} == {1: "", 2: "资金拨付进度偏慢。", 3: "资金拨付进度偏慢。"}
    assert messages(result, "warning") == [
        ("编号 2「增加学位供给」和编号 3「提升基础教育生均公用经费补助标准」的“存在问题和下一步工作计划”被合并成了一个单元格，"
        "已将同一内容分别记入这两项任务。如内容只属于其中一项，请取消合并后分别填写。")
    ]


def test_deleting_the_pre_filled_plan_text_is_accepted(home, engine, form):
    pkg = filled(form)
    for seq in NAMES:
        pkg.set_cell(seq, CONTENT, para())
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert result.ok and result.findings == []
    assert [e.progress for e in result.entries] == ["已完成施工招标。", "桂水分教点基础工程完成80%。", "春季经费已拨付。"]


def test_a_new_column_added_by_the_office_is_ignored(home, engine, form):
    """
    GIVEN a column "完成进度" inserted between 进展情况 and 存在问题 (Word: 在右侧插入列: a new
          w:gridCol and a new cell in every row) with percentages typed in, and one without any header
    WHEN  checked
    THEN  every field is still found by its header and the percentages go nowhere
    """
    pkg = filled(form)
    tbl = pkg.table()
    grid = tbl.find(w("tblGrid"))
    for _ in range(2):
        grid.append(copy.deepcopy(grid.findall(w("gridCol"))[PROGRESS]))
    for i, tr in enumerate(tbl.findall(w("tr"))):
        tcs = tr.findall(w("tc"))
        added = copy.deepcopy(tcs[PROGRESS])
        set_tc(added, para(run("完成进度" if i == 0 else f"{30 * i}%")))
        unlabeled = copy.deepcopy(tcs[REMARK])
        set_tc(unlabeled, para(run("" if i == 0 else "附佐证材料")))
        tcs[PROGRESS].addnext(added)
        tcs[REMARK].addnext(unlabeled)
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert result.ok and result.findings == []
    assert [(e.progress, e.problems, e.remark) for e in result.entries] == [
        ("已完成施工招标。", "", ""), ("桂水分教点基础工程完成80%。", "", ""), ("春季经费已拨付。", "", ""),
    ]
    assert parse_form(pkg.save()).columns == ["number", "name", "content", "offices", "progress", "problems", "remark"]


def test_the_table_pasted_into_a_new_document(home, engine, form):
    """
    GIVEN only the table, copied into a new blank document (Attachment 2 style: no title, no 填报 line,
          no token in the properties or the footer)
    WHEN  checked as the answer to 基财股's June mail
    THEN  it is accepted, with warnings for the missing month and 填报人; checked on its own (no mail to
          say whose it is) it is refused, saying how to name the office and the period
    """
    pkg = filled(form)
    body = pkg.document.find(w("body"))
    for child in list(body):
        if child.tag != w("tbl") and child.tag != w("sectPr"):
            body.remove(child)
    for name in [n for n in pkg.parts if n.startswith(("docProps/custom", "word/footer"))]:
        del pkg.parts[name]
    rels = pkg.xml("word/_rels/document.xml.rels")
    for rel in list(rels):
        if rel.get("Type", "").endswith("/footer"):
            rels.remove(rel)
    for ref in list(body.iter(w("footerReference"))):
        ref.getparent().remove(ref)
    core = pkg.xml("docProps/core.xml")
    for ident in core.iter("{http://purl.org/dc/elements/1.1/}identifier"):
        ident.text = ""
    data = pkg.save()
    assert b"DB-" not in b"".join(pkg.parts.values())
    result = check(engine, home, data, office="基财股", period=PERIOD)
    assert result.ok
    assert [e.progress for e in result.entries] == ["已完成施工招标。", "桂水分教点基础工程完成80%。", "春季经费已拨付。"]
    assert messages(result, "warning") == [
        "标题中未写明报送月份，已按本次报送期「2022年1—6月」处理。请在标题中写明，如“（1—6月）”。",
        "“填报人”未填写。请在表格上方“填报人：”后填写姓名。",
    ]
    alone = check(engine, home, data)
    assert messages(alone) == [
        "无法确定填报股室：表中没有表单编号，“填报股室：”后也没有可识别的股室名称。请在“填报股室：”后填写本股室全称后重新发送。",
        "无法确定报送期：标题中没有写明“（1—N月）”，表中也没有表单编号。请在标题中写明月份，如“（1—6月）”，然后重新发送。",
    ]


@pytest.mark.parametrize(
    ("typed", "level", "message"),
    [
        ("见附件", "error", ("编号 2「增加学位供给」的“进展情况”只写了「见附件」。通报只收录表格中填写的文字，不收录附件或其他行的内容。"
         "请把截至6月底的进展情况直接填写（或粘贴）在该任务的“进展情况”栏，然后重新发送。")),
        ("（详见附件2《基财股6月进展》）。", "error", None),
        ("同上", "error", None),
        ("桂水分教点基础工程完成80%，详见附件。", "warning",
         ("编号 2「增加学位供给」的“进展情况”提到了附件（「桂水分教点基础工程完成80%，详见附件。」）。"
         "通报只收录表格中填写的文字，附件内容不会收录；需要通报的进展请写在表格中。")),
    ],
)
def test_progress_that_points_to_an_attachment(home, engine, form, typed, level, message):
    pkg = filled(form)
    pkg.set_cell(2, PROGRESS, para(run(typed)))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    found = [(f.level, f.seq, f.column, f.message) for f in result.findings]
    assert len(found) == 1 and found[0][:3] == (level, 2, "进展情况")
    if message is not None:
        assert found[0][3] == message
    assert next(e.progress for e in result.entries if e.seq == 2) == typed


@pytest.mark.parametrize("typed", ["   ", "\u3000\u3000", "\u00a0", " \t "])
def test_progress_of_only_spaces_is_empty(home, engine, form, typed):
    pkg = filled(form)
    pkg.set_cell(3, PROGRESS, para(run(typed)), para(run(" ")))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == ["编号 3「提升基础教育生均公用经费补助标准」的“进展情况”栏为空。请填写截至6月底的进展情况。"]


def test_progress_of_only_a_dash_is_empty_and_quoted(home, engine, form):
    pkg = filled(form)
    pkg.set_cell(3, PROGRESS, para(run("——")))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == [
        "编号 3「提升基础教育生均公用经费补助标准」的“进展情况”栏只填写了「——」。请填写截至6月底的进展情况。"
    ]


def test_progress_typed_into_the_problems_column(home, engine, form):
    pkg = filled(form)
    pkg.set_cell(3, PROGRESS, para())
    pkg.set_cell(3, PROBLEMS, para(run("春季经费已拨付。")))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == [
        ("编号 3「提升基础教育生均公用经费补助标准」的“进展情况”栏为空。请填写截至6月底的进展情况"
        "（“存在问题和下一步工作计划”栏已填写；如把进展填在了那里，请移到“进展情况”栏）。")
    ]


def test_progress_typed_into_the_plan_column(home, engine, form):
    """
    GIVEN the office typed its progress at the end of the pre-filled 主要内容 cell and left 进展情况 empty
    WHEN  checked
    THEN  the error names the column it went into and quotes what was typed; typed there while 进展情况
          is filled, it is a warning that the text is not used
    """
    pkg = filled(form)
    pkg.set_cell(3, PROGRESS, para())
    pkg.cell(3, CONTENT).extend(fragment(para(run("进展：春季经费已于5月全额拨付。"))))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert messages(result) == [
        ("编号 3「提升基础教育生均公用经费补助标准」的“进展情况”栏为空，而“主要内容和关键时间节点计划”栏多了「进展：春季经费已于5月全额拨付。」，"
        "像是填错了栏目。请把截至6月底的进展情况填写在“进展情况”栏（“主要内容和关键时间节点计划”栏请保持原样），然后重新发送。")
    ]
    pkg.set_cell(3, PROGRESS, para(run("已拨付。")))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert result.ok
    assert messages(result, "warning") == [
        ("编号 3「提升基础教育生均公用经费补助标准」的“主要内容和关键时间节点计划”栏多了「进展：春季经费已于5月全额拨付。」。"
        "该栏以局下发的计划为准，改动不会被采用；如是进展情况，请写入“进展情况”栏。")
    ]


def test_last_months_form_filled_in_is_a_wrong_period_error_naming_both(home, engine):
    """
    GIVEN 基财股 filled in May's form (1—5月, May's token) and sent it in answer to June's mail
    WHEN  checked for June
    THEN  one error names both periods and says to use this month's form; nothing else is reported
    """
    with atomic(engine) as s:
        may, _token, _ids = render(home, s, month=5)
    pkg = filled(may)
    assert "（1—5月）" in text_of(pkg.document)
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert [(f.level, f.column, f.message) for f in result.findings] == [(
        "error",
        "标题",
        ("本表是「2022年1—5月」的进展情况表（表单编号 "
        f"{parse_form(may).token}），而本次应报送「2022年1—6月」的进展情况。请使用本月下发的表格填写后重新发送。"),
    )]


def test_typing_in_the_number_column_does_not_lose_the_row(home, engine, form):
    """编号 retyped as "（1）" or "一" still names task 1; the whole form is accepted."""
    pkg = filled(form)
    pkg.set_cell(1, NUMBER, para(run("（1）")))
    result = check(engine, home, pkg.save(), office="基财股", period=PERIOD)
    assert result.ok and [e.seq for e in result.entries] == [1, 2, 3]
