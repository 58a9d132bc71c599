"""One light per task, the same everywhere: `duban status --json`, the ledger's period sheet and the
consolidated notice's annex (read back from the .docx), for one period on one day."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn
from notice_factory import bj, seed_june
from openpyxl import load_workbook

from mailer.cli import cli
from mailer.registry.model import Period
from mailer.registry.store import atomic
from mailer.render.ledger import PERIOD_HEADER, write_ledger
from mailer.render.notice import assemble_notice

DAY = dt.date(2022, 6, 24)


def test_status_ledger_and_notice_show_the_same_lights(home, engine, tmp_path, monkeypatch):
    with atomic(engine) as s:
        seeded = seed_june(s)
    # status
    out = CliRunner().invoke(
        cli,
        ["--home", str(home.home), "status", "--period", "2022-06", "--now", "2022-06-24T09:00", "--json"],
    )
    assert out.exit_code == 0, out.output
    status = {t["seq"]: "●" + t["label"] for t in json.loads(out.output)["tasks"]}
    # ledger
    ws = load_workbook(write_ledger(home, engine, now=bj(2022, 6, 24, 9)))["2022年1—6月"]
    col = PERIOD_HEADER.index("亮灯")
    ledger: dict[int, str] = {}
    for row in ws.iter_rows(min_row=2, values_only=True):
        assert ledger.setdefault(row[0], row[col]) == row[col]  # a task led by two offices: one light
    # notice (no LibreOffice needed for the .docx)
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = dataclasses.replace(
        home, service=dataclasses.replace(home.service, libreoffice="no-such-soffice")
    )
    with atomic(engine) as s:
        docx = assemble_notice(settings, s, s.get(Period, seeded.june.id), version=1, issued_on=DAY).docx
    doc = Document(str(docx))
    annex = {int(r.cells[0].text): r.cells[5].text.split("\n")[-1] for r in doc.tables[0].rows[1:]}

    assert status == ledger == annex
    assert sorted(status) == list(range(1, 20))
    assert set(status.values()) == {
        "●红",
        "●黄",
        "●绿",
    }  # the month has all three, so agreeing means something
    assert (status[1], status[9], status[19]) == ("●黄", "●红", "●绿")
    # The annex explains the lights and colours each dot (the label stays black).
    assert any("亮灯情况截至2022年6月24日：●红灯指" in p.text for p in doc.paragraphs)
    dots = [
        r.find(qn("w:rPr") + "/" + qn("w:color")).get(qn("w:val"))
        for r in doc.tables[0]._tbl.iter(qn("w:r"))
        if "".join(t.text or "" for t in r.iter(qn("w:t"))) == "●"
    ]
    assert len(dots) == 19 and set(dots) == {"FF0000", "FFC000", "00B050"}
