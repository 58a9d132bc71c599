"""Outgoing mail: Message-IDs, MIME messages that Chinese mail clients show right, and the mail-body templates.

Messages are built with the ``compat32`` MIME classes on purpose. Attachment names are written in both
forms that clients read: RFC 2231 (``filename*=utf-8''…``, Thunderbird, Apple Mail, Coremail) and RFC 2047
inside ``name="=?utf-8?b?…?="`` (Outlook over IMAP/POP, Foxmail, QQ Mail, which otherwise show
"Untitled attachment" or ``tcmime.*.bin``). Re-serialising with ``policy.SMTP`` would rewrite ``name=`` into
RFC 2231 again, so the message is flattened with compat32 and CRLF line ends (libraries.md §4).

Mail bodies come from ``templates/mail/<name>.txt`` and ``<name>.html`` (Jinja2; HTML autoescaped). The first
line of the ``.txt`` template may be ``Subject: …``. Values from the registry and from people's mail are
always passed as data, never as template source (design principle 7).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from mailer import __version__
from mailer.common.config import Settings
from mailer.common.errors import TemplateError
from mailer.common.keptenv import TemplateLoader, kept_environment
from mailer.common.templatecheck import mail_template_error
from mailer.common.templates import default_templates_dir

AUTO_SUBMITTED = "auto-generated"
AUTO_REPLIED = "auto-replied"
MAILER = f"duban {__version__}"
MAIL_TEMPLATES = "mail"

# By extension, not by the system's mime.types (which may lack the OOXML types on a bare server).
CONTENT_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".wps": "application/vnd.ms-works",
    ".zip": "application/zip",
    ".txt": "text/plain",
}
_CRLF = compat32.clone(linesep="\r\n")
_NEWLINES = re.compile(r"[\r\n]+")


def new_message_id(settings: Settings) -> str:
    """A fresh, unique Message-ID for a message we send: ``<duban.20220610T080000.1a2b3c4d5e6f7a8b@domain>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"<duban.{stamp}.{secrets.token_hex(8)}@{settings.message_id_domain}>"


def content_type_for(filename: str) -> tuple[str, str]:
    """(maintype, subtype) for an attachment name: OOXML and PDF by extension, else mimetypes, else bytes."""
    ext = Path(filename).suffix.lower()
    ctype = (
        CONTENT_TYPES.get(ext)
        or mimetypes.guess_type(filename, strict=False)[0]
        or "application/octet-stream"
    )
    main, _, sub = ctype.partition("/")
    return main, sub


def _one_line(value: str) -> str:
    """Header values never carry line breaks (no header injection from data)."""
    return _NEWLINES.sub(" ", value).strip()


def _encoded(text: str, name: str) -> str | Header:
    """A header value: RFC 2047 UTF-8 base64 encoded-words where the text is not plain ASCII.

    A Header object (not a pre-encoded string) lets the compat32 generator fold it after "Subject: " on
    the first line, in whole characters.
    """
    text = _one_line(text)
    if text.isascii():
        return text
    # Keep a leading ASCII part such as the "[DB-2206-7KQ3MX2A]" token readable in the raw header, for
    # server-side searches and for clients that mangle encoded-words when replying.
    m = re.match(r"[\x21-\x7e][\x20-\x7e]*?(?= +[^\x20-\x7e])", text)
    if m is None or len(m.group(0)) > 40:  # a long ASCII run would be folded onto a line of its own
        return Header(text, "utf-8", header_name=name)
    header = Header(m.group(0), "us-ascii", header_name=name)
    header.append(text[m.end() :].lstrip(" "), "utf-8")
    return header


def _addresses(addrs: Iterable[str]) -> str:
    """``a@x, 张三 <b@y>`` → each display name RFC 2047-encoded, each address left as it is."""
    out = []
    for a in addrs:
        name, addr = parseaddr(_one_line(a or ""))
        if addr:
            out.append(formataddr((name, addr), charset="utf-8"))
    return ", ".join(out)


class _Folded:
    """A header value written exactly as Outlook folds parameters: one per line after the first ``;``.

    compat32 would fold a long ``Content-Type`` right after the colon (legal, but an empty first line
    trips some old clients). It calls ``encode()`` on non-str values; ``str()`` gives the unfolded value,
    which is all that Message's own parameter parsing needs.
    """

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        return re.sub(r";\s*", ";" + linesep + "\t", self.value)


def attachment_part(filename: str, data: bytes) -> MIMEBase:
    """One attachment, base64, with the Chinese name in both RFC 2231 and RFC 2047 form."""
    filename = _one_line(filename)
    main, sub = content_type_for(filename)
    part = MIMEBase(main, sub)
    part.set_payload(data)
    encoders.encode_base64(part)
    if filename.isascii():
        part.set_param("name", filename)
        part.add_header("Content-Disposition", "attachment", filename=filename)
    else:
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
        # maxlinelen keeps it one encoded-word: some clients do not join a name split over several.
        part.set_param("name", Header(filename, "utf-8").encode(maxlinelen=10000))
    for header in ("Content-Type", "Content-Disposition"):
        value = str(part[header])
        part.replace_header(header, _Folded(value))  # type: ignore[arg-type]
    return part


def _text_part(text: str, subtype: str) -> MIMEText:
    # utf-8 text parts are base64 in compat32: safe for any line length and any 8-bit-hostile relay.
    return MIMEText(text.replace("\r\n", "\n").replace("\n", "\r\n"), subtype, "utf-8")


def build_message(
    settings: Settings,
    *,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    cc: Sequence[str] = (),
    attachments: Sequence[tuple[str, bytes]] = (),
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: bool = True,
) -> bytes:
    """A complete RFC 822 message (CRLF line ends), ready for ``Transport.send`` and for ``outbox/mail/``.

    :param to: recipient addresses (``"name <addr>"`` or bare ``addr``); names may be Chinese
    :param subject: the subject; encoded as RFC 2047 UTF-8 base64 when not ASCII
    :param text: the plain-text body; ``html`` adds a multipart/alternative HTML version
    :param attachments: (file name, bytes) pairs; the type follows the extension (.docx, .pdf, …)
    :param message_id: ``<…@domain>``, from :func:`new_message_id`, recorded before sending
    :param in_reply_to: the Message-ID this answers; ``references`` the thread before it
    :param auto_submitted: mark as machine-generated (``Auto-Submitted``, ``X-Auto-Response-Suppress``), so
        out-of-office replies stay away
    :raises TemplateError: ``message_id`` is not of the form ``<…@…>``
    """
    if not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message_id or ""):
        raise TemplateError(f"Message-ID {message_id!r} is not of the form <local@domain>.")
    body: MIMEBase
    if html is not None:
        body = MIMEMultipart("alternative")
        body.attach(_text_part(text, "plain"))
        body.attach(_text_part(html, "html"))
    else:
        body = _text_part(text, "plain")
    if attachments:
        msg: MIMEBase = MIMEMultipart("mixed")
        msg.attach(body)
        for name, data in attachments:
            msg.attach(attachment_part(name, data))
    else:
        msg = body

    mail = settings.mail
    msg["From"] = formataddr((mail.from_name, mail.from_address), charset="utf-8")
    msg["To"] = _addresses(to)
    if cc:
        msg["Cc"] = _addresses(cc)
    msg["Subject"] = _encoded(subject, "Subject")  # type: ignore[assignment]  # compat32 takes a Header
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = _one_line(in_reply_to)
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(_one_line(r) for r in refs)
    if auto_submitted:
        # RFC 3834 §5: an answer to a message is "auto-replied", anything else we start "auto-generated";
        # either keeps other robots (and well-behaved auto-responders) from answering us.
        msg["Auto-Submitted"] = AUTO_REPLIED if in_reply_to else AUTO_SUBMITTED
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailer"] = MAILER
    return msg.as_bytes(policy=_CRLF)


def with_new_subject(raw: bytes, subject: str) -> bytes:
    """``raw`` with its Subject replaced by ``subject`` and its Date set to now; every other byte as it was.

    Used to send a message again under the same Message-ID (so replies to either copy match, and a
    client that already has the first may fold the two): only the two header fields are rewritten, the
    body and attachments are not re-serialised.

    :raises TemplateError: ``raw`` has no header/body separator
    """
    nl = b"\r\n"
    end = raw.find(nl + nl)
    if end < 0:
        nl = b"\n"
        end = raw.find(nl + nl)
    if end < 0:
        raise TemplateError("The stored message has no blank line after its header; it cannot be re-sent.")
    value = _encoded(subject, "Subject")
    text = value if isinstance(value, str) else value.encode(linesep=nl.decode())
    fresh = {b"subject": b"Subject: " + text.encode("ascii"), b"date": b"Date: " + formatdate(localtime=True).encode()}
    out: list[bytes] = []
    skipping = False
    for line in raw[:end].split(nl):
        if line[:1] in (b" ", b"\t"):  # a folded continuation: belongs to the field before it
            if not skipping:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        skipping = name in fresh
        if skipping:
            out.append(fresh.pop(name))
        else:
            out.append(line)
    out += fresh.values()
    return nl.join(out) + raw[end:]


# -- mail-body templates ----------------------------------------------------------------------------------


def _cn_date(value: Any) -> str:
    """``2022年6月20日`` for a date or datetime (strings pass through)."""
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.year}年{value.month}月{value.day}日"
    return "" if value is None else str(value)


def _cn_datetime(value: Any) -> str:
    """``2022年6月20日 14:05`` for a datetime."""
    if isinstance(value, dt.datetime):
        return f"{_cn_date(value)} {value:%H:%M}"
    return _cn_date(value)


def _nl2br(value: Any) -> Markup:
    """HTML-escape a value and keep its line breaks as ``<br>`` (for people's multi-line text)."""
    text = "" if value is None else str(value)
    return Markup("<br>\n").join(escape(line) for line in text.replace("\r\n", "\n").split("\n"))


def mail_environment(settings: Settings) -> jinja2.Environment:
    """The Jinja2 environment for mail bodies: the home's ``templates/mail/`` first, then the shipped ones.

    Kept between mails (compiled templates are reused) until a file in either folder changes.
    """
    dirs = [settings.templates / MAIL_TEMPLATES, default_templates_dir() / MAIL_TEMPLATES]
    return kept_environment(MAIL_TEMPLATES, dirs, _new_mail_environment)


def _new_mail_environment(dirs: list[str]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=TemplateLoader(dirs),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nl2br"] = _nl2br
    env.filters["cn_date"] = _cn_date
    env.filters["cn_datetime"] = _cn_datetime
    return env


def render_mail(settings: Settings, name: str, **context: Any) -> tuple[str, str, str]:
    """Render ``templates/mail/<name>.txt`` and ``.html`` into (subject, text, html).

    Every template also gets ``sender_name`` and ``sender_address`` (the bureau office's name and address).
    The subject is the ``Subject:`` first line of the ``.txt`` template (and is required there).

    :raises TemplateError: a template is missing, has a syntax error, uses a variable not given, or has
        no subject line
    """
    env = mail_environment(settings)
    ctx: Mapping[str, Any] = {
        "sender_name": settings.mail.from_name,
        "sender_address": settings.mail.from_address,
        **context,
    }
    rendered: dict[str, str] = {}
    for ext in ("txt", "html"):
        tname = f"{name}.{ext}"
        try:
            rendered[ext] = env.get_template(tname).render(ctx)
        except jinja2.TemplateNotFound as e:
            raise TemplateError(
                f"Mail template {MAIL_TEMPLATES}/{tname} is missing (looked in {settings.templates / MAIL_TEMPLATES} "
                f"and the shipped defaults)."
            ) from e
        except jinja2.UndefinedError as e:
            raise TemplateError(
                f"Mail template {MAIL_TEMPLATES}/{tname}: {e}; the caller must pass it."
            ) from e
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(mail_template_error(tname, e)) from e
        except jinja2.TemplateError as e:
            raise TemplateError(f"Mail template {MAIL_TEMPLATES}/{tname}: {e}") from e
    text = rendered["txt"].lstrip("\ufeff\n")
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise TemplateError(f'Mail template {MAIL_TEMPLATES}/{name}.txt must start with a "Subject: …" line.')
    subject = _one_line(first.split(":", 1)[1])
    return subject, rest.lstrip("\n").rstrip() + "\n", rendered["html"]


def template_names(settings: Settings) -> list[str]:
    """The mail templates available to this home (each name has both a .txt and an .html file)."""
    env = mail_environment(settings)
    names = {Path(t).stem for t in env.list_templates(extensions=["txt"])}
    return sorted(n for n in names if f"{n}.html" in env.list_templates(extensions=["html"]))
