"""`duban forms render` and `duban forms check`: output, JSON and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from form_factory import fill, make_plan

from mailer.cli import cli
from mailer.registry.store import atomic


@pytest.fixture
def ids(engine):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        return make_plan(s)


def _run(home, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.home), *args], catch_exceptions=False)


def test_render_every_office_then_one(home, ids):
    result = _run(home, "forms", "render", "--period", "2022-06")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines[:-1]] == ["基财股", "人事股", "督导室"]
    assert lines[-1] == "已生成 2022年6月 的进展情况表 3 份。"
    assert len(list((home.outbox / "forms" / "2022-06").glob("*.docx"))) == 3
    one = _run(home, "forms", "render", "--period", "2022-07", "--office", "人事股")
    assert one.exit_code == 0 and one.output.strip().endswith("已生成 2022年7月 的进展情况表 1 份。")


def test_render_unknown_office_fails_with_exit_1(home, ids):
    result = CliRunner().invoke(cli, ["--home", str(home.home), "forms", "render", "--period", "2022-06",
                                      "--office", "不存在股"])
    assert result.exit_code == 1
    assert "错误：登记库中没有股室“不存在股”。" in result.output


def test_check_json_shows_what_duban_reads(home, ids, tmp_path):
    _run(home, "forms", "render", "--period", "2022-06", "--office", "基财股")
    form = next((home.outbox / "forms" / "2022-06").glob("*基财股.docx"))
    filled = tmp_path / "回复.docx"
    filled.write_bytes(fill(form.read_bytes(), {1: {"progress": "甲\n乙", "problems": "无"}, 2: {"progress": "丙"},
                                                3: {"progress": "丁", "remark": "备"}}))
    result = _run(home, "forms", "check", str(filled), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["office"], data["period"], data["filled_by"], data["filled_on"], data["ok"]) == (
        "基财股", "2022-06", "张三", "2022年6月15日", True)
    assert data["token"].startswith("DB-2206-")
    assert data["tasks"][0] == {"seq": 1, "name": "培英职业技术学校新校区建设项目", "progress": "甲\n乙",
                                "problems": "无", "remark": ""}
    assert data["findings"] == []

    text = _run(home, "forms", "check", str(filled), "--period", "2022-07", "--office", "基财股")
    assert text.exit_code == 3
    assert "错误 1 项" in text.output and "本表是「2022年1—6月」的进展情况表" in text.output


def test_check_refused_file_exits_1(home, ids, tmp_path):
    bad = tmp_path / "x.docx"
    bad.write_bytes(b"not a document")
    result = _run(home, "forms", "check", str(bad), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "refused": "附件「x.docx」不是 Word 文档（.docx），无法读取。请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"
    }
    plain = _run(home, "forms", "check", str(bad))
    assert plain.exit_code == 1


def test_commands_have_help():
    for args in (["forms", "--help"], ["forms", "render", "--help"], ["forms", "check", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and "Usage:" in result.output
