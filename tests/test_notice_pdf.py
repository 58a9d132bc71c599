"""The consolidated notice converted by a real LibreOffice: fonts embedded, serif body, text findable."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from conftest import IN_CI, has_soffice
from notice_factory import seed_june
from sqlalchemy import select

from mailer.registry.model import Entry, Submission
from mailer.registry.store import atomic
from mailer.render.notice import assemble_notice

pytestmark = [
    pytest.mark.libreoffice,
    pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed"),
]


def pdf_fonts(pdf) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name, type (1–2 words), encoding, emb, sub, uni, object id, generation
        rows.append({"name": parts[0], "emb": parts[-5]})
    return rows


def pdf_text(pdf) -> str:  # type: ignore[no-untyped-def]
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", out)


def test_the_notice_converts_with_embedded_serif_cjk_fonts(home, engine):
    """
    GIVEN the June notice, one report 3,000 characters long
    WHEN  it is assembled with LibreOffice present
    THEN  a PDF lies beside the .docx; every font is embedded; the body's CJK face is one serif face
          (仿宋_GB2312 → Noto Serif CJK), 黑体 headings a sans one; the title, a task name and the end of the
          long report can be found in the text (a row that splits is not cut off)
    """
    with atomic(engine) as s:
        seeded = seed_june(s)
        entry = s.scalars(
            select(Entry)
            .join(Submission)
            .where(Entry.task_id == seeded.tasks[2].id, Submission.state == "approved")
        ).one()
        entry.progress = "推进情况详述。" * 400 + "【报告结尾】"
        s.flush()
        a = assemble_notice(home, s, seeded.june, version=1, issued_on=dt.date(2022, 6, 24))
    assert a.pdf_error is None
    assert a.pdf == a.docx.with_suffix(".pdf") and a.pdf.stat().st_size > 10_000

    fonts = pdf_fonts(a.pdf)
    assert fonts and all(f["emb"] == "yes" for f in fonts)
    base = {re.sub(r"^[A-Z]{6}\+", "", f["name"]) for f in fonts}
    serif = {n for n in base if "SerifCJK" in n}
    assert len(serif) == 1, f"body text in one serif CJK face, got {base}"
    assert any("SansCJK" in n for n in base), "黑体 headings map to a sans face"

    text = pdf_text(a.pdf)
    assert "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报" in text
    assert "增加学位供给" in text
    assert "—1—" in text  # the page number
    assert "【报告结尾】" in text
