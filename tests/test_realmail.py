"""Mail as real clients write it, fed end to end through intake (``poll`` over the folder mailbox).

Every message here is written byte for byte the way its client writes it — Outlook (GB2312-labelled cp936,
multipart/alternative, RFC 2047 names in ``name=`` only, winmail.dat), Foxmail (GBK, RFC 2231), QQ and
Coremail web mail (HTML only, application/octet-stream), WPS, Apple Mail (NFD names, quoted-printable,
HTML only), Thunderbird (RFC 2231 continuations, format=flowed), forwards, Exchange auto-replies, read
receipts and bounces — by hand, because the stdlib's MIME classes would normalise exactly the details
that break intake. Each test asserts what a person at the bureau would expect: the right submission or
decision, the right answer (or none), nothing quarantined that should not be, nothing lost.
"""

from __future__ import annotations

import base64
import quopri
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, func, select

from mailer.common.config import Settings
from mailer.read.mailread import read_message
from mailer.registry.model import Approval, Dispatch, InboundMessage, Submission
from mailer.registry.store import atomic
from mailer.service.cycle import run_once
from mailer.service.demo import at, fill_form
from mailer.service.intake import PollReport
from mailer.transport.base import open_transport
from tests.test_intake import _submit_and_request, drop, form_dispatch, sent, take, the_form
from tests.test_mailread import build_tnef

__all__ = ["sent"]  # the fixture, re-exported for pytest

BUREAU = "bgs@jyj.example.gov.cn"
JCG, RSG, JAG = "jcg@jyj.example.gov.cn", "rsg@jyj.example.gov.cn", "jag@jyj.example.gov.cn"
CHENZM = "chenzm@jyj.example.gov.cn"  # leads 基财股 and 基安股
LEADERS = {"基财股": CHENZM, "基安股": CHENZM, "人事股": "lianggd@jyj.example.gov.cn"}
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# -- writing raw MIME by hand ---------------------------------------------------------------------------
# "gb2312" in a Windows client's label means cp936 (GBK) bytes: Outlook and Foxmail encode with the
# system code page whatever the label says, so 镕 or — arrive under a gb2312 label.
CP936 = "gbk"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def qp(text: str, codec: str = "utf-8") -> str:
    return quopri.encodestring(text.encode(codec)).decode("ascii")


def words(text: str, charset: str, codec: str | None = None, *, chars: int = 12, fold: str = "\n\t") -> str:
    """RFC 2047 B-words of at most ``chars`` characters each (split on characters, as Outlook does)."""
    codec = codec or charset
    chunks = [text[i : i + chars] for i in range(0, len(text), chars)]
    return fold.join(f"=?{charset}?B?{base64.b64encode(c.encode(codec)).decode()}?=" for c in chunks)


def pct(text: str, codec: str) -> str:
    return urllib.parse.quote(text.encode(codec), safe="")


def part(headers: str, body: str) -> str:
    return headers.strip("\n") + "\n\n" + body


def multipart(subtype: str, boundary: str, *parts: str, preamble: str = "") -> str:
    out = f'Content-Type: multipart/{subtype};\n\tboundary="{boundary}"\n\n{preamble}'
    for p in parts:
        out += f"\n--{boundary}\n{p.rstrip(chr(10))}\n"
    return out + f"\n--{boundary}--\n"


def message(headers: str, body: str, *, raw8: str | None = None) -> bytes:
    """Top-level headers plus a part (whose own headers become the message's); CRLF line ends.

    :param raw8: the codec of raw 8-bit text in the message (headers or bodies sent without encoding)
    """
    text = headers.strip("\n") + "\n" + body
    return text.replace("\n", "\r\n").encode(raw8 or "ascii")


def date(day: int, hour: int = 10, minute: int = 0) -> str:
    """A June 2022 Date header, China time, as clients write it."""
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[at(day).weekday()]
    return f"{weekday}, {day} Jun 2022 {hour:02d}:{minute:02d}:05 +0800"


# -- the situation ----------------------------------------------------------------------------------------


@dataclass
class FormMail:
    """What an office answers: our form mail, and the filled form it sends back."""

    dispatch: Dispatch
    token: str
    filename: str
    filled: bytes
    text: str  # our form mail's text, as a client quotes it
    html: str


def form_mail(settings: Settings, engine: Engine, office: str) -> FormMail:
    d = form_dispatch(engine, office)
    name, data = the_form(settings, d)
    ours = read_message(settings.path(d.eml_path).read_bytes(), max_attachment_bytes=10**8)
    return FormMail(d, d.token, name, fill_form(data), ours.text, inner_html(ours.html))


def inner_html(html: str) -> str:
    """What a client embeds when it quotes an HTML message: the inside of its <body>."""
    m = re.search(r"<body[^>]*>(.*)</body>", html, re.DOTALL | re.IGNORECASE)
    return m.group(1) if m else html


def request_mail(settings: Settings, req: Dispatch) -> tuple[str, str]:
    """The text and the inner HTML of a mail we sent, as a client quotes them."""
    ours = read_message(settings.path(req.eml_path).read_bytes(), max_attachment_bytes=10**8)
    return ours.text, inner_html(ours.html)


def feed(settings: Settings, engine: Engine, name: str, raw: bytes, day: int = 13) -> PollReport:
    """Drop one message into the mailbox and poll; it must be taken in, never fail."""
    drop(settings, name, raw)
    report = take(settings, engine, day=day)
    assert report.failed == 0 and report.taken == 1, report
    return report


def newest_row(engine: Engine) -> InboundMessage:
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row is not None
        return row


def dispatches(engine: Engine, kind: str) -> list[Dispatch]:
    with atomic(engine) as s:
        return list(s.scalars(select(Dispatch).where(Dispatch.kind == kind).order_by(Dispatch.id)))


def assert_submitted(
    settings: Settings, engine: Engine, office: str, sender: str, matched_by: str, entries: int = 3
) -> None:
    """The office's form became a valid report: receipt to the sender, review request to its leader."""
    row = newest_row(engine)
    assert (row.kind, row.matched_by) == ("form", matched_by), row.outcome
    assert not row.flagged and not (settings.inbox / "quarantine").exists()
    assert (settings.home / row.archive_path).exists()
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert (sub.office.name, sub.state, len(sub.entries)) == (office, "pending_approval", entries)
        assert sub.filled_by == "张晓明"
        kinds = {
            d.kind: d.to_addrs for d in s.scalars(select(Dispatch).where(Dispatch.submission_id == sub.id))
        }
    assert kinds["receipt"] == [sender]
    assert kinds["approval_request"] == [LEADERS[office]]
    assert dispatches(engine, "error_reply") == [] and dispatches(engine, "quarantine_notice") == []


# -- offices sending the filled form ---------------------------------------------------------------------

OUTLOOK_HTML_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{{font-family:宋体;
\tpanose-1:2 1 6 0 3 1 1 1 1 1;}}
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{{margin:0cm;
\ttext-align:justify;
\tfont-size:10.5pt;
\tfont-family:等线;}}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]-->
</head>
<body lang="ZH-CN" link="#0563C1" vlink="#954F72" style="text-justify-trim:punctuation">
<div class="WordSection1">
"""


def outlook_html(
    charset: str, own: list[str], sender: str, to: str, when: str, subject: str, quoted_html: str
) -> str:
    """Outlook 2016's HTML reply: the author's paragraphs, the grey-ruled 发件人/发送时间/收件人/主题 block,
    then the message answered, unmarked."""
    paras = "".join(
        f'<p class="MsoNormal">{p}<span lang="EN-US"><o:p></o:p></span></p>\n'
        if p
        else '<p class="MsoNormal"><span lang="EN-US"><o:p>&nbsp;</o:p></span></p>\n'
        for p in own
    )
    block = (
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
        f'<p class="MsoNormal"><b>发件人<span lang="EN-US">:</span></b><span lang="EN-US"> </span>{sender}'
        '<span lang="EN-US"> <br>\n'
        f'</span><b>发送时间<span lang="EN-US">:</span></b><span lang="EN-US"> {when}<br>\n'
        f'</span><b>收件人<span lang="EN-US">:</span></b><span lang="EN-US"> </span>{to}<span lang="EN-US"><br>\n'
        f'</span><b>主题<span lang="EN-US">:</span></b><span lang="EN-US"> {subject}<o:p></o:p></span></p>\n'
        "</div>\n"
    )
    return (
        OUTLOOK_HTML_HEAD.format(charset=charset)
        + paras
        + block
        + quoted_html
        + "\n</div>\n</body>\n</html>\n"
    )


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outlook_reply(
    fm: FormMail,
    sender: str,
    *,
    charset: str = "gb2312",
    codec: str = CP936,
    name_header: bool = True,
    in_reply_to: bool = True,
    subject: str | None = None,
    own: tuple[str, ...] = ("局办公室：", "", "  附件是本股室本月进展情况表，请审核。", "", "基财股 黄镕"),
) -> bytes:
    """Outlook 2016 on Windows (zh-CN): multipart/mixed → multipart/alternative (plain base64, HTML
    quoted-printable), the system code page under a gb2312 label, the attachment's name RFC 2047 in
    ``name=`` only and a bare ``Content-Disposition: attachment``."""
    subject = f"答复: {fm.dispatch.subject}" if subject is None else subject
    plain = (
        "\n".join(own).replace("  ", "\u3000\u3000")
        + f"\n\n发件人: 局办公室 <{BUREAU}>\n发送时间: 2022年6月10日 9:00\n收件人: {sender}\n"
        f"主题: {fm.dispatch.subject}\n\n{fm.text}\n"
    )
    html = outlook_html(
        charset,
        [esc(p).replace("  ", "&nbsp;&nbsp;") for p in own],
        f"局办公室 &lt;{BUREAU}&gt;",
        sender,
        "2022年6月10日 9:00",
        esc(fm.dispatch.subject),
        fm.html,
    )
    alt = multipart(
        "alternative",
        "----=_NextPart_001_0002_01D88095.28513B40",
        part(
            f'Content-Type: text/plain;\n\tcharset="{charset}"\nContent-Transfer-Encoding: base64',
            b64(plain.replace("\n", "\r\n").encode(codec)),
        ),
        part(
            f'Content-Type: text/html;\n\tcharset="{charset}"\nContent-Transfer-Encoding: quoted-printable',
            qp(html.replace("\n", "\r\n"), codec),
        ),
    )
    name = f'name="{words(fm.filename, charset, codec)}"' if name_header else ""
    attachment = part(
        f"Content-Type: {DOCX_TYPE};\n\t{name}\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment",
        b64(fm.filled),
    )
    body = multipart(
        "mixed",
        "----=_NextPart_000_0001_01D88095.28513B40",
        alt,
        attachment,
        preamble="This is a multipart message in MIME format.\n",
    )
    thread = (
        f"References: {fm.dispatch.message_id}\nIn-Reply-To: {fm.dispatch.message_id}\n"
        if in_reply_to
        else ""
    )
    return message(
        f"""Received: from WIN-JCG01 (unknown [10.20.1.15])
\tby mail.jyj.example.gov.cn (Coremail) with SMTP id AQAAfwD3_0t5oKZi
\tfor <{BUREAU}>; Mon, 13 Jun 2022 10:12:06 +0800 (CST)
From: "{words("基财股 黄镕", charset, codec)}" <{sender}>
To: =?{charset}?B?{base64.b64encode("局办公室".encode(codec)).decode()}?= <{BUREAU}>
{thread}Subject: {words(subject, charset, codec, chars=18, fold=chr(10) + chr(9))}
Date: {date(13, 10, 12)}
Message-ID: <000001d88052$1a2b3c40$4e81b4c0$@jyj.example.gov.cn>
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdiAUhorPEBaN8xBQ0i7uLvkrdVNxQ==
Content-Language: zh-cn
MIME-Version: 1.0""",
        body,
    )


@pytest.mark.parametrize(("charset", "codec"), [("gb2312", CP936), ("GB18030", "gb18030")])
def test_outlook_reply_with_the_form_named_in_name_only(sent, charset: str, codec: str) -> None:
    """
    GIVEN 基财股 answers with Outlook: GB2312-labelled (really cp936) or GB18030 text and HTML with the
          Chinese quote block, the form's name RFC 2047-encoded over several words in name= only
    WHEN  intake takes it in
    THEN  it is 基财股's report, matched by In-Reply-To; receipt to the sender, review request to 陈志明
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    feed(settings, engine, "outlook.eml", outlook_reply(fm, JCG, charset=charset, codec=codec))
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().form_path.endswith(".docx")


def test_outlook_rich_text_sends_the_form_inside_winmail_dat(sent) -> None:
    """
    GIVEN Outlook in rich-text mode: the .docx travels inside winmail.dat (TNEF, codepage 936), beside a
          GB2312 plain body
    WHEN  intake takes it in
    THEN  the .docx is unpacked under its long Chinese name and becomes 基财股's report
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    tnef = build_tnef([(fm.filename, "2022~1.DOC", fm.filled)], body="请查收。".encode(CP936))
    body = multipart(
        "mixed",
        "----=_NextPart_000_0007_01D88096.A1B2C3D0",
        part(
            'Content-Type: text/plain;\n\tcharset="gb2312"\nContent-Transfer-Encoding: base64',
            b64("请查收附件。\r\n\r\n基财股\r\n".encode(CP936)),
        ),
        part(
            'Content-Type: application/ms-tnef;\n\tname="winmail.dat"\nContent-Transfer-Encoding: base64\n'
            'Content-Disposition: attachment;\n\tfilename="winmail.dat"',
            b64(tnef),
        ),
        preamble="This is a multipart message in MIME format.\n",
    )
    raw = message(
        f"""From: =?gb2312?B?{base64.b64encode("基财股".encode(CP936)).decode()}?= <{JCG}>
To: <{BUREAU}>
Subject: {words("答复: " + fm.dispatch.subject, "gb2312", CP936, chars=20)}
Date: {date(13, 9, 40)}
Message-ID: <000a01d8805a$9c1d2e30$d4578a90$@jyj.example.gov.cn>
In-Reply-To: {fm.dispatch.message_id}
References: {fm.dispatch.message_id}
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdiAWpwMs9NO0AAAQ2u7q8L1Mw8ZKQ==
Content-Language: zh-cn
X-MS-TNEF-Correlator: 00000000E5A8C3F1B2D4E6F8A0B2C4D6E8F0A2B4""",
        body,
    )
    feed(settings, engine, "tnef.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")


def test_foxmail_gbk_with_an_rfc2231_name(sent) -> None:
    """
    GIVEN Foxmail 7.2: GBK text and HTML, its "From:/Date:/To:/Subject:" quote, and the file name as
          RFC 2231 ``filename*=GBK''…`` (name*= too)
    WHEN  intake takes it in
    THEN  it is 基安股's report
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基安股")
    plain = (
        "局办公室：\n    附件为本股室2022年1—6月进展情况表，请审核。\n\n\n\njag@jyj.example.gov.cn\n \n"
        f"From: 局办公室\nDate: 2022-06-10 09:00\nTo: jag\nSubject: {fm.dispatch.subject}\n{fm.text}\n"
    )
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=GBK"><style>body { '
        "line-height: 1.5; }blockquote { margin-top: 0px; margin-bottom: 0px; margin-left: 0.5em; }</style>"
        "</head><body>\n<div><span></span>局办公室：</div><div>&nbsp; &nbsp; 附件为本股室2022年1—6月进展情况表，"
        '请审核。</div>\n<div><br></div><hr style="width: 210px; height: 1px;" color="#b5c4df" size="1" '
        'align="left">\n<div><span><div style="MARGIN: 10px; FONT-FAMILY: verdana; FONT-SIZE: 10pt">'
        "<div>jag@jyj.example.gov.cn</div></div></span></div>\n"
        '<blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em; margin-Right: inherit">'
        '<div>&nbsp;</div><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<div style="PADDING-RIGHT: 8px; PADDING-LEFT: 8px; FONT-SIZE: 12px;FONT-FAMILY:tahoma;COLOR:#000000; '
        f'BACKGROUND: #efefef; PADDING-BOTTOM: 8px; PADDING-TOP: 8px"><div><b>From:</b>&nbsp;<a href="mailto:'
        f'{BUREAU}">局办公室</a></div><div><b>Date:</b>&nbsp;2022-06-10&nbsp;09:00</div><div><b>To:</b>&nbsp;'
        f'<a href="mailto:{JAG}">jag</a></div><div><b>Subject:</b>&nbsp;{esc(fm.dispatch.subject)}</div></div>'
        f"</div><div>{fm.html}</div></blockquote>\n</body></html>\n"
    )
    name = pct(fm.filename, "gbk")
    body = multipart(
        "mixed",
        "----=_001_NextPart572182624333_=----",
        multipart(
            "alternative",
            "----=_002_NextPart815433587720_=----",
            part(
                'Content-Type: text/plain;\n\tcharset="GBK"\nContent-Transfer-Encoding: base64',
                b64(plain.replace("\n", "\r\n").encode("gbk")),
            ),
            part(
                'Content-Type: text/html;\n\tcharset="GBK"\nContent-Transfer-Encoding: quoted-printable',
                qp(html.replace("\n", "\r\n"), "gbk"),
            ),
        ),
        part(
            f"Content-Type: {DOCX_TYPE};\n\tname*=GBK''{name}\nContent-Transfer-Encoding: base64\n"
            f"Content-Disposition: attachment;\n\tfilename*=GBK''{name}",
            b64(fm.filled),
        ),
        preamble="This is a multi-part message in MIME format.\n",
    )
    raw = message(
        f"""Date: {date(13, 10, 20)}
From: "{words("基安股", "GBK")}" <{JAG}>
To: "{words("局办公室", "GBK")}" <{BUREAU}>
Subject: {words("回复: " + fm.dispatch.subject, "GBK", chars=20, fold=chr(10) + chr(9))}
References: {fm.dispatch.message_id}
In-Reply-To: {fm.dispatch.message_id}
X-Priority: 3
X-GUID: 7D4C2D8A-1F2E-4B3C-9D8E-7F6A5B4C3D2E
X-Has-Attach: yes
X-Mailer: Foxmail 7.2.23.116[cn]
Mime-Version: 1.0
Message-ID: <202206131020330123456@jyj.example.gov.cn>""",
        body,
    )
    feed(settings, engine, "foxmail.eml", raw)
    assert_submitted(settings, engine, "基安股", JAG, "in_reply_to", entries=2)


def webmail_html(own: str, quote_header: str, quoted_html: str) -> str:
    return (
        f'<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">{own}</div><br><br>'
        f'<div style="position:relative;zoom:1"></div><div id="divNeteaseMailCard"></div><br>{quote_header}'
        f'<blockquote id="isReplyContent" style="PADDING-LEFT: 1ex; MARGIN: 0px 0px 0px 0.8ex; BORDER-LEFT: '
        f'#ccc 1px solid">{quoted_html}</blockquote>'
    )


def test_qq_exmail_html_only_with_an_octet_stream_form(sent) -> None:
    """
    GIVEN QQ (Tencent Exmail) web mail: one GB18030 HTML part and nothing else, the .docx sent as
          application/octet-stream named by name= (and filename=) RFC 2047 words
    WHEN  intake takes it in
    THEN  it is 基安股's report
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基安股")
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=GB18030"><div>局办公室：</div><div>&nbsp; '
        '&nbsp; 附件为我股室进展情况表，请查收。</div><div><br></div><div><br></div><div style="font-size: 12px;'
        'font-family: Arial Narrow;padding:2px 0 2px 0;">------------------&nbsp;原始邮件&nbsp;------------------'
        '</div><div style="font-size: 12px;background:#efefef;padding:8px;"><div><b>发件人:</b>&nbsp;"局办公室"'
        f"&lt;{BUREAU}&gt;;</div><div><b>发送时间:</b>&nbsp;2022年6月10日(星期五) 上午9:00</div><div><b>收件人:</b>"
        f'&nbsp;"jag"&lt;{JAG}&gt;;<wbr></div><div></div><div><b>主题:</b>&nbsp;{esc(fm.dispatch.subject)}</div>'
        f"</div><div><br></div>{fm.html}"
    )
    name = words(fm.filename, "gb18030", chars=40, fold="")
    body = multipart(
        "mixed",
        "----=_NextPart_62A6A0B1_0F3E2A58_5B2B1C7E",
        part(
            'Content-Type: text/html;\n\tcharset="gb18030"\nContent-Transfer-Encoding: base64',
            b64(html.encode("gb18030")),
        ),
        part(
            f'Content-Type: application/octet-stream;\n\tcharset="gb18030";\n\tname="{name}"\n'
            f'Content-Disposition: attachment; filename="{name}"\nContent-Transfer-Encoding: base64',
            b64(fm.filled),
        ),
        preamble="This is a multi-part message in MIME format.\n",
    )
    raw = message(
        f"""From: "{words("基安股", "gb18030")}" <{JAG}>
To: "{words("局办公室", "gb18030")}" <{BUREAU}>
Subject: {words("回复：" + fm.dispatch.subject, "gb18030", chars=40, fold=chr(10) + chr(9))}
Mime-Version: 1.0
Content-Transfer-Encoding: 8Bit
Date: {date(13, 10, 30)}
X-Priority: 3
Message-ID: <tencent_8A1F3C5E7B9D2F4A6C8E0B1D3F5A7C9E2B08@qq.com>
X-QQ-MIME: TCMime 1.0 by Tencent
X-Mailer: QQMail 2.x
X-QQ-Mailer: QQMail 2.x
In-Reply-To: {fm.dispatch.message_id}
References: {fm.dispatch.message_id}""",
        body,
    )
    feed(settings, engine, "qq.eml", raw)
    assert_submitted(settings, engine, "基安股", JAG, "in_reply_to", entries=2)


def test_coremail_webmail_html_only_named_in_name_only(sent) -> None:
    """
    GIVEN Coremail web mail: an HTML-only UTF-8 body with its "在 … 写道：" quote, the form as
          application/octet-stream named only in name=, a Date with a "(GMT+08:00)" comment
    WHEN  intake takes it in
    THEN  it is 人事股's report, dated by its Date header
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "人事股")
    html = webmail_html(
        "<div>局办公室：</div><div>&nbsp; &nbsp; 人事股进展情况表见附件。</div>",
        f'<div>在 2022-06-10 09:00:00，"局办公室" &lt;{BUREAU}&gt; 写道：</div>',
        fm.html,
    )
    body = multipart(
        "mixed",
        "----=_Part_123456_789012345.1655089337409",
        part("Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64", b64(html.encode())),
        part(
            f'Content-Type: application/octet-stream; \n\tname="{words(fm.filename, "UTF-8", chars=20)}"\n'
            "Content-Transfer-Encoding: base64\nContent-Disposition: attachment",
            b64(fm.filled),
        ),
    )
    raw = message(
        f"""Date: Mon, 13 Jun 2022 11:02:17 +0800 (GMT+08:00)
From: =?UTF-8?B?{base64.b64encode("人事股".encode()).decode()}?= <{RSG}>
To: =?UTF-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
Message-ID: <3a1b5c7e.1d2f.18162e4b0c1.Coremail.rsg@jyj.example.gov.cn>
In-Reply-To: {fm.dispatch.message_id}
References: {fm.dispatch.message_id}
Subject: {words("Re:" + fm.dispatch.subject, "UTF-8", chars=20, fold=chr(10) + chr(9))}
MIME-Version: 1.0
X-Priority: 3
X-Mailer: Coremail Webmail Server Version XT5.0.13 build 20210622(1d4788a8)
 Copyright (c) 2002-2022 www.mailtech.cn
X-Originating-IP: [10.20.1.31]
X-CM-CTRLDATA: 8cF0fGZvb3Rlcl9odG09MTIzNDo1Ng==""",
        body,
    )
    feed(settings, engine, "coremail.eml", raw)
    row = newest_row(engine)
    assert (row.kind, row.matched_by) == ("form", "in_reply_to"), row.outcome
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert (sub.office.name, sub.state, len(sub.entries)) == ("人事股", "pending_approval", 1)
        assert sub.received_at == at(13, 11, 2).replace(second=17)


def test_wps_mail(sent) -> None:
    """WPS 邮箱: UTF-8, "-------- 原始邮件 --------", the name RFC 2047 in both name= and filename=."""
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    plain = (
        f"局办公室：\n附件是基财股进展情况表，请审核。\n\n发自 WPS 邮箱\n\n-------- 原始邮件 --------\n"
        f"发件人：局办公室 <{BUREAU}>\n时间：2022年6月10日 09:00\n收件人：{JCG}\n主题：{fm.dispatch.subject}\n\n{fm.text}"
    )
    name = words(fm.filename, "utf-8", chars=15, fold="\n ")
    body = multipart(
        "mixed",
        "=-vIUj5+2KJ0Nb4zmYN2D8",
        part(
            'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64',
            b64(plain.replace("\n", "\r\n").encode()),
        ),
        part(
            f'Content-Type: {DOCX_TYPE}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
            "Content-Transfer-Encoding: base64",
            b64(fm.filled),
        ),
    )
    raw = message(
        f"""Subject: =?utf-8?B?{base64.b64encode(("回复：" + fm.dispatch.subject).encode()).decode()}?=
From: =?utf-8?B?{base64.b64encode("基财股".encode()).decode()}?= <{JCG}>
To: {BUREAU}
Date: {date(13, 16, 5)}
Message-ID: <1655107505.7c2d4e8f.wps@jyj.example.gov.cn>
In-Reply-To: {fm.dispatch.message_id}
References: {fm.dispatch.message_id}
X-Mailer: WPS Mail
MIME-Version: 1.0""",
        body,
    )
    feed(settings, engine, "wps.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")


def test_apple_mail_html_only_quoted_printable_and_an_nfd_name(sent) -> None:
    """
    GIVEN iPhone Mail: an HTML-only quoted-printable body, the attachment's name in NFD (as the Files app
          hands it over) in both RFC 2231 filename*= and RFC 2047 name=, "Mime-Version: 1.0 (1.0)"
    WHEN  intake takes it in
    THEN  it is 基财股's report; the stored name is NFC
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    nfd = unicodedata.normalize("NFD", fm.filename.replace(".docx", "（jī cái gǔ）.docx"))
    assert nfd != unicodedata.normalize("NFC", nfd)
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto">'
        '局办公室：<div>附件为我股室的进展情况表，请查收。</div><div><br><div dir="ltr">发自我的iPhone</div><div '
        f'dir="ltr"><br><blockquote type="cite">在 2022年6月10日，09:00，局办公室 &lt;{BUREAU}&gt; 写道：<br><br>'
        f'</blockquote></div><blockquote type="cite"><div dir="ltr">{fm.html}</div></blockquote></div></body></html>'
    )
    body = multipart(
        "mixed",
        "Apple-Mail-5C1D2E3F-4A5B-6C7D-8E9F-0A1B2C3D4E5F",
        part(
            "Content-Type: text/html;\n\tcharset=utf-8\nContent-Transfer-Encoding: quoted-printable", qp(html)
        ),
        part(
            f'Content-Type: {DOCX_TYPE};\n\tname="{words(nfd, "utf-8", chars=10)}"\n'
            f"Content-Disposition: attachment;\n\tfilename*=utf-8''{pct(nfd, 'utf-8')}\n"
            "Content-Transfer-Encoding: base64",
            b64(fm.filled),
        ),
    )
    raw = message(
        f"""Content-Transfer-Encoding: 7bit
From: =?utf-8?B?{base64.b64encode("基财股 周嘉伟".encode()).decode()}?= <{JCG}>
Mime-Version: 1.0 (1.0)
Date: {date(13, 11, 30)}
Subject: =?utf-8?B?{base64.b64encode(("回复：" + fm.dispatch.subject).encode()).decode()}?=
Message-Id: <5C1D2E3F-4A5B-6C7D-8E9F-0A1B2C3D4E5F@jyj.example.gov.cn>
References: {fm.dispatch.message_id}
In-Reply-To: {fm.dispatch.message_id}
To: =?utf-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
X-Mailer: iPhone Mail (19F77)""",
        body,
    )
    feed(settings, engine, "iphone.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")
    with atomic(engine) as s:
        req = s.scalars(select(Dispatch).where(Dispatch.kind == "approval_request")).one()
    names = [
        a.filename
        for a in read_message(
            settings.path(req.eml_path).read_bytes(), max_attachment_bytes=10**8
        ).attachments
    ]
    assert names == [unicodedata.normalize("NFC", nfd)]


def test_thunderbird_rfc2231_continuations_and_an_8bit_flowed_body(sent) -> None:
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    quoted = "\n".join("> " + line if line else ">" for line in fm.text.split("\n"))
    plain = (
        f"局办公室，您好：\n\n附件是本月的进展情况表，请审核。 \n谢谢！\n\n-- \n周嘉伟\n\n"
        f"在 2022/6/10 9:00, 局办公室 写道:\n{quoted}\n"
    )
    encoded = pct(fm.filename, "utf-8")
    pieces = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
    # Never split a %XX escape between two continuations.
    for i in range(len(pieces) - 1):
        while "%" in pieces[i][-2:]:
            cut = pieces[i].rindex("%")
            pieces[i], pieces[i + 1] = pieces[i][:cut], pieces[i][cut:] + pieces[i + 1]
    conts = ";\n".join(
        f" filename*{i}*={'UTF-8' + chr(39) * 2 if i == 0 else ''}{p}" for i, p in enumerate(pieces)
    )
    body = multipart(
        "mixed",
        "------------Kz0l9Xc7bR2mPqW1vT4yU8nE",
        part(
            "Content-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: 8bit", plain
        ),
        part(
            f'Content-Type: {DOCX_TYPE};\n name="{words(fm.filename, "UTF-8", chars=10, fold=chr(10) + " ")}"\n'
            f"Content-Disposition: attachment;\n{conts}\nContent-Transfer-Encoding: base64",
            b64(fm.filled),
        ),
        preamble="This is a multi-part message in MIME format.",
    )
    raw = message(
        f"""Message-ID: <8f3c1a2b-4d5e-6f70-8192-a3b4c5d6e7f8@jyj.example.gov.cn>
Date: {date(13, 14, 5)}
MIME-Version: 1.0
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:91.0) Gecko/20100101
 Thunderbird/91.10.0
Subject: =?UTF-8?B?{base64.b64encode(("Re: " + fm.dispatch.subject).encode()).decode()}?=
Content-Language: zh-CN
To: =?UTF-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
References: {fm.dispatch.message_id}
From: =?UTF-8?B?{base64.b64encode("周嘉伟".encode()).decode()}?= <{JCG}>
In-Reply-To: {fm.dispatch.message_id}""",
        body,
        raw8="utf-8",
    )
    feed(settings, engine, "thunderbird.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")


def _plain_reply(
    fm: FormMail, sender: str, subject: str, *, thread: bool, day: int = 13, mid: str = ""
) -> bytes:
    """A simple client reply (plain UTF-8 text, RFC 2231 name) with or without its thread headers."""
    name = pct(fm.filename, "utf-8")
    body = multipart(
        "mixed",
        "b1_7c2d4e8f",
        part(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
            b64("局办公室：\r\n附件是本月进展情况表。\r\n".encode()),
        ),
        part(
            f"Content-Type: {DOCX_TYPE}; name*=utf-8''{name}\nContent-Disposition: attachment; filename*=utf-8''{name}\n"
            "Content-Transfer-Encoding: base64",
            b64(fm.filled),
        ),
    )
    ids = f"In-Reply-To: {fm.dispatch.message_id}\nReferences: {fm.dispatch.message_id}\n" if thread else ""
    return message(
        f"""From: {sender}
To: {BUREAU}
Subject: =?utf-8?B?{base64.b64encode(subject.encode()).decode()}?=
Date: {date(day, 15)}
Message-ID: <{mid or "r" + str(abs(hash(subject)))}@jyj.example.gov.cn>
{ids}MIME-Version: 1.0""",
        body,
    )


@pytest.mark.parametrize(
    ("subject", "thread", "matched_by"),
    [
        ("回复：2022年1—6月进展情况表", True, "in_reply_to"),  # the [DB-…] token deleted from the subject
        ("[{token}] 基财股进展情况表", False, "subject_token"),  # a new mail with the subject kept
        ("基财股6月进展情况表", False, "docx_token"),  # nothing but the form itself
    ],
    ids=["token-deleted", "in-reply-to-lost", "both-lost"],
)
def test_a_reply_is_matched_by_whatever_survived(sent, subject: str, thread: bool, matched_by: str) -> None:
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    feed(settings, engine, "m.eml", _plain_reply(fm, JCG, subject.format(token=fm.token), thread=thread))
    assert_submitted(settings, engine, "基财股", JCG, matched_by)


def test_a_forwarded_message_carrying_the_filled_form(sent) -> None:
    """
    GIVEN 基财股 forwards ("转发：", as an attachment: message/rfc822) the mail in which a colleague sent
          them the filled form from a personal address
    WHEN  intake takes it in
    THEN  the office's own address vouches for it: it is 基财股's report, matched by the subject token
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    inner = (
        _plain_reply(
            fm, "zhangxm1988@qq.com", "回复：" + fm.dispatch.subject, thread=True, day=12, mid="inner-1"
        )
        .decode("ascii")
        .replace("\r\n", "\n")
    )
    body = multipart(
        "mixed",
        "------------F0rw4rd3d",
        part(
            "Content-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: base64",
            b64("张晓明填好的表格转给局办公室，请查收。\r\n".encode()),
        ),
        part(
            f'Content-Type: message/rfc822;\n name="{words("回复：进展情况表.eml", "UTF-8")}"\n'
            f"Content-Disposition: attachment;\n filename*=UTF-8''{pct('回复：进展情况表.eml', 'utf-8')}",
            inner,
        ),
    )
    raw = message(
        f"""From: {JCG}
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode(("转发：回复：" + fm.dispatch.subject).encode()).decode()}?=
Date: {date(13, 9, 5)}
Message-ID: <fwd-20220613@jyj.example.gov.cn>
MIME-Version: 1.0""",
        body,
    )
    feed(settings, engine, "fwd.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "subject_token")


# -- leaders deciding by reply ---------------------------------------------------------------------------


@dataclass
class Request:
    """An approval request we sent to 陈志明 about 基财股's first report."""

    dispatch: Dispatch
    text: str
    html: str

    @property
    def subject(self) -> str:
        return self.dispatch.subject

    @property
    def thread(self) -> str:
        return f"In-Reply-To: {self.dispatch.message_id}\nReferences: {self.dispatch.message_id}"


def requested(settings: Settings, engine: Engine) -> Request:
    req = _submit_and_request(settings, engine, "基财股", JCG)
    assert req.to_addrs == [CHENZM]
    text, html = request_mail(settings, req)
    # The request itself says 同意 and 退回 in its instructions: every quote below carries both words.
    assert "同意" in text and "退回" in text and "同意" in html and "退回" in html
    return Request(req, text, html)


def decided(engine: Engine, expected: str) -> Approval:
    """The one review decision recorded, and the report's state and the office's answer that follow."""
    row = newest_row(engine)
    assert row.kind == "decision" and not row.flagged, row.outcome
    with atomic(engine) as s:
        approval = s.scalars(select(Approval)).one()
        sub = s.scalars(select(Submission)).one()
        assert (approval.decision, sub.state) == (expected, expected)
        assert approval.person.email == CHENZM
        s.expunge(approval)
    notice = dispatches(engine, "approved_notice" if expected == "approved" else "returned")
    assert [d.to_addrs for d in notice] == [[JCG]]
    assert dispatches(engine, "not_understood") == [] and dispatches(engine, "quarantine_notice") == []
    return approval


def html_only(
    headers: str, html: str, charset: str = "UTF-8", cte: str = "base64", codec: str | None = None
) -> bytes:
    data = html.replace("\n", "\r\n").encode(codec or charset)
    body = part(
        f"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {cte}",
        b64(data) if cte == "base64" else quopri.encodestring(data).decode("ascii"),
    )
    return message(headers + "\nMIME-Version: 1.0", body)


def test_coremail_html_only_approval_quoting_the_request(sent) -> None:
    """
    GIVEN 陈志明 answers in Coremail web mail: HTML only, "同意" above
          <div>在 2022-06-14 10:20:33，"局办公室" &lt;bgs@…&gt; 写道：</div><blockquote>(our request)</blockquote>
    WHEN  intake takes it in
    THEN  基财股's report is approved and 基财股 told; the quoted 退回 of our instructions counts for nothing
    """
    settings, engine = sent
    req = requested(settings, engine)
    html = webmail_html(
        "<div>同意</div>",
        f'<div>在 2022-06-14 10:20:33，"局办公室" &lt;{BUREAU}&gt; 写道：</div>',
        req.html,
    )
    raw = html_only(
        f"""Date: Tue, 14 Jun 2022 10:25:41 +0800 (GMT+08:00)
From: =?UTF-8?B?{base64.b64encode("陈志明".encode()).decode()}?= <{CHENZM}>
To: =?UTF-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
Message-ID: <6d2e1f0a.2b3c.18163a1f2e3.Coremail.chenzm@jyj.example.gov.cn>
{req.thread}
Subject: {words("Re:" + req.subject, "UTF-8", chars=20, fold=chr(10) + chr(9))}
X-Mailer: Coremail Webmail Server Version XT5.0.13 build 20210622(1d4788a8)""",
        html,
    )
    feed(settings, engine, "coremail-approve.eml", raw, day=14)
    assert decided(engine, "approved").comment == ""


def test_qq_html_only_approval_with_the_original_mail_block(sent) -> None:
    settings, engine = sent
    req = requested(settings, engine)
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=GB18030"><div>同意上报。</div><div><br></div>'
        '<div><br></div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        '------------------&nbsp;原始邮件&nbsp;------------------</div><div style="font-size: 12px;background:'
        f'#efefef;padding:8px;"><div><b>发件人:</b>&nbsp;"局办公室"&lt;{BUREAU}&gt;;</div><div><b>发送时间:</b>'
        f'&nbsp;2022年6月13日(星期一) 中午12:00</div><div><b>收件人:</b>&nbsp;"陈志明"&lt;{CHENZM}&gt;;</div>'
        f"<div></div><div><b>主题:</b>&nbsp;{esc(req.subject)}</div></div><div><br></div>{req.html}"
    )
    raw = html_only(
        f"""From: "{words("陈志明", "gb18030")}" <{CHENZM}>
To: "{words("局办公室", "gb18030")}" <{BUREAU}>
Subject: {words("回复：" + req.subject, "gb18030", chars=30)}
Date: Tue, 14 Jun 2022 10:40:02 +0800
Message-ID: <tencent_1B3D5F7A9C2E4B6D8F0A1C3E5B7D9F2A4C06@qq.com>
X-Mailer: QQMail 2.x
{req.thread}""",
        html,
        charset='"gb18030"',
        codec="gb18030",
    )
    feed(settings, engine, "qq-approve.eml", raw, day=14)
    decided(engine, "approved")


@pytest.mark.parametrize("with_plain", [True, False], ids=["alternative", "html-only"])
def test_outlook_html_approval_quoting_the_request(sent, with_plain: bool) -> None:
    """
    GIVEN 陈志明 answers "同意。" in Outlook: the 发件人/发送时间/收件人/主题 block, then our whole request
          (its table of entries and its 同意/退回 instructions) unmarked below — with or without the plain
          alternative
    WHEN  intake takes it in
    THEN  the report is approved
    """
    settings, engine = sent
    req = requested(settings, engine)
    html = outlook_html(
        "gb2312",
        ["同意。", "", "陈志明"],
        f"局办公室 &lt;{BUREAU}&gt;",
        f"陈志明 &lt;{CHENZM}&gt;",
        "2022年6月13日 12:00",
        esc(req.subject),
        req.html,
    )
    plain = (
        f"同意。\r\n\r\n陈志明\r\n\r\n发件人: 局办公室 <{BUREAU}>\r\n发送时间: 2022年6月13日 12:00\r\n"
        f"收件人: 陈志明 <{CHENZM}>\r\n主题: {req.subject}\r\n\r\n" + req.text.replace("\n", "\r\n")
    )
    parts = [
        part(
            'Content-Type: text/html;\n\tcharset="gb2312"\nContent-Transfer-Encoding: quoted-printable',
            qp(html.replace("\n", "\r\n"), CP936),
        )
    ]
    if with_plain:
        parts.insert(
            0,
            part(
                'Content-Type: text/plain;\n\tcharset="gb2312"\nContent-Transfer-Encoding: base64',
                b64(plain.encode(CP936)),
            ),
        )
    raw = message(
        f"""From: "{words("陈志明", "gb2312", CP936)}" <{CHENZM}>
To: "{words("局办公室", "gb2312", CP936)}" <{BUREAU}>
Subject: {words("答复: " + req.subject, "gb2312", CP936, chars=18)}
Date: Tue, 14 Jun 2022 09:31:12 +0800
Message-ID: <001101d87f8a$2c3d4e50$84b7eaf0$@jyj.example.gov.cn>
{req.thread}
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdiAUhorPEBaN8xBQ0i7uLvkrdVNxQAvbcDg
Content-Language: zh-cn""",
        multipart(
            "alternative",
            "----=_NextPart_000_0012_01D87FCD.3A6D9E50",
            *parts,
            preamble="This is a multipart message in MIME format.\n",
        ),
    )
    feed(settings, engine, "outlook-approve.eml", raw, day=14)
    decided(engine, "approved")


def test_iphone_approval_with_its_signature(sent) -> None:
    """iPhone Mail: "同意" above "发自我的iPhone" and a "> " quote whose first line starts with U+FEFF."""
    settings, engine = sent
    req = requested(settings, engine)
    quoted = "\n".join("> " + line if line else ">" for line in ("\ufeff" + req.text).split("\n"))
    plain = f"同意\n\n发自我的iPhone\n\n> 在 2022年6月13日，12:00，局办公室 <{BUREAU}> 写道：\n> \n{quoted}\n"
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto">'
        '同意<div><br><div dir="ltr">发自我的iPhone</div><div dir="ltr"><br><blockquote type="cite">在 2022年6月13日，'
        f'12:00，局办公室 &lt;{BUREAU}&gt; 写道：<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">'
        f"{req.html}</div></blockquote></div></body></html>"
    )
    raw = message(
        f"""Content-Type: multipart/alternative; boundary=Apple-Mail-9A8B7C6D-5E4F-3A2B-1C0D-9E8F7A6B5C4D
Content-Transfer-Encoding: 7bit
From: =?utf-8?B?{base64.b64encode("陈志明".encode()).decode()}?= <{CHENZM}>
Mime-Version: 1.0 (1.0)
Date: Tue, 14 Jun 2022 08:12:44 +0800
Subject: =?utf-8?B?{base64.b64encode(("回复：" + req.subject).encode()).decode()}?=
Message-Id: <9A8B7C6D-5E4F-3A2B-1C0D-9E8F7A6B5C4D@jyj.example.gov.cn>
{req.thread}
To: =?utf-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
X-Mailer: iPhone Mail (19F77)
""",
        "\n--Apple-Mail-9A8B7C6D-5E4F-3A2B-1C0D-9E8F7A6B5C4D\n"
        + part(
            "Content-Type: text/plain;\n\tcharset=utf-8\nContent-Transfer-Encoding: quoted-printable",
            qp(plain),
        )
        + "\n--Apple-Mail-9A8B7C6D-5E4F-3A2B-1C0D-9E8F7A6B5C4D\n"
        + part(
            "Content-Type: text/html;\n\tcharset=utf-8\nContent-Transfer-Encoding: quoted-printable", qp(html)
        )
        + "\n--Apple-Mail-9A8B7C6D-5E4F-3A2B-1C0D-9E8F7A6B5C4D--\n",
    )
    feed(settings, engine, "iphone-approve.eml", raw, day=14)
    decided(engine, "approved")


def test_a_top_posted_return_with_a_signature_goes_back_with_its_comment(sent) -> None:
    """
    GIVEN 陈志明 answers in Foxmail "退回，第2项请补充数据。" with his signature block, above the quote
    WHEN  intake takes it in
    THEN  the report is returned; 基财股 gets the comment (without the signature) and its form back
    """
    settings, engine = sent
    req = requested(settings, engine)
    plain = (
        "退回，第2项请补充数据。\n\n\n\n陈志明\n台山市教育局 副局长\n电话：0750-5500100\n \n"
        f'------------------ 原始邮件 ------------------\n发件人: "局办公室"<{BUREAU}>;\n'
        f'发送时间: 2022年6月13日(星期一) 中午12:00\n收件人: "陈志明"<{CHENZM}>;\n主题: {req.subject}\n\n{req.text}\n'
    )
    raw = message(
        f"""Date: Tue, 14 Jun 2022 15:02:11 +0800
From: "{words("陈志明", "GBK")}" <{CHENZM}>
To: "{words("局办公室", "GBK")}" <{BUREAU}>
Subject: {words("回复：" + req.subject, "GBK", chars=20)}
{req.thread}
X-Mailer: Foxmail 7.2.23.116[cn]
Mime-Version: 1.0
Message-ID: <202206141502116548321@jyj.example.gov.cn>""",
        part(
            'Content-Type: text/plain;\n\tcharset="GBK"\nContent-Transfer-Encoding: base64',
            b64(plain.replace("\n", "\r\n").encode("gbk")),
        ),
    )
    feed(settings, engine, "return.eml", raw, day=14)
    approval = decided(engine, "returned")
    assert approval.comment == "第2项请补充数据。"
    back = read_message(
        settings.path(dispatches(engine, "returned")[0].eml_path).read_bytes(), max_attachment_bytes=10**8
    )
    assert (
        "第2项请补充数据。" in back.text and "0750-5500100" not in back.text and "原始邮件" not in back.text
    )
    assert [a.filename.endswith(".docx") for a in back.attachments] == [True]


def test_outlook_english_re_prefix_and_english_quote_block(sent) -> None:
    """An English-language Outlook: "RE: [DB-…]", "OK" above "From: / Sent: / To: / Subject:"."""
    settings, engine = sent
    req = requested(settings, engine)
    plain = (
        f"OK\r\n\r\nChen Zhiming\r\n\r\nFrom: 局办公室 <{BUREAU}>\r\nSent: Monday, June 13, 2022 12:00 PM\r\n"
        f"To: Chen Zhiming <{CHENZM}>\r\nSubject: {req.subject}\r\n\r\n" + req.text.replace("\n", "\r\n")
    )
    raw = message(
        f"""From: Chen Zhiming <{CHENZM}>
To: =?utf-8?B?{base64.b64encode("局办公室".encode()).decode()}?= <{BUREAU}>
Subject: RE: {req.subject.split("]")[0]}] =?utf-8?B?{base64.b64encode(req.subject.split("] ", 1)[1].encode()).decode()}?=
Date: Tue, 14 Jun 2022 11:05:00 +0800
Message-ID: <BY5PR11MB4001A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7@BY5PR11MB4001.namprd11.prod.outlook.com>
{req.thread}
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
MIME-Version: 1.0""",
        part(
            'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64',
            b64(plain.encode()),
        ),
    )
    feed(settings, engine, "outlook-en.eml", raw, day=14)
    decided(engine, "approved")


@pytest.mark.parametrize("raw8", [False, True], ids=["rfc2047-gbk", "raw-8bit-gbk"])
def test_a_leader_with_a_gbk_display_name(sent, raw8: bool) -> None:
    """The leader's name in GBK, RFC 2047-encoded or (older clients) raw 8-bit, beside the right address."""
    settings, engine = sent
    req = requested(settings, engine)
    name = '"陈志明"' if raw8 else f'"{words("陈志明", "GBK")}"'
    raw = message(
        f"""From: {name} <{CHENZM}>
To: {BUREAU}
Subject: {words("回复：" + req.subject, "GBK", chars=20)}
Date: Tue, 14 Jun 2022 16:00:00 +0800
Message-ID: <gbk-name-{int(raw8)}@jyj.example.gov.cn>
{req.thread}
MIME-Version: 1.0""",
        part('Content-Type: text/plain; charset="GBK"\nContent-Transfer-Encoding: 8bit', "同意。\n"),
        raw8="gbk",
    )
    feed(settings, engine, "gbk-name.eml", raw, day=14)
    decided(engine, "approved")
    assert newest_row(engine).from_addr == CHENZM


def test_an_html_reply_whose_quote_header_is_unknown_is_cut_at_the_blockquote(sent) -> None:
    """
    GIVEN 陈志明 answers from a mobile client that quotes in an HTML <blockquote> under a line of its own
          ("局办公室 的原邮件：" — no date, no 发件人 block, nothing a rule knows)
    WHEN  intake takes it in
    THEN  only his "同意" is read: the quoted request's "退回" never turns the approval into a return
    """
    settings, engine = sent
    req = requested(settings, engine)
    html = (
        f'<div dir="auto">同意</div><br><div>局办公室 的原邮件：</div><blockquote style="border-left:2px solid '
        f'#ccc;padding-left:8px;margin-left:4px">{req.html}</blockquote>'
    )
    raw = html_only(
        f"""From: {CHENZM}
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode(("回复：" + req.subject).encode()).decode()}?=
Date: Tue, 14 Jun 2022 10:00:00 +0800
Message-ID: <mobile-1@jyj.example.gov.cn>
{req.thread}""",
        html,
    )
    feed(settings, engine, "mobile.eml", raw, day=14)
    decided(engine, "approved")


def test_a_traditional_chinese_outlook_reply(sent) -> None:
    """Outlook's zh-TW build (寄件者 / 寄件日期 / 收件者 / 主旨, Big5 text): "同意。" above the quoted request."""
    settings, engine = sent
    req = requested(settings, engine)
    own = ["同意。", "", "陳志明"]
    html = outlook_html(
        "big5",
        own,
        f"局辦公室 &lt;{BUREAU}&gt;",
        f"陳志明 &lt;{CHENZM}&gt;",
        "2022年6月13日 下午 12:00",
        esc(req.subject),
        req.html,
    )
    html = (
        html.replace("发件人", "寄件者")
        .replace("发送时间", "寄件日期")
        .replace("收件人", "收件者")
        .replace("主题<", "主旨<")
    )
    plain = (
        f"同意。\r\n\r\n陳志明\r\n\r\n寄件者: 局辦公室 <{BUREAU}>\r\n寄件日期: 2022年6月13日 下午 12:00\r\n"
        f"收件者: 陳志明 <{CHENZM}>\r\n主旨: {req.subject}\r\n\r\n" + req.text.replace("\n", "\r\n")
    )
    raw = message(
        f"""From: =?utf-8?B?{base64.b64encode("陳志明".encode()).decode()}?= <{CHENZM}>
To: {BUREAU}
Subject: =?utf-8?B?{base64.b64encode(("回覆: " + req.subject).encode()).decode()}?=
Date: Tue, 14 Jun 2022 12:30:00 +0800
Message-ID: <002201d87fa0$11223340$33446650$@jyj.example.gov.cn>
{req.thread}
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Content-Language: zh-tw""",
        multipart(
            "alternative",
            "----=_NextPart_000_0023_01D87FE3.1F45A340",
            part(
                'Content-Type: text/plain;\n\tcharset="utf-8"\nContent-Transfer-Encoding: base64',
                b64(plain.encode()),
            ),
            part(
                'Content-Type: text/html;\n\tcharset="utf-8"\nContent-Transfer-Encoding: quoted-printable',
                qp(html.replace("\n", "\r\n")),
            ),
        ),
    )
    feed(settings, engine, "zh-tw.eml", raw, day=14)
    decided(engine, "approved")


def test_outlook_for_ios_approval_leaves_its_signature_out_of_the_comment(sent) -> None:
    """Outlook for iOS: HTML only, "获取 Outlook for iOS" under the reply, then its 发件人/日期 block; the
    office's approval notice must not say that the leader's comment was "获取 Outlook for iOS"."""
    settings, engine = sent
    req = requested(settings, engine)
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body><div dir="ltr">'
        '同意</div><div id="ms-outlook-mobile-signature"><div><br></div><div style="direction:ltr">获取 <a href="'
        'https://aka.ms/o0ukef">Outlook for iOS</a></div></div><div id="mail-editor-reference-message-container">'
        '<div class="ms-outlook-mobile-reference-message skipProofing"><div style="border:none;border-top:solid '
        f'#B5C4DF 1.0pt;padding:3.0pt 0in 0in 0in"><b>发件人:</b> 局办公室 &lt;{BUREAU}&gt;<br><b>日期:</b> 星期一, '
        f"2022年6月13日 中午12:00<br><b>收件人:</b> 陈志明 &lt;{CHENZM}&gt;<br><b>主题:</b> {esc(req.subject)}<br></div>"
        f"<div><br></div>{req.html}</div></div></body></html>"
    )
    raw = html_only(
        f"""From: =?utf-8?B?{base64.b64encode("陈志明".encode()).decode()}?= <ChenZM@JYJ.example.gov.cn>
To: {BUREAU}
Subject: =?utf-8?B?{base64.b64encode(("回复: " + req.subject).encode()).decode()}?=
Date: Tue, 14 Jun 2022 07:58:21 +0800
Message-ID: <PH0PR11MB5000C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6@PH0PR11MB5000.namprd11.prod.outlook.com>
{req.thread}""",
        html,
    )
    feed(settings, engine, "outlook-ios.eml", raw, day=14)
    assert decided(engine, "approved").comment == ""
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(14, 9))
    (notice,) = dispatches(engine, "approved_notice")
    text = read_message(settings.path(notice.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "Outlook" not in text


# -- machines answering: auto-replies, read receipts, bounces ----------------------------------------------


def nothing_answered(engine: Engine, before: int) -> None:
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Dispatch.id))) == before
        assert s.scalar(select(func.count(Approval.id))) == 0


def count_dispatches(engine: Engine) -> int:
    with atomic(engine) as s:
        return s.scalar(select(func.count(Dispatch.id))) or 0


def test_an_exchange_out_of_office_reply_is_recorded_and_never_answered(sent) -> None:
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    before = count_dispatches(engine)
    plain = (
        "您好：\r\n我于6月13日至6月17日外出学习，期间邮件将延迟回复。急事请致电0750-5500002。\r\n周嘉伟\r\n"
    )
    raw = message(
        f"""From: =?gb2312?B?{base64.b64encode("基财股".encode(CP936)).decode()}?= <{JCG}>
To: =?gb2312?B?{base64.b64encode("局办公室".encode(CP936)).decode()}?= <{BUREAU}>
Subject: {words("自动答复: " + fm.dispatch.subject, "gb2312", CP936, chars=18)}
Thread-Topic: {words(fm.dispatch.subject, "gb2312", CP936, chars=18)}
Thread-Index: AQHYfytnl1fXr1kd2kCMpKzsfLSsFQ==
Date: Fri, 10 Jun 2022 01:00:12 +0000
Message-ID: <d5a1f3c2b4e64b7f9a8c7d6e5f4a3b2c@JYJ-EX01.jyj.example.gov.cn>
In-Reply-To: {fm.dispatch.message_id}
References: {fm.dispatch.message_id}
Content-Language: zh-CN
X-MS-Has-Attach:
X-MS-Exchange-Organization-AuthAs: Internal
X-Auto-Response-Suppress: All
Auto-Submitted: auto-replied
X-MS-Exchange-Inbox-Rules-Loop: {JCG}
MIME-Version: 1.0""",
        part(
            'Content-Type: text/plain; charset="gb2312"\nContent-Transfer-Encoding: base64',
            b64(plain.encode(CP936)),
        ),
    )
    feed(settings, engine, "ooo.eml", raw)
    row = newest_row(engine)
    assert row.kind == "auto_reply"
    nothing_answered(engine, before)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0


def _mdn(req: Request, *, multipart_report: bool) -> bytes:
    text = (
        f"您的邮件\r\n\r\n    收件人: 陈志明\r\n    主题: {req.subject}\r\n    发送时间: 2022/6/13 12:00:00 (UTC+08:00)"
        "\r\n\r\n已于 2022/6/14 9:10:23 (UTC+08:00) 读取。\r\n"
    )
    if multipart_report:
        body = multipart(
            "report; report-type=disposition-notification",
            "_000_7f6e5d4c3b2a_",
            part(
                'Content-Type: text/plain; charset="gb2312"\nContent-Transfer-Encoding: base64',
                b64(text.encode(CP936)),
            ),
            part(
                "Content-Type: message/disposition-notification",
                f"Reporting-UA: JYJ-EX01.jyj.example.gov.cn; Microsoft Exchange Server 2016\nFinal-Recipient: "
                f"rfc822;{CHENZM}\nOriginal-Message-ID: {req.dispatch.message_id}\nDisposition: "
                "automatic-action/MDN-sent-automatically; displayed\n",
            ),
        )
    else:  # as Foxmail and some web mail write it: an ordinary mail whose subject says 已读
        body = part(
            'Content-Type: text/plain; charset="GBK"\nContent-Transfer-Encoding: base64',
            b64(text.encode("gbk")),
        )
    return message(
        f"""From: =?gb2312?B?{base64.b64encode("陈志明".encode(CP936)).decode()}?= <{CHENZM}>
To: {BUREAU}
Subject: {words("已读: " + req.subject, "gb2312", CP936, chars=18)}
Date: Tue, 14 Jun 2022 09:10:23 +0800
Message-ID: <mdn-{int(multipart_report)}@JYJ-EX01.jyj.example.gov.cn>
References: {req.dispatch.message_id}
MIME-Version: 1.0""",
        body,
    )


@pytest.mark.parametrize("multipart_report", [True, False], ids=["mdn", "plain"])
def test_a_read_receipt_is_no_decision_and_is_never_answered(sent, multipart_report: bool) -> None:
    """
    GIVEN 陈志明's client returns a read receipt for our review request (a multipart/report MDN, or an
          ordinary mail titled "已读: …")
    WHEN  intake takes it in
    THEN  it is recorded as automatic: the report still waits, no approval, no question back to him
    """
    settings, engine = sent
    req = requested(settings, engine)
    before = count_dispatches(engine)
    feed(settings, engine, "mdn.eml", _mdn(req, multipart_report=multipart_report), day=14)
    assert newest_row(engine).kind == "auto_reply"
    nothing_answered(engine, before)
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "pending_approval"


def test_a_bounce_of_our_form_mail_is_tied_to_it_and_never_answered(sent) -> None:
    """
    GIVEN Postfix returns our form mail to 基财股 (mailbox full): a multipart/report DSN carrying our whole
          message — with its blank form — as message/rfc822
    WHEN  intake takes it in
    THEN  nothing is answered and the blank form is no report; the bounce is tied to the form mail, which
          is marked undelivered with the server's reason, so `duban check` shows the office never got it
    """
    from mailer.service.checks import check_outbox

    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    ours = settings.path(fm.dispatch.eml_path).read_bytes().decode("ascii").replace("\r\n", "\n")
    before = count_dispatches(engine)
    body = multipart(
        "report; report-type=delivery-status",
        "8C2F61E0A3.1654822803/mail.jyj.example.gov.cn",
        part(
            "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii",
            "This is the mail system at host mail.jyj.example.gov.cn.\n\nI'm sorry to have to inform you that "
            "your message could not\nbe delivered to one or more recipients.\n\n<jcg@jyj.example.gov.cn>: host "
            "mx.jyj.example.gov.cn[10.20.0.5] said: 552\n    5.2.2 Mailbox full (in reply to RCPT TO command)\n",
        ),
        part(
            "Content-Description: Delivery report\nContent-Type: message/delivery-status",
            "Reporting-MTA: dns; mail.jyj.example.gov.cn\nX-Postfix-Queue-ID: 8C2F61E0A3\nArrival-Date: Fri, 10 Jun "
            f"2022 09:00:02 +0800 (CST)\n\nFinal-Recipient: rfc822; {JCG}\nOriginal-Recipient: rfc822;{JCG}\n"
            "Action: failed\nStatus: 5.2.2\nRemote-MTA: dns; mx.jyj.example.gov.cn\n"
            "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n",
        ),
        part("Content-Description: Undelivered Message\nContent-Type: message/rfc822", ours),
        preamble="This is a MIME-encapsulated message.\n",
    )
    raw = message(
        f"""Return-Path: <>
Date: Fri, 10 Jun 2022 09:00:03 +0800 (CST)
From: MAILER-DAEMON@mail.jyj.example.gov.cn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {BUREAU}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Message-Id: <20220610010003.9D1E461E0A4@mail.jyj.example.gov.cn>""",
        body,
    )
    feed(settings, engine, "dsn.eml", raw, day=10)
    row = newest_row(engine)
    assert row.kind == "bounce" and row.answers_dispatch_id == fm.dispatch.id
    assert "基财股" in row.outcome and JCG in row.outcome and "Mailbox full" in row.outcome
    nothing_answered(engine, before)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0
        assert s.get(Dispatch, fm.dispatch.id).state == "failed"
    assert any("Mailbox full" in p.message and JCG in p.message for p in check_outbox(engine))


def test_a_coremail_chinese_bounce_and_a_delay_notice(sent) -> None:
    """
    GIVEN Coremail's "系统退信" from postmaster (HTML, our message attached as message/rfc822, no DSN part),
          and a "延迟投递" delivery-status notice (Action: delayed) for another form mail
    WHEN  intake takes them in
    THEN  both are tied to our mails, neither is answered; only the real bounce marks its mail undelivered
    """
    settings, engine = sent
    fm, other = form_mail(settings, engine, "基财股"), form_mail(settings, engine, "人事股")
    before = count_dispatches(engine)
    ours = settings.path(fm.dispatch.eml_path).read_bytes().decode("ascii").replace("\r\n", "\n")
    html = (
        "<p>很抱歉，您发送的邮件被退回。</p><p>收件人：jcg@jyj.example.gov.cn</p>"
        "<p>退信原因：收件人邮箱空间已满（552 Mailbox quota exceeded）</p>"
    )
    raw = message(
        f"""From: =?UTF-8?B?{base64.b64encode("系统管理员".encode()).decode()}?= <postmaster@jyj.example.gov.cn>
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode("系统退信".encode()).decode()}?=
Date: Fri, 10 Jun 2022 09:01:00 +0800
Message-ID: <bounce-coremail-1@jyj.example.gov.cn>
X-Failed-Recipients: {JCG}
MIME-Version: 1.0""",
        multipart(
            "mixed",
            "----=_Part_bounce",
            part(
                "Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64",
                b64(html.encode()),
            ),
            part("Content-Type: message/rfc822", ours),
        ),
    )
    feed(settings, engine, "coremail-bounce.eml", raw, day=10)
    row = newest_row(engine)
    assert row.kind == "bounce" and row.answers_dispatch_id == fm.dispatch.id
    delayed = message(
        f"""From: Mail Delivery System <MAILER-DAEMON@mail.jyj.example.gov.cn>
To: {BUREAU}
Subject: Delayed Mail (still being retried)
Date: Fri, 10 Jun 2022 13:00:00 +0800
Message-ID: <delay-1@mail.jyj.example.gov.cn>
Auto-Submitted: auto-replied
MIME-Version: 1.0""",
        multipart(
            "report; report-type=delivery-status",
            "delay-b",
            part(
                "Content-Type: text/plain; charset=us-ascii",
                "Your message could not be delivered for 4.0 hours.\n"
                "It will be retried until it is 5.0 days old.\n",
            ),
            part(
                "Content-Type: message/delivery-status",
                f"Reporting-MTA: dns; mail.jyj.example.gov.cn\n\nFinal-Recipient: rfc822; {RSG}\nAction: delayed\n"
                "Status: 4.4.1\nDiagnostic-Code: X-Postfix; connect to mx.jyj.example.gov.cn: Connection timed out\n",
            ),
            part(
                "Content-Type: text/rfc822-headers",
                f"From: bgs@jyj.example.gov.cn\nTo: {RSG}\nMessage-ID: {other.dispatch.message_id}\n",
            ),
        ),
    )
    feed(settings, engine, "delay.eml", delayed, day=10)
    row = newest_row(engine)
    assert row.kind == "bounce" and row.answers_dispatch_id == other.dispatch.id and "延迟" in row.outcome
    nothing_answered(engine, before)
    with atomic(engine) as s:
        assert s.get(Dispatch, fm.dispatch.id).state == "failed"
        assert s.get(Dispatch, other.dispatch.id).state == "sent"


# -- headers and attachments as they come ---------------------------------------------------------------


def test_a_reply_without_a_message_id_is_taken_once(sent) -> None:
    """Some scripts and old clients send no Message-ID: the reply counts, once, by its bytes."""
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    raw = re.sub(
        rb"Message-ID: [^\r\n]*\r\n", b"", _plain_reply(fm, JCG, "回复：" + fm.dispatch.subject, thread=True)
    )
    assert b"Message-ID" not in raw
    feed(settings, engine, "no-id.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")
    assert newest_row(engine).message_id is None
    drop(settings, "no-id-again.eml", raw)
    assert take(settings, engine).duplicates == 1
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 1
        receipt = s.scalars(select(Dispatch).where(Dispatch.kind == "receipt")).one()
    assert b"In-Reply-To" not in settings.path(receipt.eml_path).read_bytes()


@pytest.mark.parametrize(
    ("header", "received"),
    [
        ("2022-06-13 10:20:33", at(13, 12)),  # not RFC 5322 at all: when we took it in
        ("星期一, 13 六月 2022 10:20:33 +0800", at(13, 12)),  # a localised date
        ("Mon, 13 Jun 2022 10:20:33", at(13, 10, 20).replace(second=33)),  # no zone: the bureau's own time
        (
            "Mon, 13 Jun 2022 10:20:33 CST",
            at(13, 10, 20).replace(second=33),
        ),  # China Standard Time, not Chicago
        ("Mon, 13 Jun 2022 10:20:33 GMT+0800", at(13, 10, 20).replace(second=33)),
        ("Thu, 01 Jan 1970 08:00:00 +0800", at(13, 12)),  # a phone whose clock was reset
        ("Mon, 13 Jun 2022 25:61:00 +0800", at(13, 12)),
    ],
    ids=["iso", "localised", "no-zone", "cst", "gmt-plus", "epoch", "impossible"],
)
def test_a_malformed_or_implausible_date_never_breaks_or_skews_the_report(
    sent, header: str, received
) -> None:
    """The report's time comes from the Date header only when it is readable and plausible: not in the
    future, not before we sent the form; a zone-less date is the bureau's local time."""
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    raw = re.sub(
        rb"Date: [^\r\n]*",
        b"Date: " + header.encode(),
        _plain_reply(fm, JCG, "回复：" + fm.dispatch.subject, thread=True),
    )
    feed(settings, engine, "date.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")
    with atomic(engine) as s:
        sub = s.scalars(select(Submission)).one()
        assert (sub.received_at, sub.late) == (received, False)


def _with_attachment(
    fm: FormMail, sender: str, data: bytes, disposition: str, ctype: str = DOCX_TYPE
) -> bytes:
    return message(
        f"""From: {sender}
To: {BUREAU}
Subject: =?utf-8?B?{base64.b64encode(("回复：" + fm.dispatch.subject).encode()).decode()}?=
Date: {date(13, 15)}
Message-ID: <att-{abs(hash(disposition))}@jyj.example.gov.cn>
In-Reply-To: {fm.dispatch.message_id}
MIME-Version: 1.0""",
        multipart(
            "mixed",
            "b2_att",
            part(
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
                b64("见附件。".encode()),
            ),
            part(
                f"Content-Type: {ctype}\nContent-Disposition: {disposition}\nContent-Transfer-Encoding: base64",
                b64(data),
            ),
        ),
    )


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="=?utf-8?B?6L+b5bGV5oOF5Ya16KGoLkRPQ1g=?="',  # 进展情况表.DOCX
        "attachment; filename*=utf-8''%E8%A1%A8.docx%20",  # "表.docx " (trailing space)
        'attachment; filename="=?GB2312?B?se0uZG9jeCA=?="',  # "表.docx " in GB2312
        'inline; filename="%E8%BF%9B%E5%B1%95.docx"',  # Apple Mail: inline, percent-escaped but not RFC 2231
    ],
    ids=["upper-case", "trailing-space-2231", "trailing-space-2047", "inline"],
)
def test_odd_attachment_names_are_still_the_form(sent, disposition: str) -> None:
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    feed(settings, engine, "names.eml", _with_attachment(fm, JCG, fm.filled, disposition))
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")


def test_an_oversized_form_is_answered_with_its_size_not_with_no_form_found(sent) -> None:
    """
    GIVEN 基财股 replies with a 25 MB .docx (photos pasted into the form) — over the 20 MB cap
    WHEN  intake takes it in
    THEN  nothing is recorded as a report; 基财股 is told the file was too big (not that nothing was
          attached), and the message is kept in the archive
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    big = fm.filled + b"\0" * (25 * 2**20)
    feed(settings, engine, "big.eml", _with_attachment(fm, JCG, big, 'attachment; filename="big.docx"'))
    row = newest_row(engine)
    assert row.kind == "invalid" and "上限" in row.outcome
    assert (settings.home / row.archive_path).stat().st_size > 25 * 2**20
    (reply,) = dispatches(engine, "error_reply")
    assert reply.to_addrs == [JCG]
    text = read_message(settings.path(reply.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "big.docx" in text and "25.0 MB" in text and "没有找到" not in text
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0


# -- what offices do besides answering with the form -----------------------------------------------------


def test_an_inline_forward_keeping_our_blank_form_ahead_of_the_filled_one(sent) -> None:
    """
    GIVEN 基财股 forwards our form mail ("转发:", no In-Reply-To): our blank form stays attached, the
          filled one is added after it, under the same name
    WHEN  intake takes it in
    THEN  the filled form is the report, not the blank one (no error reply about empty cells)
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    blank = the_form(settings, fm.dispatch)[1]
    name = words(fm.filename, "gb2312", CP936)
    attach = f'Content-Type: {DOCX_TYPE};\n\tname="{name}"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment'
    raw = message(
        f"""From: "{words("基财股", "gb2312", CP936)}" <{JCG}>
To: {BUREAU}
Subject: {words("转发: " + fm.dispatch.subject, "gb2312", CP936, chars=18)}
Date: {date(13, 11)}
Message-ID: <000c01d88060$aa1b2c30$fe518490$@jyj.example.gov.cn>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0""",
        multipart(
            "mixed",
            "----=_NextPart_000_000D_01D880A3.B83E6C30",
            part(
                'Content-Type: text/plain;\n\tcharset="gb2312"\nContent-Transfer-Encoding: base64',
                b64(
                    f"填好了，请查收。\r\n\r\n发件人: 局办公室 <{BUREAU}>\r\n主题: {fm.dispatch.subject}\r\n".encode(
                        CP936
                    )
                ),
            ),
            part(attach, b64(blank)),
            part(attach, b64(fm.filled)),
        ),
    )
    feed(settings, engine, "fwd-inline.eml", raw)
    assert_submitted(settings, engine, "基财股", JCG, "subject_token")


def test_our_form_mail_forwarded_back_with_a_question_is_no_report(sent) -> None:
    """
    GIVEN 基财股 forwards our form mail back as an attachment (message/rfc822, our blank form inside) to ask
          a question
    WHEN  intake takes it in
    THEN  the blank form we sent is not taken for a report: no invalid submission (the status stays 已发送),
          no list of empty cells — only the reminder that the filled form is to be attached
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    ours = settings.path(fm.dispatch.eml_path).read_bytes().decode("ascii").replace("\r\n", "\n")
    raw = message(
        f"""From: {JCG}
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode(("转发：" + fm.dispatch.subject).encode()).decode()}?=
Date: {date(13, 9)}
Message-ID: <question-1@jyj.example.gov.cn>
MIME-Version: 1.0""",
        multipart(
            "mixed",
            "------------Qu3st10n",
            part(
                "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64",
                b64("局办公室：第2项的时间节点能否调整到9月？请指示。\r\n".encode()),
            ),
            part("Content-Type: message/rfc822\nContent-Disposition: attachment", ours),
        ),
    )
    feed(settings, engine, "question.eml", raw)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0
    assert dispatches(engine, "quarantine_notice") == []
    (reply,) = dispatches(engine, "error_reply")
    text = read_message(settings.path(reply.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "没有找到进展情况表附件" in text and "培英职业技术学校" not in text  # no row-by-row findings


def test_thanks_for_the_receipt_and_a_question_by_new_mail_get_no_automatic_answer(sent) -> None:
    """
    GIVEN 基财股 has reported; it answers our receipt "收到，谢谢！", and later writes a new mail to the
          bureau about something else (no token, no thread)
    WHEN  intake takes them in
    THEN  neither is told "no form attached": both are left for the bureau office to read
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    feed(settings, engine, "form.eml", _plain_reply(fm, JCG, "回复：" + fm.dispatch.subject, thread=True))
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(13, 16))
    (receipt,) = dispatches(engine, "receipt")
    thanks = message(
        f"""From: {JCG}
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode(("回复：" + receipt.subject).encode()).decode()}?=
Date: {date(13, 16, 30)}
Message-ID: <thanks-1@jyj.example.gov.cn>
In-Reply-To: {receipt.message_id}
References: {fm.dispatch.message_id} {receipt.message_id}
MIME-Version: 1.0""",
        part(
            "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64",
            b64("收到，谢谢！".encode()),
        ),
    )
    feed(settings, engine, "thanks.eml", thanks)
    assert newest_row(engine).kind == "unrelated"
    other = message(
        f"""From: {JCG}
To: {BUREAU}
Subject: =?UTF-8?B?{base64.b64encode("关于报送教师培训名单的函".encode()).decode()}?=
Date: {date(15, 9)}
Message-ID: <other-1@jyj.example.gov.cn>
MIME-Version: 1.0""",
        part(
            "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64",
            b64("局办公室：名单见正文。".encode()),
        ),
    )
    feed(settings, engine, "other.eml", other, day=15)
    assert newest_row(engine).kind == "unrelated"
    assert dispatches(engine, "error_reply") == [] and dispatches(engine, "quarantine_notice") == []


def test_a_from_header_encoding_the_address_with_the_name(sent) -> None:
    """Some clients put the whole "name <address>" in one RFC 2047 word: the address is still read."""
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    sender = f"=?gb2312?B?{base64.b64encode(f'基财股 <{JCG}>'.encode(CP936)).decode()}?="
    feed(
        settings,
        engine,
        "encoded-from.eml",
        _plain_reply(fm, sender, "回复：" + fm.dispatch.subject, thread=True),
    )
    assert newest_row(engine).from_addr == JCG
    assert_submitted(settings, engine, "基财股", JCG, "in_reply_to")


def test_a_form_sent_as_a_qq_super_large_attachment_link_is_explained(sent) -> None:
    """
    GIVEN 基财股's QQ mail turned the form into a "超大附件": a download link in the HTML, nothing attached
    WHEN  intake takes it in
    THEN  基财股 is told the link cannot be used and to attach the .docx itself — not "nothing attached"
    """
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    html = (
        '<div>局办公室：表格见附件。</div><div><br></div><div style="padding:2px 0 0 0;font-family:verdana;'
        'font-size:12px;"><div><span style="font-size:14px;">从QQ邮箱发来的超大附件</span></div><div style="padding:'
        '6px 10px 10px 8px;"><a href="https://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download&amp;k=2f6'
        f'd3a1b&amp;code=7c2d" target="_blank">{esc(fm.filename)}</a> (25.13M, 2022年07月13日 10:30 到期)</div></div>'
    )
    raw = html_only(
        f"""From: "{words("基财股", "gb18030")}" <{JCG}>
To: {BUREAU}
Subject: {words("回复：" + fm.dispatch.subject, "gb18030", chars=30)}
Date: {date(13, 10, 30)}
Message-ID: <tencent_4C6E8A0B2D4F6A8C0E2B4D6F8A0C2E4B6D08@qq.com>
X-Mailer: QQMail 2.x
In-Reply-To: {fm.dispatch.message_id}""",
        html,
        charset='"gb18030"',
        codec="gb18030",
    )
    feed(settings, engine, "qq-ftn.eml", raw)
    assert newest_row(engine).kind == "invalid"
    (reply,) = dispatches(engine, "error_reply")
    text = read_message(settings.path(reply.eml_path).read_bytes(), max_attachment_bytes=10**8).text
    assert "超大附件" in text and "普通附件" in text and "没有找到" not in text


def test_a_message_cut_off_in_the_middle_of_the_form(sent) -> None:
    """A message truncated in transit (no closing boundary, half the base64): the damaged form is refused
    with a reason the office understands; nothing crashes and nothing is recorded as a report."""
    settings, engine = sent
    fm = form_mail(settings, engine, "基财股")
    raw = outlook_reply(fm, JCG)
    feed(settings, engine, "cut.eml", raw[: len(raw) - len(fm.filled) // 2])
    row = newest_row(engine)
    assert row.kind == "invalid" and "损坏" in row.outcome
    (reply,) = dispatches(engine, "error_reply")
    assert reply.to_addrs == [JCG]
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Submission.id))) == 0


def test_an_office_answering_in_another_offices_thread_with_its_own_form(sent) -> None:
    """
    GIVEN 基财股 replies in 人事股's thread (In-Reply-To and subject token of 人事股's form mail, e.g. a mail
          that was forwarded to it) with 基财股's own filled form
    WHEN  intake takes it in
    THEN  the form's own token decides: it is 基财股's report, not a stranger's form to quarantine
    """
    settings, engine = sent
    ours, theirs = form_mail(settings, engine, "基财股"), form_mail(settings, engine, "人事股")
    mixed = FormMail(theirs.dispatch, theirs.token, ours.filename, ours.filled, theirs.text, theirs.html)
    feed(
        settings,
        engine,
        "wrong-thread.eml",
        _plain_reply(mixed, JCG, "回复：" + theirs.dispatch.subject, thread=True),
    )
    assert_submitted(settings, engine, "基财股", JCG, "docx_token")


def test_one_mail_with_the_forms_of_two_offices_sharing_an_address(sent) -> None:
    """
    GIVEN one clerk reports for 基财股 and 基安股 from jcg@ (listed under both offices) and answers 基财股's
          form mail with both filled forms attached
    WHEN  intake takes it in
    THEN  each form becomes its own office's report — neither is silently dropped
    """
    from mailer.registry.model import Office, OfficeAddress

    settings, engine = sent
    with atomic(engine) as s:
        jag = s.scalars(select(Office).where(Office.name == "基安股")).one()
        s.add(OfficeAddress(office_id=jag.id, email=JCG, position=5))
    jcg, other = form_mail(settings, engine, "基财股"), form_mail(settings, engine, "基安股")
    attach = "Content-Type: {t}; name*=utf-8''{n}\nContent-Disposition: attachment; filename*=utf-8''{n}\n"
    raw = message(
        f"""From: {JCG}
To: {BUREAU}
Subject: =?utf-8?B?{base64.b64encode(("回复：" + jcg.dispatch.subject).encode()).decode()}?=
Date: {date(13, 15)}
Message-ID: <two-forms@jyj.example.gov.cn>
In-Reply-To: {jcg.dispatch.message_id}
MIME-Version: 1.0""",
        multipart(
            "mixed",
            "b3_two",
            part(
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
                b64("两个股室的表。".encode()),
            ),
            part(
                attach.format(t=DOCX_TYPE, n=pct(jcg.filename, "utf-8"))
                + "Content-Transfer-Encoding: base64",
                b64(jcg.filled),
            ),
            part(
                attach.format(t=DOCX_TYPE, n=pct(other.filename, "utf-8"))
                + "Content-Transfer-Encoding: base64",
                b64(other.filled),
            ),
        ),
    )
    feed(settings, engine, "two.eml", raw)
    row = newest_row(engine)
    assert row.kind == "form" and "基财股" in row.outcome and "基安股" in row.outcome
    with atomic(engine) as s:
        subs = {sub.office.name: (sub.state, len(sub.entries)) for sub in s.scalars(select(Submission))}
    assert subs == {"基财股": ("pending_approval", 3), "基安股": ("pending_approval", 2)}
    assert [d.to_addrs for d in dispatches(engine, "approval_request")] == [[CHENZM], [CHENZM]]
    assert dispatches(engine, "error_reply") == [] and dispatches(engine, "quarantine_notice") == []


# -- the signer -------------------------------------------------------------------------------------------


def awaiting_signoff(settings: Settings, engine: Engine) -> Request:
    """Nobody reported: after the grace day the period waits; the clerk assembles it anyway (`duban assemble
    --force`, all 未报送) and it is sent to 林振华."""
    from mailer.registry.model import Period
    from mailer.service.cycle import assemble_period

    with open_transport(settings) as t:
        run_once(settings, engine, t, at(29))
        assert dispatches(engine, "signoff_request") == []
        with atomic(engine) as s:
            pid = s.scalars(select(Period.id)).one()
        assemble_period(settings, engine, pid)
        run_once(settings, engine, t, at(29, 10))
    (d,) = dispatches(engine, "signoff_request")
    assert d.to_addrs == ["linzh@jyj.example.gov.cn"]
    text, html = request_mail(settings, d)
    assert "同意" in text and "退回" in text
    return Request(d, text, html)


def test_the_signers_coremail_html_approval_signs_the_notice_off(sent) -> None:
    from mailer.registry.model import Period

    settings, engine = sent
    req = awaiting_signoff(settings, engine)
    html = webmail_html(
        "<div>同意印发。</div><div><br></div><div>林振华</div>",
        f'<div>在 2022-06-29 09:00:00，"局办公室" &lt;{BUREAU}&gt; 写道：</div>',
        req.html,
    )
    raw = html_only(
        f"""Date: Wed, 29 Jun 2022 15:12:40 +0800 (GMT+08:00)
From: =?UTF-8?B?{base64.b64encode("林振华".encode()).decode()}?= <linzh@jyj.example.gov.cn>
To: {BUREAU}
Message-ID: <1a2b3c4d.5e6f.18187a2b3c4.Coremail.linzh@jyj.example.gov.cn>
{req.thread}
Subject: {words("Re:" + req.subject, "UTF-8", chars=20, fold=chr(10) + chr(9))}""",
        html,
    )
    feed(settings, engine, "signer.eml", raw, day=29)
    row = newest_row(engine)
    assert row.kind == "signoff", row.outcome
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "signed_off"
        assert s.scalars(select(Approval)).one().decision == "approved"


def test_the_signers_outlook_return_reaches_the_bureau_with_his_comment(sent) -> None:
    from mailer.registry.model import Period

    settings, engine = sent
    req = awaiting_signoff(settings, engine)
    own = ["退回。请补充未报送股室的原因说明。", "", "林振华"]
    html = outlook_html(
        "gb2312",
        own,
        f"局办公室 &lt;{BUREAU}&gt;",
        "林振华 &lt;linzh@jyj.example.gov.cn&gt;",
        "2022年6月29日 9:00",
        esc(req.subject),
        req.html,
    )
    raw = message(
        f"""From: "{words("林振华", "gb2312", CP936)}" <linzh@jyj.example.gov.cn>
To: {BUREAU}
Subject: {words("答复: " + req.subject, "gb2312", CP936, chars=18)}
Date: Wed, 29 Jun 2022 16:01:00 +0800
Message-ID: <003301d88b9c$44556670$ccddeef0$@jyj.example.gov.cn>
{req.thread}
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0""",
        part(
            'Content-Type: text/html;\n\tcharset="gb2312"\nContent-Transfer-Encoding: quoted-printable',
            qp(html.replace("\n", "\r\n"), CP936),
        ),
    )
    feed(settings, engine, "signer-return.eml", raw, day=29)
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "assembling"
        assert s.scalars(select(Approval)).one().comment == "请补充未报送股室的原因说明。"
    (back,) = dispatches(engine, "signoff_returned")
    assert back.to_addrs == [BUREAU]
