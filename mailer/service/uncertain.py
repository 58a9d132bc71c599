"""Messages that may or may not have gone out, and what the clerk does about them.

A dispatch row moves pending → sending (committed *before* the transport is called) → sent | failed |
uncertain | dropped. ``sending`` left behind by a killed process, or a send whose answer was lost
(:class:`~mailer.common.errors.SendUncertain`), is settled here by asking the transport (``was_sent``): a copy in
the Sent folder or the outbox means sent; the folder transport's "no file" means not sent (pending again);
anything else is **uncertain** and is never sent again automatically. Courtesy mail (receipts, approval
notices) that is uncertain is dropped: a second receipt helps nobody. Everything else waits for the clerk
(``duban outbox resend ID`` sends it again with "（重发）" in the subject, under the same Message-ID;
``duban outbox drop ID`` gives it up), unless ``mail.uncertain = "resend"`` says to resend it so at once.
Every step is an Event (kind ``send_…``) naming who did it and why. The list the clerk is shown (`duban
status`, `duban check`) is read by mailer.registry.doubts.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import RegistryError, TransportError
from mailer.common.files import write_atomic
from mailer.common.labels import label
from mailer.registry.model import Dispatch, DispatchState, Event, utcnow
from mailer.registry.store import atomic
from mailer.transport.base import Transport

log = logging.getLogger(__name__)


# The dispatch states live with the table (mailer.registry.model.DispatchState, CHECK-constrained); the old name stays.
SendState = DispatchState


# Courtesy mail: telling someone what they already know. Sending it twice would be noise, not it missing.
COURTESY = frozenset({"receipt", "approved_notice"})
RESENT_MARK = "（重发）"
POLICIES = ("hold", "resend")
# The clerk may send again what is uncertain, was given up, or failed; not what is queued or already sent.
RESENDABLE = (SendState.UNCERTAIN, SendState.DROPPED, SendState.FAILED)
DROPPABLE = (SendState.UNCERTAIN, SendState.FAILED, SendState.PENDING)


def kind_label(kind: str) -> str:
    """The clerk's name of a kind of mail (one table for every list: mailer.common.labels)."""
    return label("dispatch_kind", kind)


def _event(s: Session, d: Dispatch, kind: str, detail: str) -> None:
    s.add(Event(kind=kind, period_id=d.period_id, office_id=d.office_id, detail=detail[:2000]))


def _what(d: Dispatch) -> str:
    return f"邮件 #{d.id}（{kind_label(d.kind)}，{d.subject} → {', '.join(d.to_addrs)}）"


def mark_maybe_sent(s: Session, d: Dispatch, reason: str) -> None:
    """Record that ``d`` may have gone out: uncertain, or dropped at once when it is only a courtesy."""
    if d.kind in COURTESY:
        d.state = SendState.DROPPED
        d.error = f"可能已发出，无法确认；{kind_label(d.kind)}不再重发。{reason}"[:1000]
        _event(s, d, "send_dropped", f"{_what(d)}可能已发出，无法确认；{kind_label(d.kind)}不重发，已放弃。")
        log.warning("Dispatch %s (%s) may have been sent; courtesy mail, dropped: %s", d.id, d.kind, reason)
        return
    d.state = SendState.UNCERTAIN
    d.error = f"可能已发出，无法确认，不会自动重发。{reason}"[:1000]
    _event(
        s,
        d,
        "send_uncertain",
        f"{_what(d)}可能已发出也可能未发出（{reason}）。不会自动重发：确认对方未收到后运行 "
        f"`duban outbox resend {d.id}`；确认已收到则运行 `duban outbox drop {d.id}`。",
    )
    log.warning(
        "Dispatch %s (%s) may or may not have been sent; held for the clerk: %s", d.id, d.kind, reason
    )


def _mark_sent(s: Session, d: Dispatch, now: dt.datetime | None, detail: str) -> None:
    d.state, d.sent_at, d.error = SendState.SENT, d.sent_at or now or utcnow(), ""
    _event(s, d, "send_confirmed", f"{_what(d)}{detail}")


def settle(
    settings: Settings,
    engine: Engine,
    transport: Transport,
    did: int,
    reason: str,
    *,
    now: dt.datetime | None = None,
) -> str:
    """Settle one row whose send may have happened (state ``sending``): ask the transport, record the answer.

    :returns: the new state
    :raises TransportError: the transport cannot be asked (the row stays ``sending`` for the next run)
    """
    with atomic(engine) as s:
        d = s.get(Dispatch, did)
        if d is None or d.state != SendState.SENDING:
            return d.state if d is not None else ""
        message_id = d.message_id
    known = transport.was_sent(message_id)
    with atomic(engine) as s:
        d = s.get(Dispatch, did)
        assert d is not None
        if d.state != SendState.SENDING:  # settled meanwhile (the on_accepted record landed)
            return d.state
        if known:
            _mark_sent(s, d, now, "的发送曾中断，但已发邮件中有此邮件：确认已发出，不重发。")
        elif known is False:
            d.state, d.error = SendState.PENDING, ""
            _event(
                s, d, "send_interrupted", f"{_what(d)}的发送在交给邮件服务器之前中断：确认未发出，将发送。"
            )
        else:
            mark_maybe_sent(s, d, reason)
        return d.state


def settle_interrupted(
    settings: Settings, engine: Engine, transport: Transport, *, now: dt.datetime | None = None
) -> int:
    """Settle every row left in ``sending`` (its process died mid-send); returns how many there were.

    Only call this while holding the send lock (``outgoing.send_lock``): then no live process is sending.
    """
    with atomic(engine) as s:
        ids = list(
            s.scalars(select(Dispatch.id).where(Dispatch.state == SendState.SENDING).order_by(Dispatch.id))
        )
    for did in ids:
        settle(settings, engine, transport, did, "上次发送时程序中断，邮件服务器是否已收下无法确认", now=now)
    return len(ids)


def recheck_uncertain(
    settings: Settings, engine: Engine, transport: Transport, *, now: dt.datetime | None = None
) -> None:
    """Look again for every uncertain row's copy (Exchange may file it late): found → sent. Then, with
    ``mail.uncertain = "resend"``, queue each one still uncertain again, marked （重发） (once: a resend that
    is uncertain again waits for the clerk)."""
    with atomic(engine) as s:
        rows = [
            (d.id, d.message_id, d.subject)
            for d in s.scalars(select(Dispatch).where(Dispatch.state == SendState.UNCERTAIN))
        ]
    for did, message_id, subject in rows:
        try:
            known = transport.was_sent(message_id)
        except TransportError as e:
            log.warning("Cannot look for the sent copy of dispatch %s: %s", did, e)
            known = None
        if known:
            with atomic(engine) as s:
                d = s.get(Dispatch, did)
                if d is not None and d.state == SendState.UNCERTAIN:
                    _mark_sent(s, d, now, "此前未能确认是否发出，现已在已发邮件中找到：确认已发出。")
        elif settings.mail.uncertain == "resend" and not subject.endswith(RESENT_MARK):
            # Once: a resend that is uncertain again (a server that keeps cutting the connection) waits for
            # the clerk rather than going out again at every run.
            resend(settings, engine, did, by="duban", reason='按配置 mail.uncertain = "resend" 自动重发')


def clerk() -> str:
    """Who runs this command, for the audit trail (the login name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container) and no LOGNAME/USER
        return "未知用户"


def resend(settings: Settings, engine: Engine, did: int, *, by: str, reason: str) -> Dispatch:
    """Queue dispatch ``did`` again, its subject marked （重发） and its Date now; the caller sends it.

    The Message-ID stays the same, so a reply to either copy is matched, and the audit trail records
    ``by`` and ``reason`` (an Event ``send_resent``).

    :raises RegistryError: no such dispatch, it is not uncertain, dropped or failed, or its .eml is gone
    """
    with atomic(engine) as s:
        d = s.get(Dispatch, did)
        if d is None:
            raise RegistryError(f"发件记录中没有 #{did}。运行 `duban outbox list` 查看编号。")
        if d.state not in RESENDABLE:
            raise RegistryError(
                f"邮件 #{did}（{d.subject}）的状态是“{label('dispatch', d.state)}”，"
                "只有未确认、已放弃或发送失败的邮件可以重发。"
            )
        subject = d.subject if d.subject.endswith(RESENT_MARK) else d.subject + RESENT_MARK
        old = settings.path(d.eml_path)
        try:
            from mailer.render.compose import with_new_subject  # jinja2 and the mail builder: only to resend

            raw = with_new_subject(Path(old).read_bytes(), subject)
        except OSError as e:
            raise RegistryError(
                f"邮件 #{did} 的原件 {d.eml_path} 无法读取（{e.strerror or e}），不能重发。"
                "请从备份恢复该文件后再运行本命令。"
            ) from e
        n = 1
        while (new := old.with_name(f"{old.stem.split('.r')[0]}.r{n}.eml")).exists():
            n += 1
        write_atomic(new, raw)
        before = label("dispatch", d.state)
        d.eml_path, d.subject = str(new.relative_to(settings.home)), subject
        d.state, d.error = SendState.PENDING, ""
        _event(s, d, "send_resent", f"{_what(d)}（原状态：{before}）由 {by} 重发。原因：{reason or '未说明'}")
        s.flush()
        s.expunge(d)
    log.info("Dispatch %s queued again by %s: %s", did, by, reason)
    return d


def drop(engine: Engine, did: int, *, by: str, reason: str) -> Dispatch:
    """Give dispatch ``did`` up (state ``dropped``): it is not sent (again). Recorded with ``by`` and ``reason``.

    :raises RegistryError: no such dispatch, or it is not uncertain, failed or pending
    """
    with atomic(engine) as s:
        d = s.get(Dispatch, did)
        if d is None:
            raise RegistryError(f"发件记录中没有 #{did}。运行 `duban outbox list` 查看编号。")
        if d.state not in DROPPABLE:
            raise RegistryError(
                f"邮件 #{did}（{d.subject}）的状态是“{label('dispatch', d.state)}”，"
                "只有未确认、发送失败或待发送的邮件可以放弃。"
            )
        before = label("dispatch", d.state)
        d.state = SendState.DROPPED
        d.error = f"由 {by} 放弃：{reason or '未说明'}"[:1000]
        _event(
            s,
            d,
            "send_dropped",
            f"{_what(d)}（原状态：{before}）由 {by} 放弃，不再发送。原因：{reason or '未说明'}",
        )
        s.flush()
        s.expunge(d)
    return d
