"""A long notice converted in parts at once (mailer/word/docxparts.py, mailer/word/pdfparallel.py): the parts
hold the document's rows once each, in order, with its sections' footers; the joined PDF is the one that
converting the document whole gives, page for page, numbers in the footers running on across the parts;
when a part fails there is no PDF at all."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import IN_CI, has_soffice
from docx import Document
from lxml import etree
from notice_factory import seed_june

from mailer.common.config import Settings
from mailer.common.templates import template_path
from mailer.registry.store import atomic
from mailer.render import notice
from mailer.render.notice import TEMPLATE_NAME, render_notice
from mailer.render.notice_data import notice_data
from mailer.word import docxparts, pdfkeeper, pdfparallel

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
ROWS = 400


@pytest.fixture
def long_notice(home: Settings, engine, tmp_path: Path, monkeypatch) -> Path:
    """A notice of 400 rows marked for a new part every 100 rows (the shipped figures are 2,500 rows above
    3,000: the same code, a document LibreOffice converts in seconds)."""
    monkeypatch.setattr(notice, "PART_ROWS", 100)
    monkeypatch.setattr(notice, "PARTS_MIN_ROWS", 0)
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    rows = tuple(dataclasses.replace(data.rows[i % 19], seq=i + 1, name=f"任务第{i + 1}行")
                 for i in range(ROWS))
    data = dataclasses.replace(data, rows=rows)
    return render_notice(template_path(home.templates, TEMPLATE_NAME), data, tmp_path / "通报.docx",
                         issuer="局办公室", issued_on=data.due_on)


def test_parts_hold_the_rows_once_in_order_with_the_footers(long_notice: Path, tmp_path: Path):
    with zipfile.ZipFile(long_notice) as z:
        assert docxparts.part_starts(z.read("word/document.xml")) == 3
    parts = docxparts.split(long_notice, tmp_path / "parts", 1 << 30)
    assert len(parts) == 4
    seqs: list[str] = []
    for k, part in enumerate(parts):
        doc = Document(str(part))  # a valid package python-docx opens
        body = list(doc.element.body)
        # Every part after the first starts with its page-breaking marked paragraph.
        if k:
            assert body[0].tag == f"{_W}p" and body[0].find(f"{_W}pPr/{_W}pageBreakBefore") is not None
        # Every section names the default and even footers (the annex's inherit them in the document).
        for sect in doc.element.body.iter(f"{_W}sectPr"):
            kinds = {ref.get(f"{_W}type") for ref in sect.iter(f"{_W}footerReference")}
            assert kinds >= {"default", "even"}
        seqs += [t.rows[i].cells[0].text for t in doc.tables if t.rows[0].cells[0].text == "编号"
                 for i in range(1, len(t.rows))]
    assert seqs == [str(i) for i in range(1, ROWS + 1)]
    # The first part has the notice's body, the last its 版记; the parts in between neither.
    texts = ["".join(etree.fromstring(zipfile.ZipFile(p).read("word/document.xml")).itertext()) for p in parts]
    assert "附件" in texts[0] and all("附件" not in t for t in texts[1:])
    record = "局办公室2022年6月20日印发"  # the 版记
    assert record in texts[-1] and all(record not in t for t in texts[:-1])


def test_documents_whose_numbers_could_not_run_on_are_not_split(long_notice: Path, tmp_path: Path):
    """A section restarting its page numbers, or footnotes (numbered per document), would print other
    numbers in parts than whole: such a document is converted whole."""
    with zipfile.ZipFile(long_notice) as z:
        files = {name: z.read(name) for name in z.namelist()}
    xml = files["word/document.xml"].decode()
    last = xml.rindex("<w:sectPr")
    for changed in (xml[:last] + xml[last:].replace("<w:pgSz", '<w:pgNumType w:start="1"/><w:pgSz', 1),
                    xml.replace("<w:t>附件</w:t>", '<w:t>附件</w:t></w:r><w:r><w:footnoteReference w:id="1"/>')):
        assert changed != xml
        src = tmp_path / "changed.docx"
        with zipfile.ZipFile(src, "w") as z:
            for name, data in files.items():
                z.writestr(name, changed.encode() if name == "word/document.xml" else data)
        with pytest.raises(docxparts.PartsError):
            docxparts.split(src, tmp_path / "parts", 2)


def _pages(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    return out.split("\f")[:-1]


def _footer(page: str) -> str:
    return [line for line in page.splitlines() if line.strip()][-1]


needs_soffice = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


@pytest.mark.libreoffice
@needs_soffice
def test_joined_parts_are_the_whole_conversion_page_for_page(long_notice: Path, tmp_path: Path):
    whole = pdfparallel.convert_long(long_notice, tmp_path / "whole", parts=1, timeout=300)
    office = pdfkeeper.kept_office()
    assert office is not None, "no Python with uno: tests/setup.sh installs python3-uno"
    # Two LibreOffices for four parts: each takes the next part in order.
    joined = pdfparallel.convert_long(long_notice, tmp_path / "joined", parts=2, timeout=300)
    second = [o for p, o in pdfkeeper._kept.items() if p[1:] == (os.getpid(), 1)]
    assert second, "a second instance was used"
    # ... and stopped afterwards: the service keeps one LibreOffice idle, not one per CPU.
    assert second[0].proc is None and office.alive()
    a, b = _pages(whole), _pages(joined)
    assert len(a) == len(b) > 4 * 20
    # The same text on every page, laid out alike: rows, headers, footers (an even page's number on the
    # left, an odd one's on the right, as -layout keeps their positions).
    assert a == b
    numbered = [(i, m.group(1)) for i, page in enumerate(b) if (m := re.search(r"—\s*(\d+)\s*—\s*$", page))]
    assert len(numbered) >= len(b) - 2  # all but the 版记's page
    assert all(int(n) == i + 1 for i, n in numbered), "page numbers run on across the parts"
    # Across the first cut: the part's last page and the next part's first, numbered on.
    parts = docxparts.split(long_notice, tmp_path / "parts", 1 << 30)
    first_part_pages = len(_pages(pdfparallel.convert_long(parts[0], tmp_path / "p0", parts=1, timeout=300)))
    for i in (first_part_pages - 1, first_part_pages):
        assert _footer(b[i]).strip() == f"— {i + 1} —"
    flat = re.sub(r"\s+", "", "".join(b))
    assert "任务第1行" in flat and f"任务第{ROWS}行" in flat and flat.index("任务第1行") < flat.index(f"任务第{ROWS}行")


@pytest.mark.libreoffice
@needs_soffice
def test_a_failed_part_leaves_no_pdf(home: Settings, long_notice: Path, monkeypatch):
    real_split = pdfparallel.split

    def broken(src: Path, out_dir: Path, parts: int) -> list[Path]:
        made = real_split(src, out_dir, parts)
        made[2].unlink()  # LibreOffice cannot open the third part
        return made

    monkeypatch.setattr(pdfparallel, "split", broken)
    settings = dataclasses.replace(home, service=dataclasses.replace(home.service, pdf_parts=2))
    pdf, error = notice._pdf(settings, long_notice)
    assert pdf is None and error is not None and "part-2" in error
    assert not long_notice.with_suffix(".pdf").exists() and long_notice.exists()
    assert not list(long_notice.parent.glob("*.part")), "no half-written PDF"
    # The instances are usable again: the next conversion gives the PDF.
    monkeypatch.setattr(pdfparallel, "split", real_split)
    pdf, error = notice._pdf(settings, long_notice)
    assert error is None and pdf is not None and len(_pages(pdf)) > 4 * 20
