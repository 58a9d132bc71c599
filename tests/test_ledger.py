"""The work ledger: written atomically, readable, and never turning office text into formulas."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from make_notice import build_directory, build_notice
from openpyxl import load_workbook
from sqlalchemy import select
from test_status import at, june  # noqa: F401  (the fixture with a period in every state)

from mailer.cli import cli
from mailer.errors import RegistryError
from mailer.ledger import PERIOD_HEADER, TASK_HEADER, write_ledger
from mailer.model import Document, Task
from mailer.plan_import import import_file
from mailer.store import atomic


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
    assert wb.sheetnames == ["任务台账"]
    ws = wb["任务台账"]
    assert [c.value for c in ws[1]] == TASK_HEADER
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
    assert wb.sheetnames == ["任务台账", "2022年1—6月"]
    ws = wb["2022年1—6月"]
    assert [c.value for c in ws[1]] == PERIOD_HEADER
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref
    rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 19
    assert rows[1] == (
        "基财股",
        1,
        "培英职业技术学校新校区建设项目",
        "已审定",
        dt.datetime(2022, 6, 14, 10),
        1,
        "陈志明",
        dt.datetime(2022, 6, 15, 9),
        0,
        0,
    )
    assert rows[5][:4] == ("基安股", 5, "义务教育学校课后服务", "已发送") and rows[5][8:] == (3, 1)
    assert rows[9][3:6] == ("待审定", dt.datetime(2022, 6, 22, 10), 2) and rows[9][8] == 2
    assert rows[4][3] == "未发送" and rows[7][3] == "格式有误" and rows[15][3] == "已退回"


def test_no_plan(home, engine):
    with pytest.raises(RegistryError, match="尚未导入任何工作计划"):
        write_ledger(home, engine)


def test_ledger_cli(home, engine, plan):
    result = CliRunner().invoke(cli, ["--home", str(home.home), "ledger"])
    assert result.exit_code == 0 and "工作台账已生成：" in result.output
    assert (home.registry / "ledger.xlsx").exists()
