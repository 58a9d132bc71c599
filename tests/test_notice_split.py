"""The annex split into tables of ANNEX_CHUNK rows (mailer/render/notice.py) and the kept LibreOffice that converts
the notice (mailer/word/pdfkeeper.py): same rows in order, header on every table, one soffice reused and
replaced when it dies."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import IN_CI, has_soffice
from docx import Document
from notice_factory import seed_june

from mailer.common.config import Settings
from mailer.common.templates import template_path
from mailer.registry.store import atomic
from mailer.render import notice
from mailer.render.notice import TEMPLATE_NAME, render_notice, row_values
from mailer.render.notice_data import notice_data
from mailer.word import pdfkeeper

HEADER = ["编号", "项目名称", "责任股室", "进展情况", "存在问题和下一步工作计划", "报送情况", "节点情况"]
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def test_split_annex_reads_back_as_the_same_rows_in_order(home: Settings, engine, tmp_path: Path):
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    # 19 seed rows repeated to 250, numbered on: three tables of 100, 100 and 50 rows.
    rows = tuple(dataclasses.replace(data.rows[i % 19], seq=i + 1) for i in range(250))
    data = dataclasses.replace(data, rows=rows)
    out = render_notice(template_path(home.templates, TEMPLATE_NAME), data, tmp_path / "n.docx",
                        issuer="局办公室", issued_on=data.due_on)
    doc = Document(str(out))
    annex = [t for t in doc.tables if [c.text for c in t.rows[0].cells] == HEADER]
    assert [len(t.rows) - 1 for t in annex] == [100, 100, 50] and notice.ANNEX_CHUNK == 100
    got = [[c.text for c in r.cells] for t in annex for r in t.rows[1:]]
    want = [[v[f] for f in ("seq", "name", "leads", "progress", "problems", "status", "milestones")]
            for v in row_values(data)]
    assert got == want
    for t in annex:  # the header row repeats on every page of every table
        tr_pr = t.rows[0]._tr.find(f"{_W}trPr")
        assert tr_pr is not None and tr_pr.find(f"{_W}tblHeader") is not None
    # Between the tables: one empty paragraph a twentieth of a point high (no visible gap), nothing else.
    body = list(doc.element.body)
    for a, b in itertools.pairwise(annex):
        between = body[body.index(a._tbl) + 1 : body.index(b._tbl)]
        assert len(between) == 1 and between[0].tag == f"{_W}p" and "".join(between[0].itertext()) == ""
        assert between[0].find(f"{_W}pPr/{_W}spacing").get(f"{_W}line") == "20"


needs_soffice = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


@pytest.mark.libreoffice
@needs_soffice
def test_the_kept_office_is_reused_and_replaced_when_killed(tmp_path: Path):
    def source(i: int) -> Path:
        doc = Document()
        doc.add_paragraph(f"第{i}份通报")
        doc.save(str(tmp_path / f"通报{i}.docx"))
        return tmp_path / f"通报{i}.docx"

    def text(pdf: Path) -> str:
        return "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                      check=True).stdout.split())

    pdfkeeper.stop_all()
    try:
        first = pdfkeeper.convert_own(source(1), tmp_path / "out", "pdf", timeout=120)
        office = pdfkeeper.kept_office()
        assert office is not None, "no Python with uno: tests/setup.sh installs python3-uno"
        pid = office.pid
        second = pdfkeeper.convert_own(source(2), tmp_path / "out", "pdf", timeout=120)
        assert office.pid == pid  # the same soffice converted both
        assert (first.name, "第1份通报") == ("通报1.pdf", text(first)) and "第2份通报" in text(second)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        third = pdfkeeper.convert_own(source(3), tmp_path / "out", "pdf", timeout=120)
        assert "第3份通报" in text(third)
        assert office.pid is not None and office.pid != pid
    finally:
        pdfkeeper.stop_all()
