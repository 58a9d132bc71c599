"""A safe first start: the confirmation gate before the service sends on its own.

Started after the send day, or after a long downtime, a reconciler would at once mail every office a form
already due and perhaps send the signer a notice with every task 未报送. So the tick holds its own sending
(forms, reminders, escalations, sign-off requests, publication) when

* a plan has never been confirmed (its first tick that would send anything), or
* more than a day has passed since the last tick (downtime),

and the preview (mailer.service.preview) says it would send something. Holding means: the tick does none of its
steps and records in the registry (``service_gate``) since when and why it holds and what waits; status and
check show "等待确认". Replies to incoming mail (intake) are not held: they answer people who just wrote.
`duban confirm` (recording who and when) releases the hold; `duban serve --yes` confirms by itself, for
scripted deploys. ``service.confirm_start = false`` turns the gate off. What status and check say about it is
read by mailer.service.statusnotes.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.registry.model import Event, Plan, ServiceGate
from mailer.registry.periodfacts import tz
from mailer.registry.store import atomic
from mailer.render.mailcontext import mail_context

log = logging.getLogger(__name__)
DOWNTIME = dt.timedelta(days=1)  # "more than a day without a tick"
# What the tick itself sends (held by the gate); everything else answers an incoming message.
TICK_KINDS = frozenset(
    {"form", "reminder", "escalation", "approval_reminder", "signoff_request", "published", "other"}
)


def _row(s: Session) -> ServiceGate:
    row = s.get(ServiceGate, 1)
    if row is None:
        row = ServiceGate(id=1)
        s.add(row)
        s.flush()
    return row


def _when(settings: Settings, t: dt.datetime) -> str:
    return t.astimezone(tz(settings)).strftime("%Y-%m-%d %H:%M")


def hold_reason(settings: Settings, s: Session, now: dt.datetime) -> str:
    """Why a tick at ``now`` must not send before a confirmation ("" when it may). In Chinese."""
    if not settings.service.confirm_start:
        return ""
    row = s.get(ServiceGate, 1)
    if row is not None and row.held_since is not None:
        return row.held_reason
    new = [p for p in s.scalars(select(Plan).where(Plan.active.is_(True))) if p.confirmed_at is None]
    if new:
        titles = "、".join(f"《{p.title}》" for p in new)
        return f"新导入的计划{titles}尚未确认，这是它第一次发送邮件"
    if row is not None and row.last_tick_at is not None:
        last = max(row.last_tick_at, row.confirmed_at or row.last_tick_at)
        if now - last > DOWNTIME:
            hours = (now - last).total_seconds() / 3600
            return f"服务自{_when(settings, last)}起停止运行约{hours / 24:.1f}天，补发积压的邮件前需要确认"
    return ""


def before_tick(settings: Settings, engine: Engine, now: dt.datetime, *, auto_confirm: str = "") -> str:
    """Decide whether the tick at ``now`` may act; record the tick time. Returns the hold reason ("": go on).

    :param auto_confirm: who confirms by themselves (e.g. "serve --yes"); "" holds instead
    """
    with atomic(engine) as s:
        reason = hold_reason(settings, s, now)
        row = s.get(ServiceGate, 1)
        held = row is not None and row.held_since is not None
        if row is not None and held and not settings.service.confirm_start:
            # The gate was switched off while holding: nothing waits any more.
            row.held_since, row.held_reason, row.held_summary = None, "", ""
            s.add(Event(kind="confirmed", detail="service.confirm_start = false：不再等待确认"))
            held = False
    if reason and not held:
        waiting = _would_send(settings, engine, now)
        if not waiting:
            reason = ""  # nothing to send: nothing to hold (a new plan imported before its first send day)
        elif auto_confirm:
            confirm(settings, engine, auto_confirm, now=now, note=reason)
            reason = ""
        else:
            with atomic(engine) as s:
                row = _row(s)
                row.held_since, row.held_reason, row.held_summary = now, reason, "\n".join(waiting)
                s.add(Event(kind="sending_held", detail=f"等待确认：{reason}；待发{len(waiting)}封"))
                _tell_bureau(settings, s, now, reason, waiting)
            log.warning(
                "Sending held until `duban confirm`: %s; %d message(s) wait (see `duban plan`)",
                reason,
                len(waiting),
            )
    with atomic(engine) as s:
        row = _row(s)
        if row.last_tick_at is None or now > row.last_tick_at:
            row.last_tick_at = now
    return reason


def _tell_bureau(settings: Settings, s: Session, now: dt.datetime, reason: str, waiting: list[str]) -> None:
    """Mail the bureau office what waits (kind gate_held: not held itself, it is not the tick's own)."""
    from mailer.service.decisions import _bureau_addrs
    from mailer.service.outgoing import Mail, queue_mail

    queue_mail(
        s,
        settings,
        f"gate_held:{now.isoformat()}",
        "gate_held",
        Mail(
            "gate_held",
            mail_context(settings, reason=reason, since=_when(settings, now), waiting=waiting),
            _bureau_addrs(settings, s),
        ),
    )


def _would_send(settings: Settings, engine: Engine, now: dt.datetime) -> list[str]:
    from mailer.service.preview import preview_tick

    try:
        return [m.line() for m in preview_tick(settings, engine, now) if m.kind in TICK_KINDS]
    except DubanError as e:  # no preview (not SQLite): hold, and say the list is unknown
        log.info("No preview for the gate: %s", e)
        return [f"（无法预览：{e}）"]


def confirm(
    settings: Settings, engine: Engine, by: str, *, now: dt.datetime | None = None, note: str = ""
) -> list[str]:
    """Release the hold and mark every active plan confirmed, recording ``by`` and ``now``.

    :returns: the lines that were waiting (empty when nothing was held)
    :raises DubanError: when ``by`` is empty
    """
    if not by.strip():
        raise DubanError("确认人不能为空：请用 --by 写明确认人，例如 duban confirm --by 王明。")
    now = now or dt.datetime.now(dt.UTC)
    with atomic(engine) as s:
        row = _row(s)
        waiting = [line for line in row.held_summary.splitlines() if line]
        reason = row.held_reason or note
        row.held_since, row.held_reason, row.held_summary = None, "", ""
        row.confirmed_at, row.confirmed_by = now, by.strip()[:100]
        for plan in s.scalars(select(Plan).where(Plan.active.is_(True), Plan.confirmed_at.is_(None))):
            plan.confirmed_at, plan.confirmed_by = now, by.strip()[:100]
        s.add(Event(kind="confirmed", detail=f"{by.strip()} 确认发送" + (f"（{reason}）" if reason else "")))
    log.info("Sending confirmed by %s", by)
    return waiting
