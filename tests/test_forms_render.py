"""Rendering the progress form: layout and fonts from the XML, rows, marks, pre-fill, token, files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from form_factory import add_approved, form_table, make_plan, row_of
from lxml import etree

from mailer.common.errors import RegistryError, TemplateError
from mailer.common.tokens import make_token
from mailer.read.formparse import parse_form
from mailer.registry.model import Office, Plan, Task
from mailer.registry.store import atomic
from mailer.render.forms import (
    MARK_DUE,
    MARK_PAST,
    form_filename,
    milestone_mark,
    render_form,
    render_forms,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@pytest.fixture
def ids(engine):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        return make_plan(s)


def _render(home, engine, ids, office="基财股", year=2022, month=6, **kw):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        return render_form(home, s, s.get(Plan, ids.plan_id), year, month, s.get(Office, ids.offices[office]), **kw)


def _part(path: Path, name: str):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as z:
        return etree.fromstring(z.read(name))


def test_rendered_form_is_a4_landscape_with_east_asian_fonts_in_the_styles_and_a_repeated_header(home, engine, ids):
    """
    GIVEN the shipped template
    WHEN  a form is rendered
    THEN  its XML says A4 landscape, zh-CN East Asian defaults, the three fonts set as East Asian fonts in
          the styles (not on runs), and the header row repeats on every page
    """
    path = _render(home, engine, ids).path
    doc = _part(path, "word/document.xml")
    pg = doc.find(f".//{W}sectPr/{W}pgSz")
    assert pg.get(f"{W}orient") == "landscape"
    assert (int(pg.get(f"{W}w")), int(pg.get(f"{W}h"))) == (16838, 11906)
    styles = _part(path, "word/styles.xml")
    defaults = styles.find(f"{W}docDefaults/{W}rPrDefault/{W}rPr")
    assert defaults.find(f"{W}lang").get(f"{W}eastAsia") == "zh-CN"
    assert defaults.find(f"{W}rFonts").get(f"{W}eastAsia") == "仿宋_GB2312"
    assert defaults.find(f"{W}rFonts").get(f"{W}eastAsiaTheme") is None

    def east_asia(style_id: str) -> str:
        st = styles.find(f"{W}style[@{W}styleId='{style_id}']")
        return st.find(f"{W}rPr/{W}rFonts").get(f"{W}eastAsia")

    assert east_asia("Normal") == "仿宋_GB2312"
    assert east_asia("FormTitle") == "方正小标宋简体"
    assert east_asia("FormHeader") == "黑体"
    assert east_asia("FormCell") == "仿宋_GB2312"
    rows = doc.findall(f".//{W}tbl/{W}tr")
    assert rows[0].find(f"{W}trPr/{W}tblHeader") is not None
    assert all(r.find(f"{W}trPr/{W}tblHeader") is None for r in rows[1:])
    assert len(rows) == 1 + 3
    title = doc.find(f"{W}body/{W}p")
    assert title.find(f"{W}pPr/{W}pStyle").get(f"{W}val") == "FormTitle"
    # Fonts come from the styles: the template adds no run-level East Asian font of its own.
    fonted = [r for r in doc.iter(f"{W}rFonts")]
    assert fonted == []


def test_rows_marks_underline_and_header_text(home, engine, ids):
    """
    GIVEN 基财股 leads tasks 1, 2, 3 and is only a co-office of task 9
    WHEN  its June form is rendered
    THEN  there is one row per led task, the lead office is underlined, milestones due in June are marked
          【本月到期】 and earlier ones 【已到期】, and the title, 填报股室 and 表单编号 are filled
    """
    form = _render(home, engine, ids)
    assert form.task_seqs == [1, 2, 3]
    assert form.path.name == "2022年1—6月重点工作进展情况表-基财股.docx"
    assert form.path.parent == home.outbox / "forms" / "2022-06"
    doc = Document(str(form.path))
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "台山市教育系统2022年重点工作推进项目进展情况表（1—6月）"
    assert texts[1].startswith("填报股室：基财股\t填报人：\t填报日期：")
    assert "【本月到期】" in texts[2] and "【已到期】" in texts[2]
    table = form_table(doc)
    assert [r.cells[0].text for r in table.rows[1:]] == ["1", "2", "3"]
    row1 = row_of(table, 1)
    offices = [(r.text, bool(r.underline)) for p in row1.cells[3].paragraphs for r in p.runs if r.text]
    assert offices == [("基财股", True), ("职终股", False)]
    content = [p.text for p in row1.cells[2].paragraphs]
    assert content[2] == f"{MARK_PAST}一是3月底前完成招标文件编制。"
    assert content[3] == f"{MARK_DUE}二是6月底前开展施工招标。"
    assert content[4] == "三是10月底前开展基础工程建设。"
    footer = doc.sections[0].footer.paragraphs[0].text
    assert f"表单编号：{form.token}" in footer


def test_milestone_marks_by_due_date():
    import datetime as dt

    assert milestone_mark(dt.date(2022, 5, 31), 2022, 6) == MARK_PAST
    assert milestone_mark(dt.date(2022, 6, 30), 2022, 6) == MARK_DUE
    assert milestone_mark(dt.date(2022, 6, 1), 2022, 6) == MARK_DUE
    assert milestone_mark(dt.date(2022, 7, 31), 2022, 6) == ""
    assert milestone_mark(None, 2022, 6) == ""


def test_token_in_custom_property_identifier_and_footer(home, engine, ids):
    form = _render(home, engine, ids)
    expected = make_token(home.secret_key(), ids.plan_id, 2022, 6, ids.offices["基财股"])
    assert form.token == expected
    with zipfile.ZipFile(form.path) as z:
        custom = z.read("docProps/custom.xml").decode()
        core = etree.fromstring(z.read("docProps/core.xml"))
    assert 'name="duban_token"' in custom and expected in custom
    assert core.find("{http://purl.org/dc/elements/1.1/}identifier").text == expected
    # python-docx reads the identifier back through its own (fixed) namespace map.
    assert Document(str(form.path)).core_properties.identifier == expected
    parsed = parse_form(form.path.read_bytes())
    assert (parsed.token, parsed.token_source) == (expected, "custom_property")


def test_prefill_takes_the_newest_approved_entry_of_an_earlier_period(home, engine, ids):
    """
    GIVEN approved reports for May (two revisions) and April, a pending one for May and a returned one
    WHEN  the June form is rendered
    THEN  each task is pre-filled from its newest approved entry before June: May's last revision first,
          April's where May said nothing, and never a pending, returned or later report
    """
    with atomic(engine) as s:
        add_approved(s, ids, "基财股", 2022, 4, {1: ("四月进展", "四月问题", "四月备注"), 3: ("三号四月", "", "")})
        add_approved(s, ids, "基财股", 2022, 5, {1: ("五月初稿", "", "")}, revision=1)
        add_approved(s, ids, "基财股", 2022, 5, {1: ("五月进展\n第二段", "五月问题", "")}, revision=2)
        add_approved(s, ids, "基财股", 2022, 5, {2: ("待审定", "", "")}, revision=3, state="pending_approval")
        add_approved(s, ids, "基财股", 2022, 5, {3: ("被退回", "", "")}, revision=4, state="returned")
        add_approved(s, ids, "基财股", 2022, 6, {1: ("六月自己", "", "")}, revision=1)
    form = _render(home, engine, ids)
    table = form_table(Document(str(form.path)))
    row1, row2, row3 = (row_of(table, n) for n in (1, 2, 3))
    assert [p.text for p in row1.cells[4].paragraphs] == ["五月进展", "第二段"]
    assert row1.cells[5].text == "五月问题"
    assert row1.cells[6].text == ""
    assert row2.cells[4].text == ""
    assert row3.cells[4].text == "三号四月"


def test_user_text_is_escaped_and_cleaned(home, engine, ids):
    """
    GIVEN a task name with XML specials and control characters, and a previous entry with the same
    WHEN  the form is rendered (autoescape on, values cleaned)
    THEN  the text comes out whole: nothing truncated, nothing injected, no control character
    """
    nasty = 'A<B 且 C>D & E "{{ token }}"\x07\x0b'
    with atomic(engine) as s:
        s.get(Task, ids.tasks[3]).name = nasty
        add_approved(s, ids, "基财股", 2022, 5, {3: ("x</w:t></w:r><w:r><w:t>injected", "", "")})
    form = _render(home, engine, ids)
    row3 = row_of(form_table(Document(str(form.path))), 3)
    assert row3.cells[1].text == 'A<B 且 C>D & E "{{ token }}"'
    assert row3.cells[4].text == "x</w:t></w:r><w:r><w:t>injected"


def test_atomic_write_and_out_dir(home, engine, ids, tmp_path):
    form = _render(home, engine, ids, out_dir=tmp_path / "elsewhere")
    assert form.path.parent == tmp_path / "elsewhere"
    assert not list((tmp_path / "elsewhere").glob("*.part"))


def test_render_forms_renders_every_lead_office(home, engine, ids):
    with atomic(engine) as s:
        plan = s.get(Plan, ids.plan_id)
    forms = render_forms(home, engine, plan, 2022, 6)
    assert [(f.office_name, f.task_seqs) for f in forms] == [("基财股", [1, 2, 3]), ("人事股", [4]), ("督导室", [9])]
    assert len({f.token for f in forms}) == 3
    only = render_forms(home, engine, plan, 2022, 7, ["人事股"])
    assert [f.office_name for f in only] == ["人事股"]
    assert only[0].path.parent.name == "2022-07"


def test_an_office_without_tasks_has_no_form(home, engine, ids):
    with pytest.raises(RegistryError, match="leads no current task"):
        _render(home, engine, ids, office="职终股")


def test_removed_tasks_are_left_out(home, engine, ids):
    with atomic(engine) as s:
        s.get(Task, ids.tasks[2]).removed = True
    assert _render(home, engine, ids).task_seqs == [1, 3]


def test_filename_is_safe_for_any_office_name():
    office = Office(id=7, name='基财/股:*?"<>|')
    assert form_filename(Plan(year=2022, title="t"), 2022, 6, office) == "2022年1—6月重点工作进展情况表-基财_股_______.docx"


def test_a_template_with_an_unknown_variable_is_refused_by_name(home, engine, ids):
    """
    GIVEN the bureau replaced the template with one using a variable duban does not provide
    WHEN  a form is rendered
    THEN  TemplateError names the variable (and the template is re-read because the file changed)
    """
    _render(home, engine, ids)  # caches the shipped template
    target = home.templates / "progress_form.docx"
    doc = Document(str(target))
    doc.add_paragraph("{{ school_name }}")
    buf = io.BytesIO()
    doc.save(buf)
    target.write_bytes(buf.getvalue())
    with pytest.raises(TemplateError, match="school_name"):
        _render(home, engine, ids)


def test_core_properties_survive_the_docxcompose_import(home, engine, ids):
    """nsmap['cp'] is reset after docxtpl/docxcompose rebind it: core keywords still read back."""
    form = _render(home, engine, ids)
    doc = Document(str(form.path))
    doc.core_properties.keywords = "进展情况表"
    buf = io.BytesIO()
    doc.save(buf)
    assert Document(io.BytesIO(buf.getvalue())).core_properties.keywords == "进展情况表"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        assert b"metadata/core-properties" in z.read("docProps/core.xml")
    assert qn("w:p")  # python-docx's own names unaffected


def test_the_instructions_state_the_periods_real_due_date_and_the_named_reviewer(home, engine, ids):
    """
    GIVEN 基财股 supervised by 李明 (副局长), and the June period due on the 21st (the 20th moved by the calendar)
    WHEN  its June form is rendered; then 人事股's, which has no supervising leader
    THEN  the 填写说明 says "报送截至6月21日" and that 分管负责同志李明副局长 reviews after it is sent;
          the other says the bureau office reviews
    """
    import datetime as dt

    from mailer.registry.model import Period, Person

    with atomic(engine) as s:
        leader = Person(name="李明", title="副局长", email="liming@example.cn")
        s.add(leader)
        s.flush()
        s.get(Office, ids.offices["基财股"]).leader_id = leader.id
        s.get(Office, ids.offices["人事股"]).leader_id = None
        s.add(Period(plan_id=ids.plan_id, year=2022, month=6, send_on=dt.date(2022, 6, 10),
                     due_on=dt.date(2022, 6, 21)))
    note = next(p.text for p in Document(str(_render(home, engine, ids).path)).paragraphs if "填写说明" in p.text)
    assert "报送截至6月21日：请在此前回复本邮件报送，收到后即送分管负责同志李明副局长审定，审定同意后纳入全局汇总通报。" in note
    other = Document(str(_render(home, engine, ids, office="人事股").path))
    assert "收到后即送局办公室审定" in next(p.text for p in other.paragraphs if "填写说明" in p.text)


def test_before_the_period_exists_the_instructions_use_the_plans_due_day(home, engine, ids):
    doc = Document(str(_render(home, engine, ids, month=7).path))
    assert "报送截至7月20日" in next(p.text for p in doc.paragraphs if "填写说明" in p.text)
