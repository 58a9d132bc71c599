"""read_message against mail as Chinese offices' clients really write it (tests/samples/mail/*.eml), plus
built edge cases: encodings, auto-replies and bounces, forwards, TNEF, size caps, hostile file names."""

from __future__ import annotations

import base64
import datetime as dt
import struct
import unicodedata
from email.header import Header
from pathlib import Path

import pytest

from mailer.read.mailread import ReadMessage, decode_header_text, html_to_text, read_message, safe_filename

MAIL = Path(__file__).resolve().parent / "samples" / "mail"
TOKEN = "DB-2206-7KQ3MX2A"
OUR_ID = "<duban.20220610T010000.1a2b3c4d5e6f7a8b@jyj.example.gov.cn>"
DOCX = b"PK\x03\x04" + bytes(range(256)) * 3 + b"PK\x05\x06" + b"\x00" * 18  # ends in NULs, like a zip
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CAP = 20 * 2**20


def read(name: str, **kw: object) -> ReadMessage:
    return read_message((MAIL / name).read_bytes(), max_attachment_bytes=CAP, **kw)  # type: ignore[arg-type]


# -- TNEF (winmail.dat) builder: Outlook's format, enough of it for tnefparse -------------------------------


def _tnef_obj(level: int, attribute: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id (low word name, high word type), length, data, checksum."""
    head = struct.pack("<BHHI", level, attribute & 0xFFFF, attribute >> 16, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def _mapi_unicode(prop_id: int, text: str) -> bytes:
    value = text.encode("utf-16-le") + b"\0\0"
    return (
        struct.pack("<I", 1)
        + struct.pack("<HH", 0x001F, prop_id)
        + struct.pack("<II", 1, len(value))
        + value
        + b"\0" * (-len(value) % 4)
    )


def build_tnef(files: list[tuple[str, str, bytes]], *, body: bytes = b"", codepage: int = 936) -> bytes:
    """A winmail.dat as Chinese Outlook writes it: OEM codepage 936, 8.3 titles in GBK, the long name as a
    Unicode MAPI property (omitted when ``long_name`` is empty), the file in attAttachData.

    :param files: (long_name, short_8_3_name, data) per attachment
    """
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += _tnef_obj(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_obj(1, 0x00069007, struct.pack("<II", codepage, 0))  # attOemCodepage
    out += _tnef_obj(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    if body:
        out += _tnef_obj(1, 0x0002800C, body)  # attBody
    for long_name, short_name, data in files:
        out += _tnef_obj(2, 0x00069002, struct.pack("<HIIIH", 1, 0xFFFFFFFF, 0, 0, 0))  # attAttachRendData
        out += _tnef_obj(2, 0x00018010, short_name.encode("gbk") + b"\0")  # attAttachTitle
        out += _tnef_obj(2, 0x0006800F, data)  # attAttachData
        if long_name:
            out += _tnef_obj(2, 0x00069005, _mapi_unicode(0x3707, long_name))  # attAttachment: long name
    return out


def mime(headers: str, body: str = "", *, parts: list[str] | None = None) -> bytes:
    """A small message from header lines (\\n-separated) and a body or MIME parts."""
    text = headers.strip("\n") + "\n"
    if parts is not None:
        text += 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XX"\n\n'
        text += "".join(f"--XX\n{p.strip(chr(10))}\n" for p in parts) + "--XX--\n"
    else:
        text += "\n" + body
    return text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


# -- the corpus -----------------------------------------------------------------------------------------


def test_outlook_gb2312_reply() -> None:
    """GIVEN Outlook's reply: GB2312-labelled headers and body holding the GBK-only 镕, RFC 2047 names
    WHEN  read
    THEN  everything decodes (镕 is not U+FFFD), the thread headers and the .docx come through intact"""
    m = read("outlook_gb2312_reply.eml")
    assert m.from_addr == "jcg@jyj.example.gov.cn"
    assert m.from_name == "黄镕"
    assert m.to == ["bgs@jyj.example.gov.cn"]
    assert m.subject == f"回复: [{TOKEN}] 请报送2022年1—6月重点工作任务进展情况（基财股）"
    assert m.message_id == "<000001d88052$1a2b3c40$4e81b4c0$@jyj.example.gov.cn>"
    assert m.in_reply_to == OUR_ID and m.references == [OUR_ID]
    assert m.date == dt.datetime(2022, 6, 15, 9, 12, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert "黄镕" in m.text and "-----原始邮件-----" in m.text and "\ufffd" not in m.text
    assert m.text.startswith("局办公室：\n\n  附件是基财股2022年1—6月进展情况表")
    assert "<o:p>" not in m.text and "黄镕" in m.html
    assert [(a.filename, a.content_type, a.from_forward) for a in m.attachments] == [
        ("附件2：2022年1—6月重点工作任务进展情况表（基财股）.docx", DOCX_TYPE, False)
    ]
    assert m.attachments[0].data == DOCX
    assert m.auto is None and m.is_ours is False and m.notes == []


def test_foxmail_gbk_rfc2231_name() -> None:
    m = read("foxmail_gbk_rfc2231.eml")
    assert m.from_name == "基财股 李敏"
    assert m.subject == f"回复：[{TOKEN}] 请报送2022年1—6月重点工作任务进展情况（基财股）"
    assert [a.filename for a in m.attachments] == ["基财股进展情况表（6月）.docx"]
    assert m.attachments[0].data == DOCX
    assert "已按要求填报" in m.text


def test_coremail_utf8() -> None:
    m = read("coremail_utf8.eml")
    assert m.from_addr == "leader@jyj.example.gov.cn" and m.from_name == "李副局长"
    assert m.text == "局办公室：\n\n    同意。\n\n李副局长"
    assert m.in_reply_to == "<duban.20220616T080000.9a8b7c6d5e4f3a2b@jyj.example.gov.cn>"
    assert m.references == [OUR_ID, "<duban.20220616T080000.9a8b7c6d5e4f3a2b@jyj.example.gov.cn>"]
    assert m.subject.startswith(f"Re:[{TOKEN}] 请审核")
    assert [a.filename for a in m.attachments] == ["2022年1—6月重点工作任务进展情况表（基财股）.docx"]


def test_apple_mail_nfd_name_and_quoted_printable() -> None:
    m = read("applemail_nfd_qp.eml")
    name = m.attachments[0].filename
    assert name == "进展情况表（jī cái gǔ）.docx"
    assert unicodedata.is_normalized("NFC", name)
    assert m.text.startswith("局办公室：\n\n附件为修改后的表格，请查收。谢谢！")
    assert m.subject == f"Re: [{TOKEN}] 退回修改：基财股2022年1—6月重点工作任务进展情况（第1版）"
    assert m.from_name == "王芳"


def test_thunderbird_rfc2231_continuations_and_flowed_text() -> None:
    m = read("thunderbird_2231_continuations.eml")
    assert [a.filename for a in m.attachments] == [
        "附件2：台山市教育系统2022年重点工作任务进展情况表（1—6月）（基财股）.docx"
    ]
    assert "局办公室，您好： 附件是按审核意见修改后的第2版表格" in m.text  # soft line breaks undone
    assert "\n-- \n张伟" in m.text  # the signature separator is not a soft break


def test_forward_as_message_rfc822() -> None:
    m = read("forward_rfc822.eml")
    assert m.text == "体卫艺股的表格转给局办公室，请查收。"
    assert [(a.filename, a.from_forward) for a in m.attachments] == [("进展情况表（体卫艺股）.docx", True)]
    assert m.attachments[0].data == DOCX


def test_outlook_tnef_winmail_dat() -> None:
    """GIVEN Outlook's winmail.dat holding a .docx (whose zip ends in NUL bytes)
    WHEN  read
    THEN  the .docx comes out under its long Chinese name, byte for byte"""
    m = read("outlook_tnef.eml")
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("附件2：进展情况表（基财股）.docx", DOCX_TYPE)
    ]
    assert m.attachments[0].data == DOCX
    assert m.text == "请查收附件。"


def test_outlook_out_of_office_is_auto_reply() -> None:
    m = read("ooo_autoreply_zh.eml")
    assert m.auto == "auto_reply"
    assert m.subject.startswith("自动答复: [")
    assert "外出学习" in m.text


def test_dsn_is_bounce_and_its_reports_are_not_attachments() -> None:
    m = read("dsn_bounce.eml")
    assert m.auto == "bounce"
    assert m.from_addr == "mailer-daemon@mail.jyj.example.gov.cn"
    assert m.attachments == []
    assert "could not\nbe delivered" in m.text


def test_raw_8bit_gbk_headers() -> None:
    m = read("raw8bit_gbk_headers.eml")
    assert m.from_name == "安全股" and m.from_addr == "aqg@jyj.example.gov.cn"
    assert m.subject == f"答复：[{TOKEN}] 进展情况表"
    assert [a.filename for a in m.attachments] == ["安全股进展表.docx"]
    assert m.text == "请查收。"


def test_html_only_mail_and_a_path_in_the_file_name() -> None:
    m = read("qq_html_only.eml")
    lines = [line for line in m.text.split("\n") if line.strip()]
    assert lines[:3] == ["退回", "第3项“进展情况”请补充具体数据", "第5项写明完成时间"]
    assert "alert" not in m.text and "margin" not in m.text
    assert [a.filename for a in m.attachments] == ["意见.docx"]


@pytest.mark.parametrize("name", sorted(p.name for p in MAIL.glob("*.eml")))
def test_every_sample_reads_cleanly(name: str) -> None:
    m = read(name)
    assert m.from_addr and m.subject and m.message_id
    assert "\ufffd" not in m.subject + m.from_name + m.text
    for a in m.attachments:
        assert (
            "/" not in a.filename and "\\" not in a.filename and unicodedata.is_normalized("NFC", a.filename)
        )


# -- built edge cases -----------------------------------------------------------------------------------


def test_gbk_character_in_a_gb2312_labelled_word_and_a_character_split_across_words() -> None:
    gbk = base64.b64encode("朱镕基".encode("gbk")).decode()
    assert decode_header_text(f"=?gb2312?B?{gbk}?=") == "朱镕基"
    data = "进展情况".encode()
    split = (
        f"=?utf-8?B?{base64.b64encode(data[:4]).decode()}?= =?utf-8?B?{base64.b64encode(data[4:]).decode()}?="
    )
    assert decode_header_text(split) == "进展情况"
    assert decode_header_text("Re: =?utf-8?q?=E5=90=8C=E6=84=8F?= ok") == "Re: 同意 ok"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied", "auto_reply"),
        ("Auto-Submitted: no", None),
        ("X-Autoreply: yes", "auto_reply"),
        ("X-Autorespond: yes", "auto_reply"),
        ("Precedence: bulk", "auto_reply"),
        ("Precedence: junk", "auto_reply"),
        ("X-Failed-Recipients: aqg@jyj.example.gov.cn", "bounce"),
    ],
)
def test_auto_headers(header: str, expected: str | None) -> None:
    raw = mime(f"From: a@b.cn\nSubject: hello\n{header}", "x\n")
    assert read_message(raw, max_attachment_bytes=CAP).auto == expected


@pytest.mark.parametrize(
    "subject",
    ["自动回复：[DB-2206-7KQ3MX2A] 请报送", "Automatic reply: 请审核", "Out of Office: x", "Auto Reply"],
)
def test_auto_reply_subjects(subject: str) -> None:
    raw = mime(f"From: a@b.cn\nSubject: {Header(subject, 'utf-8').encode()}", "x\n")
    assert read_message(raw, max_attachment_bytes=CAP).auto == "auto_reply"


def test_a_person_replying_is_not_automatic() -> None:
    raw = mime("From: a@b.cn\nSubject: =?utf-8?b?5ZCM5oSP?=\nAuto-Submitted: no", "同意\n")
    m = read_message(raw, max_attachment_bytes=CAP)
    assert m.auto is None and m.text == "同意"


def test_postmaster_needs_a_bounce_subject() -> None:
    plain = mime("From: postmaster@jyj.example.gov.cn\nSubject: hello", "x\n")
    assert read_message(plain, max_attachment_bytes=CAP).auto is None
    bounce = mime(
        "From: postmaster@jyj.example.gov.cn\nSubject: =?utf-8?b?57O757uf6YCA5L+h?=", "x\n"
    )  # 系统退信
    assert read_message(bounce, max_attachment_bytes=CAP).auto == "bounce"


def test_attachments_over_the_cap_are_dropped_with_a_note() -> None:
    small, big = b"s" * 100, b"b" * 5000
    raw = mime(
        "From: a@b.cn\nSubject: x",
        parts=[
            "Content-Type: text/plain; charset=utf-8\n\nhello",
            f'Content-Type: application/pdf; name="small.pdf"\nContent-Transfer-Encoding: base64\n\n{b64(small)}',
            (
                "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment; filename*=utf-8''%E5%A4%A7.docx\n\n{b64(big)}"
            ),
        ],
    )
    m = read_message(raw, max_attachment_bytes=1000)
    assert [a.filename for a in m.attachments] == ["small.pdf"]
    assert len(m.notes) == 1 and "大.docx" in m.notes[0] and "上限" in m.notes[0]


def test_nameless_attachment_gets_a_fallback_name_and_duplicates_are_numbered() -> None:
    part = f"Content-Type: {DOCX_TYPE}\nContent-Transfer-Encoding: base64\n\n{b64(DOCX)}"
    raw = mime("From: a@b.cn\nSubject: x", parts=["Content-Type: text/plain\n\nhi", part, part])
    assert [a.filename for a in read_message(raw, max_attachment_bytes=CAP).attachments] == [
        "附件.docx",
        "附件(2).docx",
    ]


@pytest.mark.parametrize(
    ("raw_name", "expected"),
    [
        ("../../etc/passwd", "passwd.docx"),
        ("C:\\Users\\张三\\桌面\\进展表.docx", "进展表.docx"),
        ("CON.docx", "CON_.docx"),
        ("..", "附件.docx"),
        ("", "附件.docx"),
        ("a:b*c?.docx", "a_b_c_.docx"),
        (".docx", "附件.docx"),
        (".hidden.docx", "hidden.docx"),
        ("进展表", "进展表.docx"),
    ],
)
def test_safe_filename(raw_name: str, expected: str) -> None:
    assert safe_filename(raw_name, DOCX_TYPE) == expected


def test_safe_filename_keeps_the_extension_of_a_very_long_name() -> None:
    name = safe_filename("进展情况" * 100 + ".docx", DOCX_TYPE)
    assert name.endswith(".docx") and len(name.encode()) < 255


def test_base64_encoded_message_rfc822_and_an_eml_attachment_are_opened() -> None:
    inner = mime(
        "From: twy@b.cn\nSubject: inner",
        parts=[f'Content-Type: {DOCX_TYPE}; name="a.docx"\nContent-Transfer-Encoding: base64\n\n{b64(DOCX)}'],
    )
    raw = mime(
        "From: a@b.cn\nSubject: fwd",
        parts=[
            "Content-Type: text/plain\n\nsee below",
            f"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{b64(inner)}",
            'Content-Type: application/octet-stream; name="原邮件.eml"\nContent-Transfer-Encoding: base64\n\n'
            + b64(inner.replace(b"a.docx", b"b.docx")),
        ],
    )
    m = read_message(raw, max_attachment_bytes=CAP)
    assert [(a.filename, a.from_forward, a.data == DOCX) for a in m.attachments] == [
        ("a.docx", True, True),
        ("b.docx", True, True),
    ]
    assert m.text == "see below"


def test_tnef_without_long_name_uses_the_gbk_title_and_broken_tnef_is_kept() -> None:
    tnef = build_tnef([("", "进展表.DOC", b"doc-bytes")])
    raw = mime(
        "From: a@b.cn\nSubject: x",
        parts=[
            "Content-Type: text/plain\n\nhi",
            f"Content-Type: application/ms-tnef\nContent-Transfer-Encoding: base64\n\n{b64(tnef)}",
        ],
    )
    m = read_message(raw, max_attachment_bytes=CAP)
    assert [(a.filename, a.data) for a in m.attachments] == [("进展表.DOC", b"doc-bytes")]

    broken = mime(
        "From: a@b.cn\nSubject: x",
        parts=['Content-Type: application/ms-tnef; name="winmail.dat"\nContent-Transfer-Encoding: base64\n\n'
               + b64(b"not tnef at all")],
    )  # fmt: skip
    m = read_message(broken, max_attachment_bytes=CAP)
    assert [a.filename for a in m.attachments] == ["winmail.dat"]
    assert m.notes and "winmail.dat" in m.notes[0]


def test_missing_and_broken_headers_never_raise() -> None:
    m = read_message(b"this is not a mail at all", max_attachment_bytes=CAP)
    assert m.message_id == "" and m.from_addr == "" and m.date is None
    m = read_message(
        mime("From: a@b.cn\nDate: Tue, 21 Jun 2022 16:20:00 -0000\nSubject: x", "y"), max_attachment_bytes=1
    )
    assert m.date == dt.datetime(2022, 6, 21, 16, 20, tzinfo=dt.UTC)
    m = read_message(mime("From: a@b.cn\nDate: 2022年6月21日\nSubject: x", "y"), max_attachment_bytes=1)
    assert m.date is None


def test_html_to_text() -> None:
    html = "<p>同意<br>李</p><table><tr><td>1</td><td>2</td></tr></table><style>x{}</style>&lt;b&gt;"
    assert html_to_text(html) == "同意\n李\n\n1 2\n\n<b>"


def test_is_ours_needs_our_marker_and_our_address(home) -> None:  # type: ignore[no-untyped-def]
    from mailer.render.compose import build_message, new_message_id

    raw = build_message(
        home, to=["jcg@jyj.example.gov.cn"], subject="测试", text="x", message_id=new_message_id(home)
    )
    own = home.mail.from_address
    assert read_message(raw, max_attachment_bytes=CAP, own_address=own).is_ours is True
    assert read_message(raw, max_attachment_bytes=CAP).is_ours is True  # our X-Mailer marks it
    assert read_message(raw, max_attachment_bytes=CAP, own_address="other@x.cn").is_ours is False
    person = build_message(home, to=["x@y.cn"], subject="s", text="x", message_id=new_message_id(home),
                           auto_submitted=False)  # fmt: skip
    assert read_message(person, max_attachment_bytes=CAP, own_address=own).is_ours is False


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
def test_an_attachment_cut_off_in_transit_decodes_what_arrived_wherever_the_cut_falls(cut: int) -> None:
    """A base64 body cut inside a quartet used to come back still encoded (so a truncated form was called
    "not a Word document" or "damaged" depending on where the cut fell); now always the decoded prefix."""
    from email.message import EmailMessage

    from mailer.read.mailread import read_message

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jcg@example.cn", "bgs@example.cn", "表"
    msg.set_content("见附件")
    payload = b"PK\x03\x04" + bytes(range(256)) * 40
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="表.docx")
    raw = bytes(msg)
    body_end = raw.rindex(b"\n--")  # the closing boundary: cut before it, inside the base64 text
    truncated = raw[: body_end - 2000 - cut]
    (att,) = read_message(truncated, max_attachment_bytes=10**8).attachments
    assert att.data.startswith(b"PK\x03\x04") and payload.startswith(att.data)
