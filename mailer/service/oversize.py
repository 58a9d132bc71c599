"""Messages larger than ``mail.max_message_mb``: recorded, answered and acknowledged, never read whole.

A 130 MB message (scanned annexes, a video) once cost a gigabyte of memory to parse. Over the cap, a
transport hands over only the size and the header block (IMAP RFC822.SIZE, the EWS item size, the file
size); a message that arrives whole anyway is cut to its headers here. What is archived is the header block
with a short note in place of the body — archiving the gigabyte would be the problem again — so the record
says who sent what, when, under which Message-ID, and how big it was.

The sender is answered in Chinese (the limit, the size, what to do) when the directory knows the address,
and the message is acknowledged (kind ``oversize``). Mail from strangers, our own mail and machines' mail is
recorded without an answer (no backscatter, no loop) as ``unrelated``: left in the mailbox for people, like
any other mail that is not duban's business — a big file for the bureau office must not vanish into 已处理.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.files import store_by_hash
from mailer.common.mailhead import header_block
from mailer.read.mailread import ReadMessage, read_message
from mailer.registry.model import Event, InboundMessage, utcnow
from mailer.registry.offices import offices_for_address, person_for_address
from mailer.registry.periodfacts import form_token, tz
from mailer.registry.store import atomic
from mailer.render.mailcontext import mail_context
from mailer.service.matching import match_message
from mailer.service.outgoing import Mail, queue_mail

log = logging.getLogger(__name__)
KIND = "oversize"
OUTCOME = "邮件大小"  # how every over-size record's outcome begins, answered or not


def is_oversize_row(row: InboundMessage) -> bool:
    """Whether ``row`` records an over-size message (only its headers were kept)."""
    return row.kind == KIND or row.outcome.startswith(OUTCOME)


def mb(size: int) -> str:
    """A size as people say it: "131.2"."""
    return f"{size / 2**20:.1f}"


def stub(headers: bytes, size: int, limit: int) -> bytes:
    """What is archived of an over-size message: its header block and a note where the body was."""
    head = header_block(headers)
    if not head.endswith((b"\n\n", b"\r\n\r\n")):
        head = head.rstrip(b"\r\n") + b"\r\n\r\n"
    note = (
        f"[duban] 原邮件大小 {size} 字节（{mb(size)} MB），超过 {mb(limit)} MB 的上限，"
        "未读取、未保存正文和附件；此处只保留邮件头。\r\n"
    )
    return head + note.encode("utf-8")


def take_oversize(
    settings: Settings,
    engine: Engine,
    headers: bytes,
    size: int,
    *,
    source: str = "",
    uid: str = "",
    now: dt.datetime | None = None,
) -> tuple[InboundMessage, bool]:
    """Archive the header block of an over-size message, record it (kind ``oversize``) and queue the
    answer, in one transaction.

    Fetched again (a crash before the acknowledgement), the same headers give the same archive and the
    message is recognised: nothing is done twice.

    :param headers: the message's header block (more is cut off)
    :param size: the message's full size in bytes, as the server or the file system gave it
    :returns: the message's row and whether it was new
    """
    now = now or utcnow()
    limit = settings.mail.max_message_bytes
    kept = stub(headers, size, limit)
    sha, path = store_by_hash(settings.inbox / "archive", kept, ".eml", fan_out=True)
    # Headers only: no attachment is read, so no attachment limit matters here.
    msg = read_message(
        kept, max_attachment_bytes=0, own_address=settings.mail.from_address, local_zone=tz(settings)
    )
    with atomic(engine) as s:
        seen = s.scalars(select(InboundMessage).where(InboundMessage.sha256 == sha)).first()
        if seen is not None:
            return seen, False
        holder = None
        if msg.message_id:
            holder = s.scalars(
                select(InboundMessage).where(InboundMessage.message_id == msg.message_id)
            ).first()
            if holder is not None and is_oversize_row(holder):
                return holder, False  # the same over-size message delivered twice (other Received lines)
        row = InboundMessage(
            sha256=sha,
            # A Message-ID already taken by a message of normal size stays with it; this one is flagged.
            message_id=(msg.message_id or None) if holder is None else None,
            source=source,
            source_uid=uid,
            archive_path=str(path.relative_to(settings.home)),
            from_addr=msg.from_addr,
            subject=msg.subject[:500],
            date_header=msg.date,
            received_at=now,
            kind=KIND,
            flagged=holder is not None,
        )
        s.add(row)
        s.flush()
        what = f"{OUTCOME} {mb(size)} MB，超过 {mb(limit)} MB 的上限，未接收（只保存了邮件头）"
        answered = _answer(settings, s, row, msg, size, limit)
        if answered:
            row.outcome = what + "；已回复发件人，请其压缩或拆分后重发"
        else:
            row.kind = "unrelated"
            row.outcome = what + "；发件人不在名录中或为自动邮件，未回复，留在邮箱中由局办公室阅处"
        if holder is not None:
            row.outcome += f"（与来信 #{holder.id} 的 Message-ID 相同）"
        s.add(
            Event(
                kind=KIND,  # the event says what happened, whichever kind the message was recorded as
                period_id=row.period_id,
                office_id=row.office_id,
                detail=f"来信 #{row.id}（{msg.from_addr}，{msg.subject[:60]}）：{row.outcome}"[:2000],
            )
        )
        log.warning(
            "Message %s from %s is %d bytes, over the %d byte cap: recorded, not read",
            sha[:12],
            msg.from_addr,
            size,
            limit,
        )
        return row, True


def _answer(
    settings: Settings, s: Session, row: InboundMessage, msg: ReadMessage, size: int, limit: int
) -> bool:
    if msg.is_ours or msg.auto or not msg.from_addr:
        return False
    offices = offices_for_address(s, msg.from_addr)
    if not offices and person_for_address(s, msg.from_addr) is None:
        return False
    match = match_message(
        s,
        in_reply_to=msg.in_reply_to,
        references=msg.references,
        subject=msg.subject,
        docx_token=None,
        from_addr=msg.from_addr,
    )
    token = ""
    if match.period is not None and match.office is not None and match.office in offices:
        row.period_id, row.office_id = match.period.id, match.office.id
        # The answer carries the form's token, so a smaller resend in its thread is matched for sure.
        token = form_token(settings, match.period, match.office)
    queue_mail(
        s,
        settings,
        f"oversize_reply:msg{row.id}",
        "oversize_reply",
        Mail(
            "oversize_reply",
            mail_context(
                settings,
                subject=msg.subject,
                size_mb=mb(size),
                limit_mb=mb(limit),
                attachment_mb=mb(settings.mail.max_attachment_bytes),
                received=row.received_at.astimezone(tz(settings)).strftime("%Y-%m-%d %H:%M"),
            ),
            [msg.from_addr],
        ),
        token=token,
        reply_to=row,
        period_id=row.period_id,
        office_id=row.office_id,
    )
    return True
