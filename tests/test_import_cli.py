"""The plan commands as an operator and a script use them: import, tasks, tasks set-lead, offices."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from make_notice import Variant, build_directory, build_notice

from mailer.cli import cli
from mailer.registry.status import display_width


@pytest.fixture
def run(home):
    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--home", str(home.home), *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def imported(run, tmp_path):
    # The notice first on the command line: the directory is still imported first.
    result = run(
        "import", str(build_notice(tmp_path / "notice.docx")), str(build_directory(tmp_path / "dir.xlsx"))
    )
    assert result.exit_code == 0, result.output
    return result


def test_import_prints_the_reports_directory_first(imported):
    out = imported.output
    assert out.index("dir.xlsx：名录") < out.index(
        "notice.docx：通知（任务一览表） → 计划 台山市教育系统2022年重点工作任务一览表（2022年）"
    )
    assert "新增股室：局办公室、基财股" in out and "导入 19 项任务" in out
    assert "报送要求：从6月起，每月20日前报送" in out


def test_import_json(run, tmp_path, imported):
    result = run("import", "--json", str(build_notice(tmp_path / "notice.docx")))
    data = json.loads(result.output)
    assert data["errors"] == [] and data["imported"][0]["unchanged"] is True
    assert data["imported"][0]["plan_title"] == "台山市教育系统2022年重点工作任务一览表"


def test_tasks_json(run, imported):
    data = json.loads(run("tasks", "--json").output)
    assert [t["seq"] for t in data] == list(range(1, 20))
    t1 = data[0]
    assert set(t1) == {
        "seq",
        "name",
        "content",
        "offices",
        "lead",
        "leads",
        "remark",
        "lead_assumed",
        "milestones",
    }
    assert t1["name"] == "培英职业技术学校新校区建设项目" and t1["offices"] == ["基财股", "职终股"]
    assert t1["lead"] == "基财股" and t1["lead_assumed"] is False
    assert t1["milestones"][0] == {"label": "一是", "due": "2022-03-31", "text": "3月底前完成招标文件编制。"}
    assert data[10]["lead"] == "督导室" and data[17]["lead"] == "教育装备中心"


def test_tasks_table_lines_up_chinese(run, imported):
    out = run("tasks").output.splitlines()
    assert out[0] == "台山市教育系统2022年重点工作任务一览表（2022）"
    header, rule, *rows = out[1:]
    assert header.split() == ["序号", "任务名称", "牵头股室", "协办股室", "节点"]
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    col = starts[2]  # where 牵头股室 starts, in display columns
    for row in rows:
        prefix = row[: next(i for i in range(len(row)) if display_width(row[:i]) >= col)]
        assert display_width(prefix) == col, row
    assert "基财股" in rows[0] and "3/31 6/30 10/31" in rows[0]


def test_tasks_marks_assumed_leads(run, tmp_path):
    run("import", str(build_notice(tmp_path / "plain.docx", Variant(underline="none"))))
    out = run("tasks").output
    assert "基财股*" in out and "更正：duban tasks set-lead 序号 股室" in out
    result = run("tasks", "set-lead", "2", "基安股")
    assert result.exit_code == 0 and "任务 2（增加学位供给）的牵头股室已改为：基安股。" in result.output
    assert json.loads(run("tasks", "--json").output)[1]["lead"] == "基安股"


def test_set_lead_error_exits_1(run, imported):
    result = run("tasks", "set-lead", "1", "人事股")
    assert result.exit_code == 1
    assert '“人事股”不是任务 1 的责任股室（基财股、职终股）' in result.output


def test_offices(run, imported):
    data = json.loads(run("offices", "--json").output)
    by_name = {o["name"]: o for o in data}
    assert len(data) == 12
    assert by_name["督导室"]["aliases"] == ["教育督导室", "督导组"]
    assert by_name["督导室"]["leads_tasks"] == [9, 10, 11, 12, 13, 14]
    assert by_name["局办公室"]["is_bureau_office"] and by_name["局办公室"]["addresses"] == [
        "bgs@jyj.example.gov.cn"
    ]
    assert by_name["基财股"]["leader"] == "陈志明"
    text = run("offices").output
    assert "jcg@jyj.example.gov.cn" in text and "局办公室" in text


def test_nothing_imported_yet(run):
    result = run("tasks")
    assert result.exit_code == 1 and "尚未导入任何工作计划" in result.output
    assert "尚无股室" in run("offices").output


@pytest.mark.parametrize(
    "command", [["import"], ["tasks"], ["tasks", "set-lead"], ["offices"], ["ledger"], ["status"]]
)
def test_commands_have_help(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and len(result.output) > 100
