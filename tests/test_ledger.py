"""The work ledger: written atomically, readable, and never turning office text into formulas."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from make_notice import build_directory, build_notice
from notice_factory import HR_ON_16, JUNE_TEXT, bj, seed_june
from openpyxl import load_workbook
from sqlalchemy import select
from test_status import at, june  # noqa: F401  (the fixture with a period in every state)

from mailer.cli import cli
from mailer.common.errors import RegistryError
from mailer.plan.importer import import_file
from mailer.registry.model import Document, Task
from mailer.registry.store import atomic
from mailer.render.ledger import PERIOD_HEADER, TASK_HEADER, write_ledger
from mailer.render.ledger_chart import timeliness, timeliness_svg


@pytest.fixture
def plan(home, engine, tmp_path):
    import_file(home, engine, build_directory(tmp_path / "d.xlsx"))
    import_file(home, engine, build_notice(tmp_path / "n.docx"))


def test_task_sheet(home, engine, plan):
    with atomic(engine) as s:
        task = s.scalars(select(Task).where(Task.seq == 15)).one()
        task.remark = "=1+1"
        s.scalars(select(Task).where(Task.seq == 17)).one().remark = "民生\x07实事\x00"
    path = write_ledger(home, engine)
    assert path == home.registry / "ledger.xlsx"
    assert not list(path.parent.glob("*.part"))
    wb = load_workbook(path)
    assert wb.sheetnames == ["任务台账", "报送及时性"]
    ws = wb["任务台账"]
    assert [c.value for c in ws[1]] == TASK_HEADER  # no period yet: no month columns
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref == f"A1:G{ws.max_row}"
    assert ws.max_row == 1 + 62  # one row per milestone
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert rows[0] == (
        1,
        "培英职业技术学校新校区建设项目",
        "基财股",
        "基财股、职终股",
        "一是3月底前完成招标文件编制。",
        dt.datetime(2022, 3, 31),
        "2022 年台山市政府重点工作任务 江门重点建设项目 台山重点建设项目 2022 年江门市教育系统重大项目任务",
    )
    assert ws["F2"].number_format == 'yyyy"年"m"月"d"日"'
    assert {r[0] for r in rows} == set(range(1, 20))
    formula = next(c for c in ws["G"] if c.value == "=1+1")
    assert formula.data_type == "s"
    assert "民生实事" in [c.value for c in ws["G"]]
    assert ws["B2"].alignment.wrap_text and ws["E2"].alignment.wrap_text
    assert 20 <= ws.column_dimensions["E"].width <= 62 and ws.column_dimensions["A"].width < 10
    assert ws["B2"].font.name == "宋体" and ws["B1"].font.name == "黑体"
    with atomic(engine) as s:
        doc = s.scalars(select(Document).where(Document.kind == "ledger")).one()
        assert doc.path == "registry/ledger.xlsx" and len(doc.sha256) == 64
    write_ledger(home, engine)
    with atomic(engine) as s:
        assert s.scalars(select(Document).where(Document.kind == "ledger")).one().version == 2


def test_removed_tasks_are_left_out(home, engine, plan):
    with atomic(engine) as s:
        s.scalars(select(Task).where(Task.seq == 19)).one().removed = True
    ws = load_workbook(write_ledger(home, engine))["任务台账"]
    assert 19 not in {c.value for c in ws["A"]} and ws.max_row == 1 + 60


def test_period_sheet(home, engine, june):  # noqa: F811
    path = write_ledger(home, engine, home.home / "out" / "台账.xlsx", now=at(23))
    wb = load_workbook(path)
    assert wb.sheetnames == ["任务台账", "2022年1—6月", "报送及时性"]
    ws = wb["2022年1—6月"]
    assert [c.value for c in ws[1]] == PERIOD_HEADER
    assert ws.freeze_panes == "D2" and ws.auto_filter.ref == f"A1:R{ws.max_row}"
    rows = {r[0]: dict(zip(PERIOD_HEADER, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 19
    one = rows[1]
    assert (one["序号"], one["任务名称"], one["牵头股室"], one["报送状态"]) == (
        1,
        "培英职业技术学校新校区建设项目",
        "基财股",
        "已审定",
    )
    assert (one["报送时间"], one["版本"], one["逾期天数"], one["催报次数"]) == (
        dt.datetime(2022, 6, 14, 10),
        1,
        0,
        0,
    )
    assert (one["审定人"], one["审定时间"]) == ("陈志明", dt.datetime(2022, 6, 15, 9))
    # This fixture's submissions carry no text: nothing is reported done, March's milestone is overdue.
    assert one["亮灯"] == "●红" and one["进展情况"] is None
    assert one["亮灯原因"].startswith("节点逾期未完成：一是3月底前完成招标文件编制（3月31日到期）")
    assert one["节点情况"].splitlines()[0] == "一是3月底前完成招标文件编制（3月31日）：逾期"
    assert rows[5]["报送状态"] == "已发送" and (rows[5]["逾期天数"], rows[5]["催报次数"]) == (3, 1)
    assert "基安股逾期未报送3天" in rows[5]["亮灯原因"]
    assert (rows[9]["报送状态"], rows[9]["报送时间"], rows[9]["版本"], rows[9]["逾期天数"]) == (
        "待审定",
        dt.datetime(2022, 6, 22, 10),
        2,
        2,
    )
    assert (
        rows[4]["报送状态"] == "未发送"
        and rows[7]["报送状态"] == "格式有误"
        and rows[15]["报送状态"] == "已退回"
    )
    # The milestone sheet has June's state of every milestone.
    tasks = wb["任务台账"]
    assert [c.value for c in tasks[1]] == [*TASK_HEADER, "6月"]
    assert tasks["H2"].value == "逾期" and tasks["H2"].fill.fgColor.rgb == "00FFC7CE"


def test_ledger_an_inspector_reads(home, engine):
    """
    GIVEN the realistic June of the notice tests (texts, a late office, a silent one, one awaiting its leader)
    WHEN  the ledger is written on 23 June
    THEN  each period sheet holds the reported text, the light (coloured) and who reported when; the
          milestone sheet the state per month; the timeliness sheet a chart; every sheet prints one page wide
    """
    with atomic(engine) as s:
        seeded = seed_june(s)
        seeded.offices["基财股"].contact, seeded.offices["基财股"].phone = "李明", "0750-5521234"
        seeded.tasks[19].done_after = "2022-06"  # 办结 in June: on June's forms, not on July's
    wb = load_workbook(write_ledger(home, engine, now=bj(2022, 6, 23, 9)))
    assert wb.sheetnames == ["任务台账", "2022年1—6月", "2022年1—7月", "报送及时性"]
    ws = wb["2022年1—6月"]
    rows = [dict(zip(PERIOD_HEADER, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == 20  # 19 tasks, task 16 led by two offices
    one = rows[0]
    assert one["进展情况"] == JUNE_TEXT[1][0] and one["存在问题和下一步工作计划"] == JUNE_TEXT[1][1]
    assert (one["填报人"], one["联系人"], one["报送时间"]) == (
        "张三",
        "李明 0750-5521234",
        dt.datetime(2022, 6, 18, 9, 30),
    )
    assert one["报送状态"] == "已审定" and one["版本"] == 2  # the returned first revision's text is not shown
    assert (
        one["亮灯"] == "●黄" and one["亮灯原因"] == "节点临近未完成：二是6月底前开展施工招标（6月30日到期）"
    )
    assert one["节点情况"].splitlines()[:2] == [
        "一是3月底前完成招标文件编制（3月31日）：已完成",
        "二是6月底前开展施工招标（6月30日）：临近",
    ]
    assert ws["D2"].fill.fgColor.rgb == "00FFEB9C" and ws["D2"].font.bold
    joint = [r for r in rows if r["序号"] == 16]
    assert [(r["牵头股室"], r["进展情况"]) for r in joint] == [
        ("机关党委", JUNE_TEXT[16][0]),
        ("人事股", HR_ON_16[0]),
    ]
    # 卫健所's report awaits its leader: its text is shown, its state says it is not approved yet.
    health = next(r for r in rows if r["序号"] == 17)
    assert (health["报送状态"], health["进展情况"]) == ("待审定", JUNE_TEXT[17][0])
    assert "卫健所报表待分管负责同志审定" in health["亮灯原因"]
    # Printing: landscape, one page wide, the header row on every page, page numbers.
    for sheet in wb:
        setup = sheet.page_setup
        assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_rows == "$1:$1"
        assert "&P" in sheet.oddFooter.center.text and sheet.freeze_panes
    assert "工作台账" in ws.oddHeader.center.text
    assert ws["E2"].alignment.wrap_text and ws.column_dimensions["E"].width == 44
    # Milestones across the year: June's and July's state of each.
    tasks = wb["任务台账"]
    assert [c.value for c in tasks[1]][-2:] == ["6月", "7月"]
    first = [c.value for c in tasks[2]]
    assert first[4] == "一是3月底前完成招标文件编制" and first[-2:] == ["已完成", "已完成"]
    # Task 19, 办结 after June: followed in June, green and 已办结 in July.
    nineteen = next(r for r in wb["2022年1—7月"].iter_rows(min_row=2, values_only=True) if r[0] == 19)
    assert (nineteen[3], nineteen[9]) == ("●绿", "已办结")
    last = [c.value for c in tasks[tasks.max_row]]
    assert last[0] == 19 and last[-2] != "已办结" and last[-1] == "已办结"
    # Timeliness: days against the due date, the counts, and a bar chart of them.
    chart_ws = wb["报送及时性"]
    days = {r[0]: r[1] for r in chart_ws.iter_rows(min_row=2, max_row=11, values_only=True)}
    assert days["基财股"] == -3 and days["督导室"] == 2 and days["人事股"] == 0 and days["招考股"] == 3
    assert len(chart_ws._charts) == 1
    assert chart_ws._charts[0].title is not None


def test_timeliness_svg(home, engine):
    with atomic(engine) as s:
        seed_june(s)
        t = timeliness(s, home, dt.date(2022, 6, 23))
        svg = timeliness_svg(s, home, dt.date(2022, 6, 23))
    # 卫健所 sent its form on the 19th (awaiting its leader): on time, as `duban status` counts it.
    assert t.months == ["6月", "7月"] and t.counts("6月") == {"按时": 8, "逾期": 1, "未报送": 1}
    assert t.days[("督导室", "6月")] == 2 and t.days[("基财股", "7月")] is None
    root = ElementTree.fromstring(svg)  # well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    bars = root.findall(".//{http://www.w3.org/2000/svg}rect/{http://www.w3.org/2000/svg}title")
    assert "督导室 6月：逾期 +2天" in [b.text for b in bars]
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_no_plan(home, engine):
    with pytest.raises(RegistryError, match="尚未导入任何工作计划"):
        write_ledger(home, engine)


def test_ledger_cli(home, engine, plan):
    result = CliRunner().invoke(cli, ["--home", str(home.home), "ledger"])
    assert result.exit_code == 0 and "工作台账已生成：" in result.output
    assert (home.registry / "ledger.xlsx").exists()
