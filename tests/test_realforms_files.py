"""Returned files as they really arrive: saved by LibreOffice as .odt or .rtf, a .doc renamed .docx,
pictures pasted in, ISO Strict OOXML, and hostile ones (a DOCTYPE in core.xml, linked pictures that would
make the service call out). Each goes through safe_docx → parse_form_bounded → check_form, as intake does.

Decisions: .odt and .rtf are converted by LibreOffice like .doc (a LibreOffice user saves .odt by default;
RTF is what many programs call "Word"), and intake takes them (``FORM_SUFFIXES``); the file's kind comes
from its bytes, so a .doc renamed .docx is converted too. Strict OOXML is read by mapping its namespaces to
the transitional ones. A DOCTYPE anywhere is refused.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import IN_CI, has_soffice
from realforms_kit import (
    NUMBERING,
    PROBLEMS,
    PROGRESS,
    Package,
    check,
    messages,
    numbered,
    para,
    render,
    run,
    table,
    w,
)

from mailer.common.errors import UnsafeAttachment
from mailer.read.formparse import parse_form
from mailer.read.safety import parse_form_bounded, safe_docx
from mailer.registry.store import atomic
from mailer.service import intake
from mailer.word.pdf import convert

MB = 2**20
FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"
TYPED = {1: "已完成施工招标。\n6月20日开标。", 2: "桂水分教点基础工程完成80%。", 3: "春季经费已拨付。"}
needs_lo = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


@pytest.fixture
def filled(home, engine) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    """基财股's June form with every task's progress and 填报人 typed in: (bytes, token)."""
    with atomic(engine) as s:
        data, token, _ids = render(home, s)
    pkg = Package(data)
    for seq, text in TYPED.items():
        pkg.set_cell(seq, PROGRESS, *(para(run(line)) for line in text.split("\n")))
    pkg.info_paragraph().findall(w("r"))[1].find(w("t")).text = "填报人：张三"
    return pkg.save(), token


def _intake(home, engine, data: bytes, name: str):  # type: ignore[no-untyped-def]
    """What intake does with an attachment: safe_docx, the bounded parser, then the check for the June mail."""
    safe = safe_docx(data, name, max_bytes=home.mail.max_attachment_bytes, soffice=home.service.libreoffice)
    parsed = parse_form_bounded(safe)
    result = check(engine, home, safe, office="基财股", period=(2022, 6))
    return safe, parsed, result


def _saved_as(data: bytes, target: str, tmp_path: Path) -> bytes:
    src = tmp_path / "filled.docx"
    src.write_bytes(data)
    return convert(src, tmp_path / target, target).read_bytes()


def _accepted(result, token: str) -> None:  # type: ignore[no-untyped-def]
    assert messages(result) == []
    assert {e.seq: e.progress for e in result.entries} == TYPED
    assert (result.token, result.filled_by) == (token, "张三")


def test_intake_takes_odt_and_rtf_attachments():
    assert {".odt", ".rtf", ".doc", ".docx", ".wps"} <= set(intake.FORM_SUFFIXES)


@pytest.mark.libreoffice
@needs_lo
def test_an_odt_saved_by_libreoffice_is_converted_and_read(home, engine, filled, tmp_path):
    """
    GIVEN the filled form saved by LibreOffice as OpenDocument (.odt), its default format
    WHEN  it arrives as 进展情况表.odt
    THEN  it is converted and read like the .docx: the typed text, the token, 填报人
    """
    data, token = filled
    odt = _saved_as(data, "odt", tmp_path)
    assert odt[:2] == b"PK" and b"opendocument.text" in odt[:100]
    safe, parsed, result = _intake(home, engine, odt, "进展情况表.odt")
    assert safe[:2] == b"PK" and parsed.token == token
    _accepted(result, token)


@pytest.mark.libreoffice
@needs_lo
def test_an_rtf_is_converted_and_read(home, engine, filled, tmp_path):
    data, _token = filled
    rtf = _saved_as(data, "rtf", tmp_path)
    assert rtf.startswith(b"{\\rtf")
    _safe, parsed, result = _intake(home, engine, rtf, "进展情况表.doc")  # "Word" exports named .doc
    assert parsed.month == 6 and parsed.office_text == "基财股"
    assert messages(result) == []
    assert {e.seq: e.progress for e in result.entries} == TYPED


@pytest.mark.libreoffice
@needs_lo
def test_a_doc_renamed_docx_is_converted(home, engine, filled, tmp_path):
    """A Word 97-2003 file someone renamed to .docx: its bytes say OLE, so it is converted, not refused."""
    data, _token = filled
    doc = _saved_as(data, "doc", tmp_path)
    _safe, parsed, result = _intake(home, engine, doc, "进展情况表.docx")
    assert (parsed.month, parsed.office_text) == (6, "基财股")
    assert messages(result) == []
    assert {e.seq: e.progress for e in result.entries} == TYPED


@pytest.mark.libreoffice
@needs_lo
def test_a_word_marked_form_resaved_by_libreoffice_reads_the_same(filled, tmp_path):
    """
    GIVEN a form with Word's markup in its cells (tracked changes, a deleted paragraph mark, a HYPERLINK
          field, a Wingdings w:sym, automatic numbering, an emoji as mc:AlternateContent, a pasted table,
          hidden text), opened and saved by a LibreOffice user through .odt and back to .docx
    WHEN  both are parsed
    THEN  they read the same (LibreOffice writes the symbol back as a private-use character in a Wingdings
          run, which reads as the same ✓)
    """
    data, _token = filled
    pkg = Package(data)
    pkg.add_part("word/numbering.xml", NUMBERING,
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml", "numbering")
    pkg.set_cell(1, PROGRESS, para(
        run("已完成"), '<w:del w:id="11" w:author="张三"><w:r><w:delText>部分</w:delText></w:r></w:del>',
        '<w:ins w:id="12" w:author="张三">' + run("全部") + "</w:ins>", run("施工招标，"),
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "http://x.cn/" </w:instrText>'
        '</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>' + run("公告")
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>', '<w:r><w:sym w:font="Wingdings" w:char="F0FC"/></w:r>',
    ), para(run("甲，"), ppr='<w:rPr><w:del w:id="21" w:author="张三"/></w:rPr>'), para(run("乙。")))
    pkg.set_cell(1, PROBLEMS, numbered(2, "用地报批。"), numbered(2, "资金到位。"))
    pkg.set_cell(2, PROGRESS, para(
        run("进展顺利"), '<w:r><mc:AlternateContent><mc:Choice Requires="w16se"><w16se:symEx '
        'w16se:font="Segoe UI Emoji" w16se:char="1F44D"/></mc:Choice><mc:Fallback><w:t>\U0001f44d</w:t>'
        "</mc:Fallback></mc:AlternateContent></w:r>",
    ), table(["学校", "完成率"], ["台城中心小学", "80%"]))
    pkg.set_cell(3, PROGRESS, para(run("已拨付。"), run("（隐藏）", "<w:vanish/>")))
    marked = pkg.save()
    src = tmp_path / "marked.docx"
    src.write_bytes(marked)
    back = convert(convert(src, tmp_path / "odt", "odt"), tmp_path / "back", "docx").read_bytes()
    ours = [(r.number, r.progress, r.problems) for r in parse_form(marked).rows]
    assert ours == [
        (1, "已完成全部施工招标，公告✓\n甲，乙。", "一、用地报批。\n二、资金到位。"),
        (2, "进展顺利\U0001f44d\n学校\t完成率\n台城中心小学\t80%", ""),
        (3, "已拨付。", ""),
    ]
    assert [(r.number, r.progress, r.problems) for r in parse_form(back).rows] == ours


def test_conversion_refused_clearly_without_libreoffice(filled, monkeypatch):
    monkeypatch.setattr("mailer.word.pdf.find_soffice", lambda *_: None)
    rtf = b"{\\rtf1\\ansi\\deff0 {\\fonttbl{\\f0 SimSun;}}\\f0 hello\\par}"
    with pytest.raises(UnsafeAttachment) as e:
        safe_docx(rtf, "进展.rtf", max_bytes=MB)
    assert str(e.value) == f"附件「进展.rtf」是RTF 格式（.rtf），本系统无法直接读取。{FIX}"
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(UnsafeAttachment) as e:
        safe_docx(odt.getvalue(), "进展.odt", max_bytes=MB)
    assert str(e.value) == f"附件「进展.odt」是OpenDocument 格式（.odt），本系统无法直接读取。{FIX}"


# --- hostile links: LibreOffice must not call out while converting ------------------------------------------


def _odt_with_linked_picture(url: str) -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2">'
        "<office:body><office:text><text:p>进展情况表<draw:frame svg:width=\"2cm\" svg:height=\"2cm\">"
        f'<draw:image xlink:href="{url}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>'
        "</draw:frame></text:p></office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return buf.getvalue()


@pytest.mark.libreoffice
@needs_lo
def test_linked_pictures_are_never_fetched_while_converting(tmp_path):
    """
    GIVEN an .odt, and a .doc made from it, whose picture is linked to a listening loopback port (LibreOffice
          fetches such a picture when it opens the file: a hostile attachment could make the service call
          any address)
    WHEN  each goes through safe_docx
    THEN  it is converted, and nothing ever connects to the port
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound, not yet listening: making the .doc below is refused a connection
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/tracker.png"
    odt = _odt_with_linked_picture(url)
    (tmp_path / "linked.odt").write_bytes(odt)
    doc = convert(tmp_path / "linked.odt", tmp_path / "doc", "doc").read_bytes()
    listener.listen(8)
    listener.settimeout(0.5)
    try:
        for data, name in ((odt, "进展.odt"), (doc, "进展.doc")):
            converted = safe_docx(data, name, max_bytes=MB)
            assert "进展情况表" in "".join(p for p in _texts(converted))
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def _texts(docx: bytes) -> list[str]:
    from lxml import etree

    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml"))
    return ["".join(p.itertext()) for p in root.iter(w("p"))]


# --- pictures, DOCTYPE, Strict ---------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A PNG of random pixels (as incompressible as a photo)."""
    raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def test_a_form_with_a_large_photo_pasted_in_passes(home, engine, filled):
    """
    GIVEN the filled form with a 6 MB site photo pasted into 进展情况 (and a small one below the table)
    WHEN  it goes through intake
    THEN  it passes the limits (20 MB per attachment) and reads the typed text; the photos add no text
    """
    from docx import Document

    data, token = filled
    doc = Document(io.BytesIO(data))
    table = next(t for t in doc.tables if t.rows[0].cells[0].text.strip() == "编号")
    cell = table.rows[1].cells[PROGRESS]
    cell.paragraphs[-1].add_run().add_picture(io.BytesIO(_png(1500, 1400)))
    doc.add_paragraph().add_run().add_picture(io.BytesIO(_png(64, 64)))
    out = io.BytesIO()
    doc.save(out)
    big = out.getvalue()
    assert 6 * MB < len(big) < 20 * MB
    safe, _parsed, result = _intake(home, engine, big, "进展情况表（附现场照片）.docx")
    assert safe is big
    _accepted(result, token)


def test_a_doctype_in_core_properties_is_refused(filled):
    data, _ = filled
    pkg = Package(data)
    core = pkg.parts["docProps/core.xml"]
    pkg.parts["docProps/core.xml"] = core.replace(b"?>", b'?>\n<!DOCTYPE cp:coreProperties [<!ENTITY x "x">]>', 1)
    with pytest.raises(UnsafeAttachment) as e:
        safe_docx(pkg.save(), "进展情况表.docx", max_bytes=20 * MB)
    assert str(e.value) == f"附件「进展情况表.docx」含有不允许的 XML 声明（DOCTYPE/ENTITY），为安全起见已拒收。{FIX}"


STRICT = (
    (b"http://schemas.openxmlformats.org/wordprocessingml/2006/main", b"http://purl.oclc.org/ooxml/wordprocessingml/main"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
     b"http://purl.oclc.org/ooxml/officeDocument/relationships"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties",
     b"http://purl.oclc.org/ooxml/officeDocument/customProperties"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
     b"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
     b"http://purl.oclc.org/ooxml/officeDocument/extendedProperties"),
    (b"http://schemas.openxmlformats.org/drawingml/2006/main", b"http://purl.oclc.org/ooxml/drawingml/main"),
    (b"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
     b"http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing"),
)


def _strict(data: bytes) -> bytes:
    """The same document as Word writes it with "Strict Open XML Document (*.docx)": every part in the ISO
    29500 Strict namespaces, relationship types included ("…/relationships/customProperties")."""
    pkg = Package(data)
    for name, content in pkg.parts.items():
        if name.endswith((".xml", ".rels")):
            for transitional, strict in STRICT:
                content = content.replace(transitional, strict)
            content = content.replace(b"/relationships/custom-properties", b"/relationships/customProperties")
            pkg.parts[name] = content
    return pkg.save()


def test_strict_ooxml_is_read_like_transitional(home, engine, filled):
    """
    GIVEN the filled form saved as Strict Open XML (namespaces http://purl.oclc.org/ooxml/…)
    WHEN  it goes through intake
    THEN  it is read exactly like the transitional file: rows, 填报人, and the token from the custom property
    """
    data, token = filled
    strict = _strict(data)
    assert b"purl.oclc.org/ooxml/wordprocessingml/main" in zipfile.ZipFile(io.BytesIO(strict)).read("word/document.xml")
    _safe, parsed, result = _intake(home, engine, strict, "进展情况表.docx")
    assert (parsed.token, parsed.token_source) == (token, "custom_property")
    assert parse_form(strict) == parse_form(data)
    _accepted(result, token)


def test_every_libreoffice_run_has_no_way_out_to_the_network(monkeypatch, tmp_path):
    """pdf.convert (used for attachments and for our own PDFs) starts LibreOffice with every proxy variable
    pointing at a closed loopback port and no proxy exceptions."""
    import subprocess

    from mailer.word import pdf

    seen: list[dict[str, str]] = []

    class Stop(Exception):
        pass

    real_popen = subprocess.Popen

    def capture(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        if args[0][0] != "/usr/bin/true":  # type: ignore[index]
            return real_popen(*args, **kwargs)  # type: ignore[arg-type]  # fc-list for the fontconfig file
        seen.append(dict(kwargs["env"]))  # type: ignore[call-overload]
        raise Stop

    monkeypatch.setattr(pdf, "find_soffice", lambda _name="soffice": "/usr/bin/true")
    monkeypatch.setattr(pdf.subprocess, "Popen", capture)
    src = tmp_path / "a.rtf"
    src.write_bytes(b"{\\rtf1 x}")
    with pytest.raises(Stop):
        pdf.convert(src, tmp_path / "out", "docx")
    env = seen[0]
    for var in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        assert env[var] == "http://127.0.0.1:9"
    assert env["no_proxy"] == env["NO_PROXY"] == ""


@pytest.mark.libreoffice
@needs_lo
def test_forms_check_reads_an_odt(home, filled, tmp_path):
    """`duban forms check 进展情况表.odt --json`: what duban reads from an .odt, as from the .docx."""
    import json

    from click.testing import CliRunner

    from mailer.cli import cli

    data, token = filled
    path = tmp_path / "进展情况表.odt"
    path.write_bytes(_saved_as(data, "odt", tmp_path))
    result = CliRunner().invoke(cli, ["--home", str(home.home), "forms", "check", str(path), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["office"], report["period"], report["token"], report["ok"]) == ("基财股", "2022-06", token, True)
    assert {t["seq"]: t["progress"] for t in report["tasks"]} == TYPED
