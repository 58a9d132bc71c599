"""check_form: matching rows to the office's tasks, and every finding with its exact message."""

from __future__ import annotations

import io

import pytest
from docx import Document
from form_factory import add_approved, docx_bytes, fill, form_table, make_plan, notice_form, row_of, type_into

from mailer.common.errors import RegistryError
from mailer.read.formcheck import EntryData, Finding, check_form
from mailer.read.formparse import parse_form
from mailer.registry.model import Document as DocRow
from mailer.registry.model import Office, Period, Plan
from mailer.registry.store import atomic
from mailer.render.forms import render_form

GOOD = {1: {"progress": "已完成施工招标。"}, 2: {"progress": "基础工程完成80%。"}, 3: {"progress": "已拨付。"}}
NAMES = {1: "培英职业技术学校新校区建设项目", 2: "增加学位供给", 3: "提升基础教育生均公用经费补助标准"}


@pytest.fixture
def ids(engine):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        return make_plan(s)


@pytest.fixture
def form(home, engine, ids):  # type: ignore[no-untyped-def]
    """基财股's rendered June form (bytes)."""
    with atomic(engine) as s:
        rendered = render_form(home, s, s.get(Plan, ids.plan_id), 2022, 6, s.get(Office, ids.offices["基财股"]))
    return rendered.path.read_bytes()


def _check(engine, data: bytes, home=None, **kw):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        expected = {k: (s.get(Office, v) if k == "office" and isinstance(v, int) else v) for k, v in kw.items()}
        result = check_form(s, parse_form(data), secret_key=home.secret_key() if home else None, **expected)
        result.office_name = result.office.name if result.office else None  # type: ignore[attr-defined]
        return result


def _messages(result, level: str = "error") -> list[str]:  # type: ignore[no-untyped-def]
    return [f.message for f in result.findings if f.level == level]


def _edit(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    doc = Document(io.BytesIO(data))
    change(doc, form_table(doc))
    return docx_bytes(doc)


def test_a_good_form_gives_one_entry_per_task_and_no_finding(home, engine, ids, form):
    result = _check(engine, fill(form, GOOD), home)
    assert result.ok and result.findings == []
    assert (result.office_name, result.year, result.month, result.office_by) == ("基财股", 2022, 6, "token")
    assert result.entries == [
        EntryData(ids.tasks[1], 1, NAMES[1], "已完成施工招标。", "", ""),
        EntryData(ids.tasks[2], 2, NAMES[2], "基础工程完成80%。", "", ""),
        EntryData(ids.tasks[3], 3, NAMES[3], "已拨付。", "", ""),
    ]
    assert (result.filled_by, result.filled_on) == ("张三", "2022年6月15日")


def test_a_token_on_record_is_recognised_without_the_key(home, engine, ids, form):
    """The token of a form the cycle sent (a Document row) names the office and period by itself."""
    token = parse_form(form).token
    with atomic(engine) as s:
        p = Period(plan_id=ids.plan_id, year=2022, month=6, send_on=__import__("datetime").date(2022, 6, 10),
                   due_on=__import__("datetime").date(2022, 6, 20))
        s.add(p)
        s.flush()
        s.add(DocRow(kind="form", period_id=p.id, office_id=ids.offices["基财股"], path="x.docx", token=token))
    result = _check(engine, fill(form, GOOD))
    assert (result.office_name, result.year, result.month, result.ok) == ("基财股", 2022, 6, True)


def test_missing_task_row(home, engine, form):
    data = _edit(fill(form, GOOD), lambda doc, t: t._tbl.remove(row_of(t, 2)._tr))
    assert _messages(_check(engine, data, home)) == [
        "缺少编号 2「增加学位供给」这一行。请按下发的表格补上该行（不要删除任务行），并填写“进展情况”。"
    ]


def test_empty_progress(home, engine, form):
    result = _check(engine, fill(form, {1: GOOD[1], 3: GOOD[3]}), home)
    assert result.findings == [Finding(
        "error", "编号 2「增加学位供给」的“进展情况”栏为空。请填写截至6月底的进展情况。", 2, "增加学位供给", "进展情况"
    )]
    assert not result.ok
    assert result.findings[0].to_dict() == {
        "level": "error", "message": "编号 2「增加学位供给」的“进展情况”栏为空。请填写截至6月底的进展情况。",
        "seq": 2, "name": "增加学位供给", "column": "进展情况",
    }


def test_progress_unchanged_since_the_last_approved_report_is_a_warning(home, engine, ids):
    with atomic(engine) as s:
        add_approved(s, ids, "基财股", 2022, 5, {1: ("已完成招标文件编制。\n正在准备施工招标。", "", "")})
        rendered = render_form(home, s, s.get(Plan, ids.plan_id), 2022, 6, s.get(Office, ids.offices["基财股"]))
    data = fill(rendered.path.read_bytes(), {2: GOOD[2], 3: GOOD[3]})  # task 1 left as pre-filled
    result = _check(engine, data, home)
    assert result.ok
    assert _messages(result, "warning") == [
        ("编号 1「培英职业技术学校新校区建设项目」的“进展情况”与上次审定的内容完全相同。"
        "请更新本月进展；如确无新进展，请写明“本月无新进展”及原因。")
    ]
    assert result.entries[0].progress == "已完成招标文件编制。\n正在准备施工招标。"


def test_wrong_office_against_the_expected_one(home, engine, ids, form):
    result = _check(engine, fill(form, GOOD), home, office=ids.offices["人事股"], year=2022, month=6)
    assert _messages(result)[0] == (
        "本表是「基财股」的进展情况表（表单编号 " + result.token + "），而这封邮件应由「人事股」报送。"
        "请使用发给「人事股」的表格填写后重新发送。"
    )
    assert result.office_name == "人事股"


def test_typed_office_contradicting_the_token(home, engine, form):
    data = fill(form, GOOD)
    data = _edit(data, lambda doc, t: [setattr(r, "text", r.text.replace("基财股", "人事股"))
                                         for r in doc.paragraphs[1].runs])
    result = _check(engine, data, home)
    assert _messages(result) == [
        (f"“填报股室”填写为「人事股」，但本表（表单编号 {result.token}）是发给「基财股」的。"
        "请核对填报股室；「人事股」的进展请使用发给「人事股」的表格填写。")
    ]


def test_wrong_period_by_token_and_by_title(home, engine, ids, form):
    result = _check(engine, fill(form, GOOD), home, year=2022, month=7)
    assert _messages(result) == [
        (f"本表是「2022年1—6月」的进展情况表（表单编号 {result.token}），而本次应报送「2022年1—7月」的进展情况。"
        "请使用本月下发的表格填写后重新发送。")
    ]
    rows = [["1", NAMES[1], "", "基财股", "进展", "", ""], ["2", NAMES[2], "", "基财股", "进展", "", ""],
            ["3", NAMES[3], "", "基财股", "进展", "", ""]]
    old = notice_form(rows, title="台山市教育系统2022年重点工作推进项目进展情况表（1—5月）")
    result = _check(engine, old, office=ids.offices["基财股"], year=2022, month=6)
    assert _messages(result) == [
        "本表是「2022年1—5月」的进展情况表（见标题），而本次应报送「2022年1—6月」的进展情况。请使用本月下发的表格填写后重新发送。"
    ]


def test_rows_of_another_office_and_rows_of_no_task(home, engine, form):
    def add_rows(doc, t):  # type: ignore[no-untyped-def]
        for values in (["4", "加强教师培训", "", "人事股", "已培训500人。", "", ""],
                       ["", "其他临时工作", "", "基财股", "已完成。", "", ""]):
            row = t.add_row()
            for c, text in enumerate(values):
                type_into(row.cells[c], text)

    result = _check(engine, _edit(fill(form, GOOD), add_rows), home)
    assert _messages(result) == [
        "编号 4「加强教师培训」不是基财股牵头的任务（牵头股室：人事股），请从本表中删除该行；该任务的进展由牵头股室报送。",
        "「其他临时工作」不是基财股牵头的任务，也不在本年度重点工作任务清单中。请删除该行，或改回下发表格中的编号和项目名称。",
    ]
    assert [f.seq for f in result.findings] == [4, None]


def test_conflicting_duplicates_are_an_error_and_identical_ones_are_merged(home, engine, form):
    def dup(text):  # type: ignore[no-untyped-def]
        def change(doc, t):  # type: ignore[no-untyped-def]
            row = t.add_row()
            for c, value in enumerate(["3", NAMES[3], "", "基财股", text, "", ""]):
                type_into(row.cells[c], value)
        return change

    same = _check(engine, _edit(fill(form, GOOD), dup("已拨付。")), home)
    assert same.ok and len(same.entries) == 3
    assert _messages(same, "warning") == [
        ("编号 3「提升基础教育生均公用经费补助标准」在表中出现了 2 次（第 3、4 行），内容相同，已按第一次出现的那一行记录。"
        "请在下次报送前删去重复的行（常见原因是表格被整张粘贴了两次）；重复行内容不一致时表格将被退回。")
    ]
    other = _check(engine, _edit(fill(form, GOOD), dup("尚未拨付。")), home)
    assert _messages(other) == ["编号 3「提升基础教育生均公用经费补助标准」出现了 2 行且内容不一致。请合并为一行后重新发送。"]


def test_a_table_pasted_twice_is_accepted_with_a_warning_naming_the_rows(home, engine, form):
    """
    GIVEN the filled table pasted a second time below the first (the whole table, header included)
    WHEN  the form is checked
    THEN  one entry per task, and one warning per task naming both of its lines and what to do
    """
    import copy

    def paste_twice(doc, t):  # type: ignore[no-untyped-def]
        t._tbl.addnext(copy.deepcopy(t._tbl))

    result = _check(engine, _edit(fill(form, GOOD), paste_twice), home)
    assert result.ok and [e.seq for e in result.entries] == [1, 2, 3]
    warnings = _messages(result, "warning")
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("编号 1「培英职业技术学校新校区建设项目」在表中出现了 2 次（第 1、")
    assert all("已按第一次出现的那一行记录" in w and "删去重复的行" in w for w in warnings)


def test_missing_filled_by_is_a_warning(home, engine, form):
    result = _check(engine, fill(form, GOOD, filled_by=None), home)
    assert result.ok
    assert result.findings == [Finding("warning", "“填报人”未填写。请在表格上方“填报人：”后填写姓名。", column="填报人")]


def test_matching_tolerates_reordering_missing_numbers_and_light_name_edits(engine, ids):
    """
    GIVEN the notice's own form filled by hand: rows reversed, one without 编号, one with the name edited
          lightly, one with spacing and full-width punctuation changed, and an empty row
    WHEN  checked for 基财股 in June
    THEN  every row finds its task, with no error
    """
    data = notice_form([
        ["3", "提升基础教育生均公用经费补助标准（市民生实事）", "", "基财股", "已拨付。", "", ""],
        ["", "增加 学位 供给", "", "基财股", "基础工程完成80%。", "", ""],
        ["１", "培英职校新校区建设项目", "", "基财股\n职终股", "已完成施工招标。", "", ""],
        ["", "", "", "", "", "", ""],
    ])
    result = _check(engine, data)
    assert result.ok, result.findings
    assert (result.office_name, result.office_by, result.year, result.month) == ("基财股", "填报股室", 2022, 6)
    assert [(e.seq, e.progress) for e in result.entries] == [
        (1, "已完成施工招标。"), (2, "基础工程完成80%。"), (3, "已拨付。")]


def test_number_contradicting_the_name_is_matched_by_name_with_a_warning(engine, ids):
    data = notice_form([
        ["1", NAMES[1], "", "", "甲", "", ""],
        ["3", NAMES[2], "", "", "乙", "", ""],
        ["2", NAMES[3], "", "", "丙", "", ""],
    ])
    result = _check(engine, data)
    assert result.ok
    assert [(e.seq, e.progress) for e in result.entries] == [(1, "甲"), (2, "乙"), (3, "丙")]
    assert _messages(result, "warning")[0] == (
        "编号 3「增加学位供给」：编号与项目名称不符，已按项目名称认定为编号 2。请勿修改下发表格中的编号。"
    )


def test_no_office_at_all(engine, ids):
    data = notice_form([["1", NAMES[1], "", "", "甲", "", ""]], office="")
    result = _check(engine, data)
    assert _messages(result) == [
        "无法确定填报股室：表中没有表单编号，“填报股室：”后也没有可识别的股室名称。请在“填报股室：”后填写本股室全称后重新发送。"
    ]
    assert result.office is None and result.entries == []


def test_unknown_typed_office_with_an_expected_one_is_a_warning(engine, ids):
    rows = [[str(n), NAMES[n], "", "", "进展", "", ""] for n in (1, 2, 3)]
    result = _check(engine, notice_form(rows, office="基础教育与财务股"), office=ids.offices["基财股"], year=2022,
                    month=6)
    assert result.ok
    assert _messages(result, "warning") == [
        "“填报股室”填写的「基础教育与财务股」不是已登记的股室名称，已认定为「基财股」。请填写股室全称。"
    ]


def test_title_without_month(engine, ids):
    rows = [[str(n), NAMES[n], "", "", "进展", "", ""] for n in (1, 2, 3)]
    blank = notice_form(rows, title="台山市教育系统 2022 年重点工作推进项目进展情况表（1—月）")
    result = _check(engine, blank, year=2022, month=6)
    assert result.ok
    assert _messages(result, "warning") == ["标题中未写明报送月份，已按本次报送期「2022年1—6月」处理。请在标题中写明，如“（1—6月）”。"]
    result = _check(engine, blank)
    assert _messages(result) == [
        "无法确定报送期：标题中没有写明“（1—N月）”，表中也没有表单编号。请在标题中写明月份，如“（1—6月）”，然后重新发送。"
    ]


def test_an_office_that_leads_nothing(engine, ids):
    result = _check(engine, notice_form([["1", NAMES[1], "", "", "甲", "", ""]], office="职终股"))
    assert _messages(result) == ["「职终股」在本年度重点工作任务中没有牵头任务，无需报送本表。如有疑问请联系局办公室。"]


def test_unknown_token_is_a_warning(engine, ids, form):
    data = _edit(fill(form, GOOD), lambda doc, t: None)
    doc = Document(io.BytesIO(data))
    from docxcompose.properties import CustomProperties

    CustomProperties(doc)["duban_token"] = "DB-2206-ZZZZZZZZ"
    result = _check(engine, docx_bytes(doc))  # no key: the real token cannot be recomputed either
    assert _messages(result, "warning")[0] == (
        "表单编号 DB-2206-ZZZZZZZZ 不是本系统下发的表格编号，已按表中填写的内容处理。请勿修改表单编号。"
    )
    assert result.office_name == "基财股" and result.ok


def test_no_active_plan(engine):
    with atomic(engine) as s, pytest.raises(RegistryError, match="登记库中没有当前工作计划"):
        check_form(s, parse_form(notice_form([])))
