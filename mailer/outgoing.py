"""Outgoing mail, recorded before and after it is sent (design principle 3).

``queue_mail`` composes a message and writes a *pending* Dispatch row (with the Message-ID the message will
carry and the raw .eml on disk) inside the caller's transaction, so an answer is committed together with
whatever caused it. ``send_pending`` sends pending rows after the commit and marks them sent. A crash
between the send and the mark is resolved next time: where the transport can tell (IMAP Sent folder, EWS
sent items, the folder outbox) the message is not sent twice; where it cannot, it is sent at most once
more and the row says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.compose import build_message, new_message_id, render_mail
from mailer.config import Settings
from mailer.errors import DeliveryRefused, TransportError
from mailer.files import write_atomic
from mailer.model import Dispatch, Event, InboundMessage, utcnow
from mailer.store import atomic
from mailer.transport.base import Transport

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


@dataclass
class Mail:
    """What to send: a template from templates/mail/ and its context, plus attachments."""

    template: str
    context: dict[str, Any]
    to: list[str]
    cc: Sequence[str] = ()
    attachments: Sequence[tuple[str, bytes]] = ()


def queue_mail(
    session: Session,
    settings: Settings,
    key: str,
    kind: str,
    mail: Mail,
    *,
    token: str = "",
    reply_to: InboundMessage | None = None,
    **links: int | None,
) -> Dispatch | None:
    """Compose ``mail`` and record it as a pending Dispatch under ``key``; None if ``key`` was queued before.

    ``links`` are the Dispatch foreign keys (period_id, office_id, person_id, submission_id, document_id).
    The raw message is written under outbox/queue/ before the row, so a committed row always has its file.
    """
    if session.scalar(select(Dispatch.id).where(Dispatch.key == key)) is not None:
        return None
    to = [a for a in dict.fromkeys(a.strip().lower() for a in mail.to if a and a.strip())]
    cc = [a for a in dict.fromkeys(a.strip().lower() for a in mail.cc if a and a.strip()) if a not in to]
    if not to:
        log.warning("Not queuing %s: no recipient address", key)
        return None
    subject, text, html = render_mail(settings, mail.template, **{"token": token, **mail.context})
    message_id = new_message_id(settings)
    in_reply_to = reply_to.message_id if reply_to is not None and reply_to.message_id else None
    raw = build_message(
        settings,
        to=to,
        cc=cc,
        subject=subject,
        text=text,
        html=html,
        attachments=list(mail.attachments),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=[in_reply_to] if in_reply_to else [],
        auto_submitted=True,
    )
    eml = write_atomic(
        settings.outbox / "queue" / f"{hashlib.sha256(message_id.encode()).hexdigest()[:24]}.eml", raw
    )
    dispatch = Dispatch(
        key=key,
        kind=kind,
        message_id=message_id,
        token=token,
        to_addrs=to,
        cc_addrs=cc,
        subject=subject,
        eml_path=str(eml.relative_to(settings.home)),
        state="pending",
        in_reply_to_id=reply_to.id if reply_to is not None else None,
        **links,
    )
    session.add(dispatch)
    session.flush()
    return dispatch


def send_pending(
    settings: Settings,
    engine: Engine,
    transport: Transport,
    *,
    progress: Callable[[int, int], None] | None = None,
    now: dt.datetime | None = None,
    skip_kinds: Collection[str] = (),
) -> int:
    """Send every pending dispatch, oldest first; returns how many went out.

    ``progress(done, total)`` is called after each message (the CLI shows a progress bar with it);
    ``now`` is the service clock (tests and the demo run on a given one); dispatches of ``skip_kinds``
    stay pending (the confirmation gate holds the tick's own mail, mailer.startgate).

    :raises TransportError: when the transport fails for a reason that is not this one message
    """
    with atomic(engine) as s:
        ids = list(
            s.scalars(
                select(Dispatch.id)
                .where(Dispatch.state == "pending", Dispatch.kind.not_in(skip_kinds))
                .order_by(Dispatch.id)
            )
        )
    sent = 0
    for n, did in enumerate(ids, 1):
        if progress is not None:
            progress(n - 1, len(ids))
        with atomic(engine) as s:
            d = s.get(Dispatch, did)
            assert d is not None
            if d.state != "pending":
                continue
            if d.attempts > 0:
                # We tried before and do not know whether it left: ask the transport.
                known = transport.was_sent(d.message_id)
                if known:
                    d.state, d.sent_at = "sent", d.sent_at or now or utcnow()
                    continue
                if known is None:
                    d.error = "上次发送是否成功无法确认，已再次发送（可能重复一次）"
            d.attempts += 1
            raw = Path(settings.path(d.eml_path)).read_bytes()
            recipients = [*d.to_addrs, *d.cc_addrs]
            message_id = d.message_id
        try:
            transport.send(
                raw, sender=settings.mail.from_address, recipients=recipients, message_id=message_id
            )
        except TransportError as e:
            log.warning("Sending %s failed: %s", message_id, e)
            with atomic(engine) as s:
                d = s.get(Dispatch, did)
                assert d is not None
                d.error = str(e)[:1000]
                # A 5xx refusal cannot succeed later; anything else gets a few more tries (one per run).
                if isinstance(e, DeliveryRefused) or d.attempts >= MAX_ATTEMPTS:
                    d.state = "failed"
                    s.add(
                        Event(
                            kind="delivery_failed",
                            period_id=d.period_id,
                            office_id=d.office_id,
                            detail=f"{d.subject} → {', '.join(d.to_addrs)}：{e}"[:2000],
                        )
                    )
            continue
        with atomic(engine) as s:
            d = s.get(Dispatch, did)
            assert d is not None
            d.state, d.sent_at = "sent", now or utcnow()
        sent += 1
    if progress is not None and ids:
        progress(len(ids), len(ids))
    return sent
