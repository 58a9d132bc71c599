"""mailer/word/pdf.py: LibreOffice conversions in parallel, on timeout, and on files that are not documents."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import IN_CI, has_soffice
from docx import Document

from mailer.common.errors import ConversionError
from mailer.word.pdf import convert

needs_soffice = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


def small_docx(path: Path, text: str) -> Path:
    doc = Document()
    doc.add_paragraph(text)
    doc.save(str(path))
    return path


@pytest.mark.libreoffice
@needs_soffice
def test_four_conversions_in_parallel_all_succeed(tmp_path):
    """Each conversion has its own profile, so parallel runs do not fail with rc=1 and no output."""
    sources = [small_docx(tmp_path / f"通报{i}.docx", f"第{i}份：台山市教育局") for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        pdfs = list(pool.map(lambda src: convert(src, tmp_path / "out", "pdf", timeout=120), sources))
    assert [p.name for p in pdfs] == [f"通报{i}.pdf" for i in range(4)]
    for i, pdf in enumerate(pdfs):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert f"第{i}份" in "".join(text.split())


def _alive(pids: list[int]) -> list[int]:
    """PIDs still running (zombies, which only wait to be reaped, do not count)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    """
    GIVEN an "soffice" that starts a child (as soffice → oosplash → soffice.bin does) and hangs
    WHEN  the conversion times out
    THEN  ConversionError says so, and the hung process and its child are both gone
    """
    pids = tmp_path / "pids"
    fake = tmp_path / "fake-soffice"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pids}\nwait\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    src = small_docx(tmp_path / "a.docx", "x")
    started = time.monotonic()
    with pytest.raises(ConversionError, match="longer than 1s"):
        convert(src, tmp_path / "out", "pdf", soffice=str(fake), timeout=1)
    assert time.monotonic() - started < 10
    procs = [int(p) for p in pids.read_text().split()]
    assert len(procs) == 2
    deadline = time.monotonic() + 5
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(procs) == []
    assert not (tmp_path / "out" / "a.pdf").exists()


def test_a_text_file_named_docx_is_refused(tmp_path):
    """LibreOffice would 'convert' it as plain text with rc=0; convert() refuses before starting it."""
    bad = tmp_path / "bad.docx"
    bad.write_text("just some text, not a document\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"bad\.docx is not an Office Open XML file"):
        convert(bad, tmp_path / "out", "pdf")
    assert not (tmp_path / "out").exists()


@pytest.mark.libreoffice
@needs_soffice
def test_a_zip_that_is_no_word_package_fails_clearly(tmp_path):
    """It passes the zip check; LibreOffice cannot load it and writes nothing, which convert() reports."""
    bad = tmp_path / "broken.docx"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("hello.txt", "not a document")
    with pytest.raises(ConversionError, match=r"could not convert broken\.docx to pdf"):
        convert(bad, tmp_path / "out", "pdf", timeout=120)
    assert not (tmp_path / "out" / "broken.pdf").exists()


def test_missing_soffice_is_a_clear_conversion_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    src = small_docx(tmp_path / "a.docx", "x")
    with pytest.raises(ConversionError, match="LibreOffice"):
        convert(src, tmp_path / "out", "pdf", soffice="no-such-soffice")
    assert os.environ["PATH"] == str(tmp_path)
