"""`duban outbox`: what was sent, and the clerk's say over messages that may or may not have gone out."""

from __future__ import annotations

from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx

STATES = ("pending", "sending", "sent", "failed", "uncertain", "dropped")  # mailer.registry.model.DispatchState, unimported: the CLI starts light


@cli.group("outbox")
def outbox() -> None:
    """Messages sent or to be sent: list them; resend or give up one that may or may not have gone out."""


@outbox.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only this state (e.g. uncertain).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def list_cmd(ctx: Context, state: str | None, as_json: bool) -> None:  # noqa: FBT001
    """List the messages in the outbox, newest first, with their state.

    \b
    Examples:
        duban outbox list --state uncertain
        duban outbox list --json
    """
    from mailer.common.labels import label
    from mailer.registry.rows import from_json, utc

    with ctx.reading() as db:
        found = db.all(
            "SELECT id, kind, state, subject, to_addrs, attempts, sent_at, error FROM dispatches"
            + (" WHERE state = :state" if state else "")
            + " ORDER BY id DESC",
            **({"state": state} if state else {}),
        )
    rows: list[dict[str, Any]] = []
    for d in found:
        sent_at = utc(d.sent_at)
        rows.append(
            {
                "id": d.id,
                "kind": d.kind,
                "state": d.state,
                "subject": d.subject,
                "to": from_json(d.to_addrs),
                "attempts": d.attempts,
                "sent_at": sent_at.isoformat(timespec="minutes") if sent_at else None,
                "error": d.error,
            }
        )
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        state_name, kind_name = label("dispatch", r["state"]), label("dispatch_kind", r["kind"])
        click.echo(f"#{r['id']:<5} {state_name:<8} {kind_name:<8} {r['subject'][:40]} → {', '.join(r['to'])}")
        if r["error"] and r["state"] != "sent":
            click.echo(f"       {r['error'][:300]}")
    if not rows:
        click.echo("没有邮件" + (f"（状态：{state}）" if state else ""))


@outbox.command("resend")
@click.argument("dispatch", type=int)
@click.option("--reason", default="", help="Why it is sent again (kept in the audit trail).")
@pass_ctx
def resend_cmd(ctx: Context, dispatch: int, reason: str) -> None:
    """Send DISPATCH (its number in `duban outbox list`) again, with "（重发）" in the subject.

    For a message that may or may not have gone out (uncertain), was given up, or failed. Who ran it and
    why are recorded.

    \b
    Example:
        duban outbox resend 42 --reason "电话确认基财股未收到"
    """
    from mailer.common.labels import label
    from mailer.registry.model import Dispatch
    from mailer.registry.store import atomic
    from mailer.service.outgoing import send_pending
    from mailer.service.uncertain import clerk, resend
    from mailer.transport.base import open_transport

    engine = ctx.engine()
    row = resend(ctx.settings, engine, dispatch, by=clerk(), reason=reason)
    with open_transport(ctx.settings) as transport:
        send_pending(ctx.settings, engine, transport)
    with atomic(engine) as s:
        d = s.get(Dispatch, dispatch)
        assert d is not None
        state = label("dispatch", d.state)
        error = d.error
    click.echo(f"#{row.id}：“{row.subject}” → {', '.join(row.to_addrs)}：{state}")
    if error:
        click.echo(f"       {error[:300]}")


@outbox.command("drop")
@click.argument("dispatch", type=int)
@click.option("--reason", default="", help="Why it is given up (kept in the audit trail).")
@pass_ctx
def drop_cmd(ctx: Context, dispatch: int, reason: str) -> None:
    """Give DISPATCH up: it is not sent (again). E.g. the office confirmed it did receive it.

    \b
    Example:
        duban outbox drop 42 --reason "基财股确认已收到"
    """
    from mailer.service.uncertain import clerk, drop

    row = drop(ctx.engine(), dispatch, by=clerk(), reason=reason)
    click.echo(f"#{row.id}：“{row.subject}” 已放弃，不再发送。")
