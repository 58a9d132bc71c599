"""Reading incoming mail as Chinese offices really send it: headers, body text, attachments, auto-replies.

Parsing uses the ``compat32`` tree and decodes everything here, because neither stdlib policy is right for
Chinese mail (libraries.md §4): ``compat32`` returns RFC 2047 file names raw, ``policy.default`` silently
turns GBK characters in parts labelled gb2312 into U+FFFD. So every gb2312/gbk/cp936 label is decoded as
GB18030 (a superset), unlabelled or mislabelled 8-bit text is tried as UTF-8 and then GB18030, and file
names are taken from RFC 2231 (with continuations), RFC 2047, or raw 8-bit parameters alike.

Attachments are collected from the whole tree, including forwarded ``message/rfc822`` parts (marked
``from_forward``, and ``from_us`` inside a mail duban sent) and Outlook's TNEF ``winmail.dat``. Their names
are NFC-normalised and sanitised; a name never becomes a path. Anything over the size cap is dropped with a
note (and listed in ``dropped``).

Machines' mail is told apart: auto-replies and read receipts (RFC 3834 headers, MDNs, 自动回复/已读
subjects), bounces (DSNs, MAILER-DAEMON, 系统退信) with the recipients' delivery status and the Message-ID
of the returned message. HTML-only mail keeps its <blockquote> quotes as "> " lines, so that a reply's quote
is recognised whatever the client writes above it.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import logging
import quopri
import re
import unicodedata
from dataclasses import dataclass, field
from email.errors import InvalidBase64LengthDefect
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

import pathvalidate

from mailer.htmltext import html_to_text, unflow
from mailer.mailcharset import codec_for, decode_bytes, decode_header_text, plain_ascii, raw_bytes

log = logging.getLogger(__name__)

MAX_DEPTH = 12  # nested forwards; deeper is not mail a person wrote
MAX_ATTACHMENTS = 100
_NAME_MAX_BYTES = 180
_EXTENSIONS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/vnd.ms-works": ".wps",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "text/plain": ".txt",
    "text/html": ".html",
    "message/rfc822": ".eml",
}
_MSGID = re.compile(r"<[^<>\s]+>")
_AUTO_SUBJECT = re.compile(
    r"自动回复|自动答复|自動回覆|自动应答|休假|不在办公室|auto[ -]?reply|automatic reply|autoreply|auto[ -]?response|"
    r"out of (the )?office|abwesenheit",
    re.IGNORECASE,
)
# Read receipts that are not multipart/report MDNs (Foxmail, some web mail, Outlook's "已读:"/"未读:" when
# converted): recognised by the subject's prefix only. A bare "回执" is not one: offices send forms titled so.
_RECEIPT_SUBJECT = re.compile(
    r"\s*(?:已读|已讀|已阅读|已閱讀|未读|未讀|阅读回执|閱讀回執|已读回执|read|not read|read receipt|"
    r"return receipt)\s*[:：]",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = ("mailer-daemon", "mail-daemon", "postmaster", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|returned mail|delivery failure|failure notice|退信|未送达|无法投递|"
    r"投递失败|发送失败",
    re.IGNORECASE,
)
# A file sent as a download link instead of an attachment: QQ/163 "超大附件", Coremail "云附件"
# (offered by the client itself when a file is big). Nothing to download for us; the sender must be told.
_LINKED_ATTACHMENT = re.compile(
    r"超大附件|云附件|雲附件|大附件下载|ftnExs_download|large-attachment|cloud-attachment|bigattach",
    re.IGNORECASE,
)
_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
_SKIPPED_LEAVES = ("message/disposition-notification", "message/global-disposition-notification")
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_HEADERS = ("text/rfc822-headers", "message/global-headers")


@dataclass(frozen=True)
class Attachment:
    """One attached file: a safe file name (never a path), its bytes and declared type."""

    filename: str
    data: bytes
    content_type: str
    from_forward: bool = False
    from_us: bool = False  # inside a message duban itself sent (forwarded back or bounced): our own file


@dataclass(frozen=True)
class DeliveryStatus:
    """One recipient's line of a delivery status report (RFC 3464), or of X-Failed-Recipients.

    ``action`` is ``failed``, ``delayed``, ``delivered``, ``relayed`` or ``expanded`` (lower case).
    """

    recipient: str
    action: str
    status: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class Dropped:
    """An attachment left out because of its size: its name and size are all that is kept."""

    filename: str
    size: int


@dataclass
class ReadMessage:
    """What duban needs from one incoming message, all decoded.

    ``auto`` is ``"auto_reply"`` (out-of-office, read receipts, anything RFC 3834 marks automatic),
    ``"bounce"`` (delivery status reports, MAILER-DAEMON) or None for mail a person wrote.
    ``is_ours`` is True for mail duban itself sent (our Auto-Submitted marker from our own address): a loop.
    ``returned_ids`` are the Message-IDs of the messages a bounce (or a forward) carries inside, and
    ``delivery`` what a bounce says about each recipient: together they tie a bounce to the mail we sent.
    ``dropped`` are attachments left out for their size (also explained in ``notes``), and
    ``linked_attachment`` says the body offers a file as a download link (QQ/163 超大附件, 云附件) instead.
    """

    message_id: str = ""
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_addr: str = ""
    from_name: str = ""
    reply_to: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    date: dt.datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    auto: str | None = None
    is_ours: bool = False
    notes: list[str] = field(default_factory=list)
    returned_ids: list[str] = field(default_factory=list)
    delivery: list[DeliveryStatus] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    linked_attachment: bool = False


# -- decoding helpers -------------------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str | None:
    """The raw (undecoded) first value of a header, or None."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _headers(msg: Message, name: str) -> list[str]:
    return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(decoded display name, lower-cased address) pairs of an address header (all its occurrences)."""
    values = _headers(msg, name)
    if not values:
        return []
    out = []
    for value in values:
        value = re.sub(r"\r?\n(?=[ \t])", "", value)
        pairs = getaddresses([value])
        if "=?" in value and not any("@" in a and "=?" not in a for _, a in pairs):
            # Some clients encode the address together with the name: =?gb2312?B?<"基财股 <a@b>">?=.
            # Only then is the header decoded before parsing (a decoded name may hold commas or quotes).
            decoded = getaddresses([decode_header_text(value)])
            if any("@" in a for _, a in decoded):
                pairs = decoded
        for display, addr in pairs:
            addr = plain_ascii(addr).strip().strip("<>").lower()
            if addr:
                out.append((decode_header_text(display), addr))
    return out


def _message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


_GMT_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*([+-])(\d{1,2}):?(\d{2})?\s*$", re.IGNORECASE)
_COMMENT_AT_END = re.compile(r"\s*\([^()]*\)\s*$")
_BARE_CST = re.compile(r"\s+CST\s*$", re.IGNORECASE)


def _date(value: str | None, local_zone: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """The Date header as an aware datetime, or None when it cannot be read.

    Chinese mail carries a few non-RFC forms, read here as their senders meant them: "GMT+0800" /
    "UTC+08:00" (Java mailers) as that offset; a bare "CST" (old Chinese servers) and a date with no zone
    at all as ``local_zone`` — the bureau's own time — rather than Chicago's or UTC. "-0000" stays UTC.
    """
    if not value:
        return None
    text = _COMMENT_AT_END.sub("", re.sub(r"\s+", " ", value)).strip()
    local = False
    if m := _GMT_OFFSET.search(text):
        text = f"{text[: m.start()].rstrip()} {m.group(1)}{int(m.group(2)):02d}{m.group(3) or '00'}"
    elif _BARE_CST.search(text):
        text, local = _BARE_CST.sub("", text), True
    try:
        d = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if d is None:
        return None
    if d.tzinfo is None:
        local = local or not text.endswith("-0000")
        d = d.replace(tzinfo=local_zone if local else dt.UTC)
    return d


# -- body text --------------------------------------------------------------------------------------------


def _simple_param(part: Message, name: str) -> str:
    """A plain Content-Type parameter (format, delsp, report-type…), lower-cased; "" when absent."""
    value = part.get_param(name)
    return value.strip().lower() if isinstance(value, str) else ""


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = decode_bytes(payload, part.get_content_charset()).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and _simple_param(part, "format") == "flowed":
        text = unflow(text, delsp=_simple_param(part, "delsp") == "yes")
    return text


# -- attachments ------------------------------------------------------------------------------------------


def _param(part: Message, name: str, header: str) -> str | None:
    raw = _header(part, header)
    if raw is not None and not raw.isascii():
        # Raw 8-bit parameters (GBK or UTF-8 without any encoding): compat32 would turn them into U+FFFD.
        tmp = Message()
        tmp[header] = plain_ascii(raw)
        value = tmp.get_param(name, header=header)
    else:
        value = part.get_param(name, header=header)
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded latin-1 text)
        charset, _, text = value
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            data = raw_bytes(text)
        return decode_bytes(data, charset or None)
    return decode_header_text(str(value))


def raw_filename(part: Message) -> str:
    """The attachment name as the sender wrote it, decoded (may be empty or contain a path)."""
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = _param(part, name, header)
        if value and value.strip():
            return value.strip()
    return ""


def safe_filename(name: str, content_type: str = "application/octet-stream") -> str:
    """A file name safe to store: NFC, last path component only, sanitised, short; "附件.docx"-style fallback.

    A name without an extension gets the one its content type implies (``进展表`` + docx → ``进展表.docx``).
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    name = pathvalidate.sanitize_filename(name, platform="universal", replacement_text="_")
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext or len(ext) > 10 or " " in ext:
        stem, ext = name, ""
    else:
        ext = "." + ext
    stem = stem.strip().lstrip(".").rstrip(" .")
    while len(stem.encode("utf-8")) > _NAME_MAX_BYTES:
        stem = stem[:-1]
    result = f"{stem or '附件'}{ext or _EXTENSIONS.get(content_type.lower(), '')}"
    # Once more: the stem may have become a reserved name (CON, NUL…) only now.
    return pathvalidate.sanitize_filename(result, platform="universal", replacement_text="_") or "附件"


def _tnef_files(data: bytes) -> tuple[list[tuple[str, bytes]], str]:
    """(name, bytes) of each file inside a TNEF winmail.dat, and its plain body if any.

    :raises ValueError: not TNEF, or too broken to read
    """
    from tnefparse.properties import MAPI_ATTACH_LONG_FILENAME
    from tnefparse.tnef import TNEF

    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception as e:
        raise ValueError(f"unreadable TNEF ({type(e).__name__}: {e})") from e
    # tnefparse strips trailing NUL bytes from MAPI data objects (a .docx's zip directory ends in NULs), so
    # take each file's bytes from its attAttachData object where there is one.
    raw: list[bytes | None] = []
    for obj in tnef.objects:
        if obj.name == TNEF.ATTATTACHRENDDATA:
            raw.append(None)
        elif obj.name == TNEF.ATTATTACHDATA and obj.level == TNEF.LVL_ATTACHMENT and raw:
            raw[-1] = bytes(obj.data)
    files = []
    codec = codec_for(tnef.codepage) if isinstance(tnef.codepage, str) else None
    for i, att in enumerate(tnef.attachments):
        names = [a.data for a in att.mapi_attrs if a.name == MAPI_ATTACH_LONG_FILENAME]
        name = names[0] if names and isinstance(names[0], str) else ""
        if not name:
            short = att._name  # the 8.3 title; tnefparse's .name assumes UTF-8, Chinese Outlook writes cp936
            name = decode_bytes(short.rstrip(b"\0"), codec) if isinstance(short, bytes) else str(short)
        body = raw[i] if i < len(raw) and raw[i] is not None else att.data
        if isinstance(body, bytes) and body:
            files.append((name.strip("\x00"), body))
    text = tnef.body if isinstance(tnef.body, str) else decode_bytes(tnef.body, codec) if tnef.body else ""
    return files, text


class _Reader:
    def __init__(self, max_attachment_bytes: int, own_address: str = "") -> None:
        self.cap = max_attachment_bytes
        self.own_address = own_address
        self.inside_ours = 0  # how many of the messages around the current part are our own
        self.text: str | None = None
        self.html: str | None = None
        self.tnef_text = ""
        self.attachments: list[Attachment] = []
        self.notes: list[str] = []
        self.dropped: list[Dropped] = []
        self.returned_ids: list[str] = []
        self.delivery: list[DeliveryStatus] = []
        self.bounce = False
        self.receipt = False
        self._names: set[str] = set()

    def add(self, name: str, data: bytes, content_type: str, *, forwarded: bool) -> None:
        filename = safe_filename(name, content_type)
        if len(data) > self.cap:
            self.notes.append(
                f"附件“{filename}”大小 {len(data) / 2**20:.1f} MB，超过 {self.cap / 2**20:.0f} MB 的上限，已忽略。"
            )
            self.dropped.append(Dropped(filename, len(data)))
            return
        if len(self.attachments) >= MAX_ATTACHMENTS:
            self.notes.append(f"附件超过 {MAX_ATTACHMENTS} 个，“{filename}”及其后的附件已忽略。")
            return
        stem, dot, ext = filename.rpartition(".")
        base, suffix = (stem, dot + ext) if dot else (filename, "")
        n = 1
        while filename.lower() in self._names:
            n += 1
            filename = f"{base}({n}){suffix}"
        self._names.add(filename.lower())
        self.attachments.append(Attachment(filename, data, content_type, forwarded, self.inside_ours > 0))

    def walk(self, part: Message, *, forwarded: bool = False, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            self.notes.append("邮件嵌套层次过深，其余部分已忽略。")
            return
        ctype = part.get_content_type()
        if ctype in _DSN_TYPES:
            # Parsed before the multipart branch: compat32 makes its field blocks sub-"messages".
            self.delivery.extend(_delivery_status(part))
            return
        if ctype in _RETURNED_HEADERS:
            self.returned(_returned_headers(part))
            return
        if ctype in ("message/rfc822", "message/global"):
            for sub in _inner_messages(part):
                self.returned(sub)
                self.inner(sub, depth)
            return
        if ctype == "multipart/report":
            report = _simple_param(part, "report-type")
            self.bounce = self.bounce or report == "delivery-status"
            self.receipt = self.receipt or report == "disposition-notification"
        if part.is_multipart():
            subs = part.get_payload()
            for child in subs if isinstance(subs, list) else []:
                if isinstance(child, Message):
                    self.walk(child, forwarded=forwarded, depth=depth + 1)
            return
        if ctype in _SKIPPED_LEAVES:
            return
        name = raw_filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in ("text/plain", "text/html") and not name and disposition != "attachment":
            if not forwarded:
                if ctype == "text/plain" and self.text is None:
                    self.text = _part_text(part)
                elif ctype == "text/html" and self.html is None:
                    self.html = _part_text(part)
            return
        data = _attachment_bytes(part)
        if not isinstance(data, bytes):
            return
        if ctype in _TNEF_TYPES or name.lower() == "winmail.dat":
            self.tnef(data, name or "winmail.dat", forwarded=forwarded)
            return
        if name.lower().endswith(".eml") and len(data) <= self.cap:
            inner = email.message_from_bytes(data, policy=compat32)
            if inner.keys():  # a message forwarded as an .eml file: look inside, as for message/rfc822
                self.returned(inner)
                self.inner(inner, depth)
                return
        self.add(name, data, ctype, forwarded=forwarded)

    def inner(self, sub: Message, depth: int) -> None:
        """Walk a message carried inside this one, remembering whether it is one of ours."""
        ours = _sent_by_us(sub, self.own_address)
        self.inside_ours += ours
        try:
            self.walk(sub, forwarded=True, depth=depth + 1)
        finally:
            self.inside_ours -= ours

    def returned(self, inner: Message | None) -> None:
        """Remember the Message-ID of a message carried inside this one (a bounce's original)."""
        for mid in _message_ids(_header(inner, "Message-ID")) if inner is not None else []:
            if mid not in self.returned_ids:
                self.returned_ids.append(mid)

    def tnef(self, data: bytes, name: str, *, forwarded: bool) -> None:
        if len(data) > self.cap:
            self.add(name, data, "application/ms-tnef", forwarded=forwarded)  # dropped with a note
            return
        try:
            files, text = _tnef_files(data)
        except ValueError as e:
            self.notes.append(f"Outlook 附件包 {name} 无法解开（{e}），按原样保留。")
            self.add(name, data, "application/ms-tnef", forwarded=forwarded)
            return
        for fname, fdata in files:
            self.add(fname, fdata, _type_for(fname), forwarded=forwarded)
        if text and not forwarded:
            self.tnef_text = self.tnef_text or text


def _field(block: Message, name: str) -> str:
    """A DSN field's value without its type prefix ("rfc822; a@b" → "a@b"), whitespace collapsed."""
    value = re.sub(r"\s+", " ", decode_header_text(_header(block, name))).strip()
    return value.split(";", 1)[1].strip() if ";" in value else value


def _delivery_status(part: Message) -> list[DeliveryStatus]:
    """The per-recipient blocks of a message/delivery-status part (RFC 3464)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    else:  # encoded, or not split by the parser: the blocks are separated by blank lines
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload or "")
        blocks = [
            email.message_from_string(b.strip() + "\n", policy=compat32) for b in re.split(r"\n\s*\n", text)
        ]
    out = []
    for block in blocks:
        recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
        if not recipient:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        out.append(
            DeliveryStatus(
                recipient=recipient.strip("<>").lower(),
                action=_field(block, "Action").lower(),
                status=_field(block, "Status"),
                diagnostic=_field(block, "Diagnostic-Code")[:300],
            )
        )
    return out


def _attachment_bytes(part: Message) -> bytes | None:
    """The part's decoded bytes. A message cut off in transit can end inside a base64 quartet, and then the
    email package hands back the *encoded* text: decode what arrived, so a truncated form is refused as
    damaged rather than as "not a Word document" (which depended on where the cut fell)."""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes) and any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
        usable = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data = binascii.a2b_base64(usable[: len(usable) // 4 * 4])
    return data if isinstance(data, bytes) else None


def _returned_headers(part: Message) -> Message | None:
    """The headers of a returned message (text/rfc822-headers), parsed."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return None
    return email.message_from_bytes(data, policy=compat32)


def _inner_messages(part: Message) -> list[Message]:
    """The message(s) inside a message/rfc822 part, also when a client base64-encoded it (not allowed by
    RFC 2046, but done): then the parser saw no headers, only the encoded text."""
    inner = [
        m
        for m in (part.get_payload() if isinstance(part.get_payload(), list) else [])
        if isinstance(m, Message)
    ]
    cte = (part.get("Content-Transfer-Encoding") or "").strip().lower()
    if cte in ("base64", "quoted-printable") and len(inner) == 1 and not inner[0].keys():
        text = inner[0].get_payload()
        if isinstance(text, str):
            data = text.encode("ascii", "ignore")
            raw = binascii.a2b_base64(data) if cte == "base64" else quopri.decodestring(data)
            return [email.message_from_bytes(raw, policy=compat32)]
    return inner


def _type_for(filename: str) -> str:
    ext = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    for ctype, e in _EXTENSIONS.items():
        if e == ext:
            return ctype
    return "application/octet-stream"


def _sent_by_us(msg: Message, own_address: str) -> bool:
    """Mail duban sent: our Auto-Submitted marker, from our address (or, without it, our X-Mailer)."""
    if (_header(msg, "Auto-Submitted") or "").split(";")[0].strip().lower() != "auto-generated":
        return False
    if own_address:
        senders = _addresses(msg, "From")
        return bool(senders) and senders[0][1] == own_address.strip().lower()
    return (_header(msg, "X-Mailer") or "").startswith("duban")


def _auto_kind(msg: Message, reader: _Reader, from_addr: str, from_name: str, subject: str) -> str | None:
    local = from_addr.split("@", 1)[0]
    if reader.bounce or _header(msg, "X-Failed-Recipients") is not None:
        return "bounce"
    if local in _BOUNCE_SENDERS and (local != "postmaster" or _BOUNCE_SUBJECT.search(subject)):
        return "bounce"
    if "mail delivery" in from_name.lower() and _BOUNCE_SUBJECT.search(subject):
        return "bounce"
    auto_submitted = (_header(msg, "Auto-Submitted") or "").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_reply"
    if any(_header(msg, h) is not None for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return "auto_reply"
    if (_header(msg, "Precedence") or "").strip().lower() in ("bulk", "junk", "auto_reply"):
        return "auto_reply"
    if reader.receipt or _AUTO_SUBJECT.search(subject[:60]) or _RECEIPT_SUBJECT.match(subject):
        return "auto_reply"
    return None


def read_message(
    raw: bytes, *, max_attachment_bytes: int, own_address: str = "", local_zone: dt.tzinfo = dt.UTC
) -> ReadMessage:
    """Decode one raw RFC 822 message into a :class:`ReadMessage`.

    Never raises on malformed mail: what cannot be read is left empty and explained in ``notes``.

    :param raw: the message exactly as fetched
    :param max_attachment_bytes: attachments (and TNEF packages) larger than this are dropped with a note
    :param own_address: duban's own from_address; mail from it carrying our Auto-Submitted marker is
        ``is_ours`` (without it, our X-Mailer marks it)
    :param local_zone: the zone of a Date header that names none (the bureau's own)
    """
    msg = email.message_from_bytes(raw, policy=compat32)
    reader = _Reader(max_attachment_bytes, own_address)
    try:
        reader.walk(msg)
    except (LookupError, ValueError, TypeError, AttributeError, IndexError) as e:
        log.warning("Part of a message could not be read: %s", e)
        reader.notes.append(f"邮件的部分内容无法解析（{type(e).__name__}）。")
    for defect in msg.defects[:3]:
        reader.notes.append(f"邮件格式有缺陷：{type(defect).__name__}")

    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    from_name, from_addr = senders[0] if senders else ("", "")
    if not from_addr:
        raw_from = decode_header_text(_header(msg, "From"))
        from_addr = raw_from.strip().lower()
    subject = decode_header_text(_header(msg, "Subject"))
    html = reader.html or ""
    text = reader.text if reader.text is not None and reader.text.strip() else ""
    if not text and html:
        text = html_to_text(html)
    if not text and reader.tnef_text:
        text = reader.tnef_text
    text = text.replace("\r\n", "\n").strip("\n")
    message_ids = _message_ids(_header(msg, "Message-ID"))
    in_reply_to = _message_ids(_header(msg, "In-Reply-To"))
    references = _message_ids(" ".join(_headers(msg, "References")))
    reply_to = _addresses(msg, "Reply-To")
    delivery = list(reader.delivery)
    # Exim and Coremail name the failed recipients in a header instead of (or beside) a DSN part.
    for _, addr in _addresses(msg, "X-Failed-Recipients"):
        if addr not in {d.recipient for d in delivery}:
            delivery.append(DeliveryStatus(addr, "failed"))

    return ReadMessage(
        message_id=message_ids[0] if message_ids else "",
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_to[0][1] if reply_to else "",
        to=[a for _, a in _addresses(msg, "To")],
        cc=[a for _, a in _addresses(msg, "Cc")],
        subject=subject,
        date=_date(_header(msg, "Date"), local_zone),
        text=text,
        html=html,
        attachments=reader.attachments,
        auto=_auto_kind(msg, reader, from_addr, from_name, subject),
        is_ours=_sent_by_us(msg, own_address),
        notes=reader.notes,
        returned_ids=reader.returned_ids,
        delivery=delivery,
        dropped=reader.dropped,
        linked_attachment=bool(_LINKED_ATTACHMENT.search(f"{text}\n{html}")),
    )


__all__ = [
    "Attachment",
    "DeliveryStatus",
    "Dropped",
    "ReadMessage",
    "decode_header_text",
    "html_to_text",
    "read_message",
    "safe_filename",
]
