"""Hostile and awkward attachments, built here, each refused with its message (or made safe)."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import msoffcrypto.format.ooxml
import olefile
import pytest
from conftest import IN_CI, has_soffice
from docx import Document
from form_factory import docx_bytes, fill, make_plan, notice_form

from mailer.common.errors import FormParseError, UnsafeAttachment
from mailer.read import safety
from mailer.read.formparse import ParsedForm, parse_form
from mailer.read.safety import display_name, parse_form_bounded, safe_docx
from mailer.registry.model import Office, Plan
from mailer.registry.store import atomic
from mailer.render.forms import render_form
from mailer.word.pdf import convert

MB = 2**20
FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"
ROWS = [["1", "培英职业技术学校新校区建设项目", "", "基财股", "已完成施工招标。", "", ""]]


def _safe(data: bytes, name: str = "进展情况表.docx", **kw) -> bytes:  # type: ignore[no-untyped-def]
    return safe_docx(data, name, max_bytes=kw.pop("max_bytes", 20 * MB), **kw)


def _refusal(data: bytes, name: str = "进展情况表.docx", **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeAttachment) as e:
        _safe(data, name, **kw)
    return str(e.value)


def rezip(data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of the zip ``data`` with some entries replaced and some added (deflated)."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for name, content in add.items():
            dst.writestr(name, content)
    return out.getvalue()


@pytest.fixture(scope="module")
def good() -> bytes:
    return notice_form(ROWS)


def test_a_plain_docx_passes_unchanged(good):
    assert _safe(good) is good


def test_oversize(good):
    assert _refusal(good, max_bytes=1000) == (
        f"附件「进展情况表.docx」有 {len(good) / MB:.1f} MB，超过 0 MB 的上限。请删除表格中的图片或无关内容后重新发送。"
    )
    assert "超过 20 MB" in _refusal(b"x" * (20 * MB + 1))


def test_not_a_zip_nor_a_word_file():
    for data in (b"hello, not a document", b"%PDF-1.7\n..."):  # RTF is converted: test_realforms_files.py
        assert _refusal(data) == f"附件「进展情况表.docx」不是 Word 文档（.docx），无法读取。{FIX}"


def test_a_broken_zip():
    assert _refusal(b"PK\x03\x04" + b"\x00" * 100) == f"附件「进展情况表.docx」已损坏，无法打开。{FIX}"


def test_zip_bomb_by_ratio(good):
    bomb = rezip(good, add={"word/media/image1.png": b"\x00" * (40 * MB)})
    assert len(bomb) < MB
    assert _refusal(bomb) == (
        f"附件「进展情况表.docx」中的 word/media/image1.png 压缩比异常（疑似“压缩炸弹”），为安全起见已拒收。{FIX}"
    )


def test_zip_bomb_by_total_size_and_by_entry_count(good, monkeypatch):
    monkeypatch.setattr(safety, "MAX_TOTAL_BYTES", 200_000)
    big = rezip(good, add={f"word/media/p{i}.png": bytes(range(256)) * 400 for i in range(3)})
    message = _refusal(big)
    assert message.startswith("附件「进展情况表.docx」解压后有 ")
    assert message.endswith(" MB 的上限，已拒收。请删除表格中的图片或无关内容后重新发送。")
    monkeypatch.setattr(safety, "MAX_TOTAL_BYTES", 100 * MB)
    many = rezip(good, add={f"extra/item{i}.xml": b"<a/>" for i in range(2001)})
    assert _refusal(many).startswith("附件「进展情况表.docx」包含 20")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>
<w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"""


def test_billion_laughs_and_any_doctype_are_refused(good):
    message = f"附件「进展情况表.docx」含有不允许的 XML 声明（DOCTYPE/ENTITY），为安全起见已拒收。{FIX}"
    assert _refusal(rezip(good, replace={"word/document.xml": BILLION_LAUGHS})) == message
    utf16 = BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
    assert _refusal(rezip(good, replace={"word/styles.xml": utf16})) == message
    # The parser on its own never expands entities either.
    with pytest.raises(FormParseError):
        parse_form(rezip(good, replace={"word/document.xml": BILLION_LAUGHS}))


def test_a_doctype_is_found_in_any_encoding_and_plain_parts_in_other_encodings_pass(good):
    """The byte search covers UTF-8, UTF-16 and encodings that write ASCII as ASCII; a part in any other
    encoding is parsed whole to look for a DOCTYPE."""
    message = f"附件「进展情况表.docx」含有不允许的 XML 声明（DOCTYPE/ENTITY），为安全起见已拒收。{FIX}"
    for enc in ("UTF-32", "UTF-7"):
        xml = f'<?xml version="1.0" encoding="{enc}"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'.encode(enc)
        assert enc == "UTF-7" or b"<!DOCTYPE" not in xml
        assert _refusal(rezip(good, replace={"word/settings.xml": xml})) == message
    plain = '<?xml version="1.0" encoding="GB18030"?><a>表</a>'.encode("gb18030")
    assert _safe(rezip(good, add={"customXml/item9.xml": plain}))[:2] == b"PK"


def test_macros_are_refused_by_name_by_part_and_by_content_type(good):
    message = (
        "附件「{}」含有宏（.docm 或 VBA 代码），为安全起见已拒收。"
        "请在 Word 或 WPS 中“另存为”不含宏的 Word 文档（.docx）后重新发送。"
    )
    assert _refusal(good, "进展.docm") == message.format("进展.docm")
    assert _refusal(rezip(good, add={"word/vbaProject.bin": b"\x00" * 10})) == message.format("进展情况表.docx")
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        types = z.read("[Content_Types].xml")
    macro_types = types.replace(b"document.main+xml", b"document.macroEnabled.main+xml")
    assert _refusal(rezip(good, replace={"[Content_Types].xml": macro_types})) == message.format("进展情况表.docx")


def test_password_protected_docx_is_refused(good):
    encrypted = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(good)).encrypt("1234", encrypted)
    assert encrypted.getvalue()[:8] == safety.CFB_MAGIC
    assert _refusal(encrypted.getvalue()) == (
        "附件「进展情况表.docx」设置了打开密码，无法读取。"
        "请取消密码（Word：文件→信息→保护文档→用密码进行加密，清空密码；WPS：文件→文档加密→密码加密，清空密码）"
        "后重新发送未加密的文件。"
    )


def test_other_office_files_are_refused():
    import openpyxl

    buf = io.BytesIO()
    openpyxl.Workbook().save(buf)
    assert _refusal(buf.getvalue(), "表.xlsx") == (
        "附件「表.xlsx」不是 Word 文档（可能是 Excel 或 PowerPoint 文件）。请使用下发的 Word 表格填写后发送。"
    )


def test_an_odt_with_basic_macros_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office:document-content/>")
        z.writestr("Basic/Standard/Module1.xml", "<script/>")
    assert "含有宏" in _refusal(buf.getvalue(), "表.odt")


def test_a_file_name_never_becomes_a_path(good):
    assert display_name("../../etc/passwd.docx") == "passwd.docx"
    assert display_name("C:\\Users\\x\\进展\x07.docm") == "进展.docm"
    assert display_name("") == "未命名附件"
    assert "「passwd.docm」" in _refusal(good, "../../etc/passwd.docm")


def test_external_relationships_are_never_fetched(good):
    """
    GIVEN a form whose image and hyperlink point at a listening loopback port (TargetMode="External")
    WHEN  it goes through safe_docx, parse_form and the bounded worker
    THEN  it is accepted and read, and nothing ever connects to the port
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.3)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/tracker.png"
    doc = Document(io.BytesIO(good))
    rid = doc.part.relate_to(url, "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image",
                             is_external=True)
    doc.part.relate_to(url, "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink",
                       is_external=True)
    doc.add_paragraph().add_run()._r.append(_linked_picture(rid))
    data = docx_bytes(doc)
    assert b'TargetMode="External"' in zipfile.ZipFile(io.BytesIO(data)).read("word/_rels/document.xml.rels")
    try:
        assert parse_form(_safe(data)).rows[0].progress == "已完成施工招标。"
        assert parse_form_bounded(data).rows[0].number == 1
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def _linked_picture(rid: str):  # type: ignore[no-untyped-def]
    from docx.oxml import parse_xml

    return parse_xml(
        '<w:drawing xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<wp:inline><wp:extent cx="100" cy="100"/><wp:docPr id="1" name="p"/><a:graphic>'
        '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>'
        '<pic:nvPicPr><pic:cNvPr id="1" name="p"/><pic:cNvPicPr/></pic:nvPicPr>'
        f'<pic:blipFill><a:blip r:link="{rid}"/></pic:blipFill><pic:spPr/></pic:pic></a:graphicData>'
        "</a:graphic></wp:inline></w:drawing>"
    )


# --- the bounded worker ---------------------------------------------------------------------------------


def test_bounded_worker_returns_what_parse_form_returns(good):
    parsed = parse_form_bounded(good)
    assert isinstance(parsed, ParsedForm)
    assert parsed == parse_form(good)


def test_bounded_worker_passes_a_parse_error_through():
    doc = Document()
    doc.add_paragraph("没有表格")
    with pytest.raises(FormParseError, match="没有找到进展情况表"):
        parse_form_bounded(docx_bytes(doc))


def test_bounded_worker_stops_a_file_that_needs_too_much_memory(good):
    """A 28 MB document.xml of empty paragraphs (which the ratio check would refuse first) needs far more
    than 64 MB once parsed: the worker hits its limit and the file is refused."""
    xml = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           + b"<w:p/>" * (28 * MB // 6) + b"</w:body></w:document>")
    bomb = rezip(good, replace={"word/document.xml": xml})
    with pytest.raises(UnsafeAttachment) as e:
        parse_form_bounded(bomb, max_mem_mb=64)
    assert str(e.value) == f"读取附件所需内存超过 64 MB 的上限（文件过大或结构异常），已拒收。{FIX}"


def test_bounded_worker_stops_a_file_that_takes_too_long(good):
    with pytest.raises(UnsafeAttachment) as e:
        parse_form_bounded(good, timeout_s=0.001)
    assert str(e.value) == f"读取附件超过 0.001 秒仍未完成（文件过于复杂或已损坏），已拒收。{FIX}"


# --- legacy .doc -----------------------------------------------------------------------------------------------

needs_lo = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


@pytest.fixture
def legacy_doc(home, engine, tmp_path) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    """A filled form saved as Word 97-2003 (.doc) by LibreOffice."""
    typed = {1: {"progress": "已完成施工招标。\n7月开工。"}, 2: {"progress": "完成80%"}, 3: {"progress": "已拨付"}}
    with atomic(engine) as s:
        ids = make_plan(s)
        form = render_form(home, s, s.get(Plan, ids.plan_id), 2022, 6, s.get(Office, ids.offices["基财股"]))
    src = tmp_path / "filled.docx"
    src.write_bytes(fill(form.path.read_bytes(), typed))
    doc = convert(src, tmp_path / "doc", "doc")
    return doc.read_bytes(), typed


@pytest.mark.libreoffice
@needs_lo
def test_legacy_doc_is_converted_when_libreoffice_is_present_and_refused_when_not(legacy_doc, monkeypatch):
    data, typed = legacy_doc
    assert data[:8] == safety.CFB_MAGIC
    converted = _safe(data, "进展.doc")
    assert converted[:2] == b"PK"
    parsed = parse_form(converted)
    assert sorted((r.number, r.progress) for r in parsed.rows) == [(n, v["progress"]) for n, v in typed.items()]
    assert parsed.office_text == "基财股" and parsed.month == 6

    # A .doc with its fEncrypted bit set is refused before any conversion.
    buf = io.BytesIO(data)
    ole = olefile.OleFileIO(buf, write_mode=True)
    stream = bytearray(ole.openstream("WordDocument").read())
    stream[11] |= 0x01  # flags word at offset 10, bit 0x0100
    ole.write_stream("WordDocument", bytes(stream))
    ole.close()
    assert "设置了打开密码" in _refusal(buf.getvalue(), "进展.doc")

    monkeypatch.setattr("mailer.word.pdf.find_soffice", lambda *_: None)
    assert _refusal(legacy_doc[0], "进展.wps") == f"附件「进展.wps」是旧版 Word/WPS 格式（.wps），本系统无法直接读取。{FIX}"


def test_a_broken_ole_file_is_refused():
    assert _refusal(safety.CFB_MAGIC + b"\x00" * 600, "进展.doc") == f"附件「进展.doc」已损坏，无法打开。{FIX}"


def test_an_unreadable_path_is_never_created(good, tmp_path: Path, monkeypatch):
    """Converting or checking never writes under the sender's name."""
    monkeypatch.chdir(tmp_path)
    _safe(good, "../../escape.docx")
    assert list(tmp_path.iterdir()) == []
