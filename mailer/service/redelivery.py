"""Recognising a message seen before: the same bytes, the same message delivered twice, or a Message-ID
reused for new content.

Exactly-once intake keys a message on its sha256 and its Message-ID. The same message can arrive twice
with different bytes (delivered to the mailbox twice, each copy with its own Received lines): still one
message. But some clients keep the Message-ID when a person "resends" a mail from the Sent folder after
correcting the attachment; dropping that as a duplicate would lose the corrected form without a trace.
So a Message-ID seen before counts as a duplicate only when the body is the same too; with another body the
message is taken in as new (without the Message-ID, which stays with the first), flagged, and the bureau
office sees it in ``duban inbox list`` and the events.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.mailhead import body_sha256
from mailer.registry.model import Event, InboundMessage
from mailer.service.oversize import is_oversize_row

log = logging.getLogger(__name__)
REUSED = "message_id_reused"


def recognise(
    s: Session, settings: Settings, sha: str, message_id: str | None, raw: bytes
) -> tuple[InboundMessage | None, InboundMessage | None]:
    """What the registry knows of this message: ``(seen, reused)``.

    ``seen`` is the row of the same message (same bytes, or same Message-ID and same body): nothing is to
    be done again. ``reused`` is the row that already holds this Message-ID for other content: take the
    message in as new and flag it (:func:`flag_reuse`).
    """
    same = s.scalars(select(InboundMessage).where(InboundMessage.sha256 == sha)).first()
    if same is not None or not message_id:
        return same, None
    holder = s.scalars(select(InboundMessage).where(InboundMessage.message_id == message_id)).first()
    if holder is None:
        return None, None
    if is_oversize_row(holder):
        return None, holder  # only the headers were kept of the first: a resend that fits is new content
    try:
        earlier = settings.path(holder.archive_path).read_bytes()
    except OSError as e:
        # Without the archived original there is nothing to compare: keep to exactly-once.
        log.warning(
            "Archive %s of message #%s cannot be read (%s); treating %s as a duplicate",
            holder.archive_path,
            holder.id,
            e,
            message_id,
        )
        return holder, None
    if body_sha256(earlier) == body_sha256(raw):
        return holder, None
    return None, holder


def flag_reuse(s: Session, row: InboundMessage, reused: InboundMessage) -> None:
    """Mark ``row`` (already handled) as carrying the Message-ID of ``reused`` with other content."""
    row.flagged = True
    note = f"与来信 #{reused.id} 的 Message-ID 相同而内容不同（多为从“已发送”中修改后重发），已按新来信处理"
    row.outcome = f"{row.outcome}（{note}）" if row.outcome else note
    s.add(
        Event(
            kind=REUSED,
            period_id=row.period_id,
            office_id=row.office_id,
            detail=f"来信 #{row.id}（{row.from_addr}，{row.subject[:60]}）：{note}"[:2000],
        )
    )
    log.warning(
        "Message #%s reuses the Message-ID of #%s with other content; taken in as new", row.id, reused.id
    )


def free_message_id(s: Session, message_id: str | None, own_id: int) -> str | None:
    """``message_id`` if no other row holds it (the unique column), else None."""
    if not message_id:
        return None
    holder = s.scalar(select(InboundMessage.id).where(InboundMessage.message_id == message_id))
    return message_id if holder in (None, own_id) else None
