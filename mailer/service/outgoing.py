"""Outgoing mail, recorded before and after it is sent (design principle 3).

``queue_mail`` composes a message and writes a *pending* Dispatch row (with the Message-ID the message will
carry and the raw .eml on disk) inside the caller's transaction, so an answer is committed together with
whatever caused it. ``send_pending`` sends pending rows after the commit: each row is marked *sending* and
committed before the transport is called, and *sent* the moment the server accepts it. A row found still
*sending* (the process was killed), or a send whose answer was lost, is settled by ``mailer.service.uncertain``:
where the transport can tell, it is sent (or sent now); where it cannot, it becomes *uncertain* and is never
sent again without the clerk (or ``mail.uncertain = "resend"``), so no message goes out twice unreported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.durable import write_later
from mailer.common.errors import DeliveryRefused, SendUncertain, TransportError
from mailer.common.homelock import AlreadyLocked, exclusive_lock
from mailer.registry.model import Dispatch, DispatchState, Event, InboundMessage, utcnow
from mailer.registry.store import atomic, before_commit, is_postgres, open_registry
from mailer.render.compose import build_message, new_message_id, render_mail
from mailer.transport.base import Transport

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
LOCK_WAIT_S = 120.0


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
    eml = settings.outbox / "queue" / f"{hashlib.sha256(message_id.encode()).hexdigest()[:24]}.eml"
    # Synced in the background while the transaction goes on; its commit waits for it (store.before_commit).
    before_commit(session, write_later(eml, raw))
    dispatch = Dispatch(
        key=key,
        kind=kind,
        message_id=message_id,
        token=token,
        to_addrs=to,
        cc_addrs=cc,
        subject=subject,
        eml_path=str(eml.relative_to(settings.home)),
        state=DispatchState.PENDING,
        in_reply_to_id=reply_to.id if reply_to is not None else None,
        **links,
    )
    session.add(dispatch)
    session.flush()
    return dispatch


@contextlib.contextmanager
def send_lock(settings: Settings, wait_s: float | None = None) -> Iterator[bool]:
    """Hold ``registry/sending.lock`` (on PostgreSQL: an advisory lock in the database, ``mailer.registry.pglock``)
    while sending; yields False when another process kept it ``wait_s``.

    One sender per home at a time (the service and a CLI command may both want to send), so a row found
    ``sending`` by the lock holder belongs to a process that died, never to one still at work. The kernel
    releases the lock of a killed process.
    """
    wait = LOCK_WAIT_S if wait_s is None else wait_s
    if is_postgres(settings.database_url):
        # The services of a home may run on several machines: the lock lives in the shared database.
        from mailer.registry.homeid import registry_id
        from mailer.registry.pglock import waiting_lock

        home_id = registry_id(open_registry(settings.database_url)) or settings.database_url
        with waiting_lock(settings.database_url, home_id, "send", wait) as got:
            yield got
        return
    deadline = time.monotonic() + wait
    with contextlib.ExitStack() as held:
        while True:
            try:
                # homelock's SQLite-file lock rather than fcntl: the same code on Linux and Windows.
                held.enter_context(exclusive_lock(settings.registry, "sending.lock"))
                break
            except AlreadyLocked:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.2)
        yield True


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

    First settles what an earlier run left in doubt: rows still ``sending``, and ``uncertain`` ones whose
    copy has turned up since (or that ``mail.uncertain = "resend"`` sends again). When another process is
    sending, waits for it up to LOCK_WAIT_S, then leaves the rows for the next run and returns 0.
    ``progress(done, total)`` is called after each message (the CLI shows a progress bar with it);
    ``now`` is the service clock (tests and the demo run on a given one); dispatches of ``skip_kinds``
    stay pending (the confirmation gate holds the tick's own mail, mailer.service.startgate).

    :raises TransportError: when the transport fails for a reason that is not this one message
    """
    from mailer.service.uncertain import recheck_uncertain, settle_interrupted

    with send_lock(settings) as held:
        if not held:
            log.warning("Another duban process is sending from %s; pending mail waits", settings.home)
            return 0
        settle_interrupted(settings, engine, transport, now=now)
        recheck_uncertain(settings, engine, transport, now=now)
        return _send_all(settings, engine, transport, progress=progress, now=now, skip_kinds=skip_kinds)


def _send_all(
    settings: Settings,
    engine: Engine,
    transport: Transport,
    *,
    progress: Callable[[int, int], None] | None,
    now: dt.datetime | None,
    skip_kinds: Collection[str],
) -> int:
    from mailer.service.uncertain import SendState, settle

    with atomic(engine) as s:
        ids = list(
            s.scalars(
                select(Dispatch.id)
                .where(Dispatch.state == SendState.PENDING, Dispatch.kind.not_in(skip_kinds))
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
            if d.state != SendState.PENDING:
                continue
            # Committed before the transport is called: a kill from here on leaves the row "sending", and
            # the next run asks the transport instead of sending blindly.
            d.state = SendState.SENDING
            d.attempts += 1
            raw = Path(settings.path(d.eml_path)).read_bytes()
            recipients = [*d.to_addrs, *d.cc_addrs]
            message_id = d.message_id

        def accepted(did: int = did) -> None:
            with atomic(engine) as s:
                row = s.get(Dispatch, did)
                assert row is not None
                row.state, row.sent_at, row.error = SendState.SENT, now or utcnow(), ""

        try:
            transport.send(
                raw,
                sender=settings.mail.from_address,
                recipients=recipients,
                message_id=message_id,
                on_accepted=accepted,
            )
        except SendUncertain as e:
            log.warning("Sending %s may or may not have succeeded: %s", message_id, e)
            try:
                state = settle(settings, engine, transport, did, str(e)[:500], now=now)
            except TransportError as e2:  # cannot even ask: the row stays "sending", settled next run
                log.warning("Cannot ask whether %s was sent: %s", message_id, e2)
                continue
            sent += state == SendState.SENT
            continue
        except TransportError as e:
            log.warning("Sending %s failed: %s", message_id, e)
            with atomic(engine) as s:
                d = s.get(Dispatch, did)
                assert d is not None
                d.error = str(e)[:1000]
                d.state = SendState.PENDING  # not accepted: sending it again cannot make a duplicate
                # A 5xx refusal cannot succeed later; anything else gets a few more tries (one per run).
                if isinstance(e, DeliveryRefused) or d.attempts >= MAX_ATTEMPTS:
                    d.state = SendState.FAILED
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
            if d.state == SendState.SENDING:  # a transport that does not call on_accepted
                d.state, d.sent_at, d.error = SendState.SENT, now or utcnow(), ""
        sent += 1
    if progress is not None and ids:
        progress(len(ids), len(ids))
    return sent
