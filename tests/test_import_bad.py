"""Bad inputs are refused with a message naming the file and the problem, and change nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document
from make_notice import build_directory, build_notice, build_tasks_xlsx
from openpyxl import load_workbook

from mailer.common.errors import PlanImportError
from mailer.plan.importer import import_file
from mailer.registry.model import Base

HEADER = ["序号", "任务名称", "主要内容和关键时间节点计划", "责任股室", "备注"]


def registry_rows(engine) -> dict[str, list]:
    """Every row of every table, for "nothing changed" checks."""
    with engine.connect() as c:
        return {
            t.name: c.execute(t.select().order_by(*t.primary_key.columns)).all()
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def loaded(home, engine, tmp_path):
    """A registry holding the directory and the plan, as it is when someone imports a wrong file."""
    import_file(home, engine, build_directory(tmp_path / "directory.xlsx"))
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    return registry_rows(engine)


def refused(home, engine, path: Path, before: dict) -> str:
    with pytest.raises(PlanImportError) as err:
        import_file(home, engine, path)
    assert registry_rows(engine) == before
    message = str(err.value)
    assert path.name in message
    return message


def table_docx(
    path: Path, header: list[str], rows: list[list[str]], title: str = "台山市2022年重点工作任务一览表"
) -> Path:
    doc = Document()
    doc.add_paragraph(title)
    table = doc.add_table(rows=0, cols=len(header))
    for values in [header, *rows]:
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            cell.text = value
    doc.save(str(path))
    return path


def test_text_renamed_docx(home, engine, tmp_path, loaded):
    path = tmp_path / "通知.docx"
    path.write_text("关于印发重点工作任务的通知\n序号 任务名称\n", encoding="utf-8")
    assert "是纯文本文件，不是 Word（.docx）" in refused(home, engine, path, loaded)


def test_zip_that_is_not_a_docx(home, engine, tmp_path, loaded):
    path = tmp_path / "notice.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    assert "是压缩包，不是 Word 文档" in refused(home, engine, path, loaded)


def test_encrypted_docx(home, engine, tmp_path, loaded):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = build_notice(tmp_path / "plain.docx")
    path = tmp_path / "notice-locked.docx"
    with plain.open("rb") as src, path.open("wb") as out:
        OOXMLFile(src).encrypt("secret", out)
    assert "已设置打开密码（加密）" in refused(home, engine, path, loaded)


@pytest.mark.libreoffice
def test_legacy_doc_without_libreoffice(home, engine, tmp_path, loaded, monkeypatch):
    from mailer.word import pdf

    doc = pdf.convert(build_notice(tmp_path / "src" / "notice.docx"), tmp_path, "doc")
    monkeypatch.setattr(pdf, "find_soffice", lambda *_a: None)
    message = refused(home, engine, doc, loaded)
    assert "是旧版 Word 文档（.doc），无法转换为 .docx" in message
    assert "LibreOffice (soffice) is not installed" in message and "另存为 .docx" in message


def test_no_task_table(home, engine, tmp_path, loaded):
    path = table_docx(tmp_path / "other.docx", ["姓名", "单位", "电话"], [["张三", "一中", "123"]])
    message = refused(home, engine, path, loaded)
    assert message.startswith("文件“other.docx”中未找到附件1任务表")


def test_missing_column_is_named(home, engine, tmp_path, loaded):
    path = table_docx(
        tmp_path / "notice.docx",
        ["序号", "任务名称", "主要内容和关键时间节点计划", "备注"],
        [["1", "任务", "一是3月底前完成。", ""]],
    )
    message = refused(home, engine, path, loaded)
    assert "的任务表（第 1 个表格）缺少“责任股室”列" in message
    assert "缺少“责任股室”列" in message


def test_empty_table(home, engine, tmp_path, loaded):
    path = table_docx(tmp_path / "notice.docx", HEADER, [])
    assert "的任务表只有表头，没有任务行" in refused(home, engine, path, loaded)


def test_every_row_problem_is_listed(home, engine, tmp_path, loaded):
    rows = [
        ["1", "甲", "一是3月底前完成。", "基财股", ""],
        ["一", "乙", "", "基安股", ""],
        ["1", "丙", "", "人事股", ""],
        ["3", "丁", "", "", ""],
    ]
    message = refused(home, engine, table_docx(tmp_path / "notice.docx", HEADER, rows), loaded)
    assert "的任务表有 3 处问题，未导入任何内容" in message
    assert '第 1 个表格第 3 行（序号 一）：序号“一”不是数字' in message
    assert "第 1 个表格第 4 行（序号 1）：序号 1 重复（另见第 1 个表格第 2 行）" in message
    assert "第 1 个表格第 5 行（序号 3）：责任股室为空" in message


def test_no_year_anywhere(home, engine, tmp_path, loaded):
    path = table_docx(
        tmp_path / "tasks.docx", HEADER, [["1", "甲", "", "基财股", ""]], title="重点工作任务一览表"
    )
    assert '的标题“重点工作任务一览表”和文件名中都没有年度' in refused(home, engine, path, loaded)


def test_zip_bomb(home, engine, tmp_path, loaded):
    path = tmp_path / "notice.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document/>" + b" " * (20 * 2**20))
    assert "超过上限" in refused(home, engine, path, loaded)


@pytest.mark.parametrize(("data", "phrase"), [(b"", "是空文件（0 字节）"), (b"%PDF-1.7\n...", "是 PDF 文件")])
def test_empty_and_pdf(home, engine, tmp_path, loaded, data, phrase):
    path = tmp_path / "notice.docx"
    path.write_bytes(data)
    assert phrase in refused(home, engine, path, loaded)


def test_directory_problems_are_all_listed(home, engine, tmp_path, loaded):
    path = build_directory(tmp_path / "名录.xlsx")
    wb = load_workbook(path)
    wb["人员"]["D3"] = "签发人"  # a second signer
    wb["股室"]["F3"] = "王五"  # a leader nobody knows
    wb["股室"]["C4"] = "not-an-address"
    wb["股室"]["B5"] = "督导组"  # an alias 督导室 already has
    wb.save(path)
    message = refused(home, engine, path, loaded)
    assert "4 problem(s) in the directory; nothing imported" in message
    assert "人员: more than one signer (签发人): 林振华、陈志明" in message
    assert "sheet 股室, row 3: 分管负责同志 王五 is not in the 人员 sheet" in message
    assert 'sheet 股室, row 4: "not-an-address" is not an e-mail address' in message
    assert 'sheet 股室, row 7: "督导组" is already used at sheet 股室, row 5' in message


def test_workbook_that_is_neither(home, engine, tmp_path, loaded):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "电话"])
    path = tmp_path / "list.xlsx"
    wb.save(path)
    assert "中既没有任务表" in refused(home, engine, path, loaded)


def test_task_workbook_missing_column(home, engine, tmp_path, loaded):
    path = build_tasks_xlsx(tmp_path / "tasks.xlsx", lead_column=False)
    wb = load_workbook(path)
    wb.active["D2"] = "股室"
    wb.save(path)
    assert "工作表“一览表”的任务表缺少“责任股室”列" in refused(home, engine, path, loaded)


def test_cli_reports_the_error_and_exits_1(home, engine, tmp_path, loaded):
    from click.testing import CliRunner

    from mailer.cli import cli

    bad = tmp_path / "bad.docx"
    bad.write_bytes(io.BytesIO(b"not a document").getvalue())
    good = build_directory(tmp_path / "dir.xlsx")
    result = CliRunner().invoke(cli, ["--home", str(home.home), "import", str(bad), str(good)])
    assert result.exit_code == 1
    assert '文件“bad.docx”是纯文本文件，不是 Word（.docx）或 Excel（.xlsx）文件' in result.output
    assert "dir.xlsx：名录" in result.output and "无变化" in result.output
    assert registry_rows(engine) == loaded
