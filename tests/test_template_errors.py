"""A broken template ends in a clean error naming the file and the fix (issue 8.7), never a traceback: in
`duban check`, and at run time, where the tick records the failure, goes on with the rest, and `duban run
--once` prints "错误：…" and exits 1; once the file is fixed the next run does the step."""

from __future__ import annotations

import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Event
from mailer.registry.store import atomic, open_registry
from mailer.service.checks import check_templates
from mailer.service.demo import EXAMPLES

GARBAGE_FORM = (
    "模板 templates/progress_form.docx 不是有效的 Word .docx 文件（可能已损坏，或是改了扩展名的 .doc）。"
    "请用 Word 或 WPS 打开该文件后“另存为” .docx（Word 文档），或删除该文件以使用系统自带的模板。"
)


@pytest.fixture
def month(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    return home, engine


def _run(home, when: str = "2022-06-10T09:00"):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.home), "run", "--once", "--now", when])


def _edit_docx(path, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    xml = parts["word/document.xml"].decode()
    assert old in xml
    parts["word/document.xml"] = xml.replace(old, new, 1).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)


def test_check_names_a_garbage_word_template_a_broken_tag_and_a_mail_template_syntax_error(home):
    (home.templates / "progress_form.docx").write_bytes(b"not a word file")
    _edit_docx(home.templates / "consolidated_notice.docx", "{{ issuer }}", "{{ issuer }")
    (home.templates / "mail" / "receipt.txt").write_text("Subject: 回执\n\n{% if late %}逾期\n", encoding="utf-8")
    messages = [p.message for p in check_templates(home)]
    assert messages[0] == GARBAGE_FORM
    assert messages[1].startswith("模板 templates/consolidated_notice.docx 中的标签有误")
    assert messages[1].endswith("请检查 {{ }} 和 {% %} 标签是否成对、拼写正确（可对照系统自带的模板），改好后保存为 .docx。")
    assert messages[2].startswith("邮件模板 templates/mail/receipt.txt 第 3 行有语法错误：")
    assert "请检查 {{ }} 和 {% %} 标签是否成对" in messages[2] and len(messages) == 3


def test_a_garbage_form_template_stops_the_send_day_cleanly_and_the_fixed_one_goes_out(month):
    """
    GIVEN the bureau's templates/progress_form.docx replaced by garbage
    WHEN  `duban run --once` runs on the send day, twice
    THEN  it prints "错误：2022-06：<the message>" and exits 1, with no traceback; one event records it;
          nothing was queued; after the file is removed (the shipped template is used) the forms go out
    """
    home, engine = month
    (home.templates / "progress_form.docx").write_bytes(b"PK\x03\x04 garbage")
    for _ in range(2):
        result = _run(home)
        assert result.exit_code == 1
        assert result.output.strip().endswith(f"错误：2022-06：{GARBAGE_FORM}")
        assert "Traceback" not in result.output and not isinstance(result.exception, zipfile.BadZipFile)
    with atomic(engine) as s:
        events = s.scalars(select(Event).where(Event.kind == "step_failed")).all()
        assert [e.detail for e in events] == [f"2022-06：{GARBAGE_FORM}"]
        assert s.scalars(select(Dispatch)).all() == []
    (home.templates / "progress_form.docx").unlink()
    result = _run(home, "2022-06-10T10:00")
    assert result.exit_code == 0, result.output
    with atomic(engine) as s:
        assert len(s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()) == 10


def test_a_mail_template_with_a_syntax_error_stops_cleanly_naming_the_file_and_line(month):
    home, engine = month
    (home.templates / "mail" / "form.txt").write_text("Subject: {{ office }\n正文\n", encoding="utf-8")
    result = _run(home)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "错误：2022-06：邮件模板 templates/mail/form.txt 第 1 行有语法错误：" in result.output
    with atomic(engine) as s:
        assert s.scalars(select(Dispatch)).all() == []


def test_a_notice_template_with_a_broken_tag_is_recorded_when_the_draft_is_due(month):
    """The assembly step fails cleanly (the period stays collecting), the forms' step before it is kept."""
    home, engine = month
    _edit_docx(home.templates / "consolidated_notice.docx", "{{ issuer }}", "{% if %}")
    assert _run(home).exit_code == 0
    # Nobody reported, so the tick holds the period for the clerk (no empty sign-off); the clerk's
    # `assemble --force` is where the draft is made, and fails cleanly.
    assert _run(home, "2022-06-29T09:00").exit_code == 0
    result = CliRunner().invoke(cli, ["--home", str(home.home), "assemble", "--period", "2022-06", "--force"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "模板 templates/consolidated_notice.docx 中的标签有误" in result.output
    with atomic(engine) as s:
        assert s.scalars(select(Dispatch).where(Dispatch.kind == "signoff_request")).first() is None
        assert len(s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()) == 10
