"""`duban inbox`: what came in, and handling a message again."""

from __future__ import annotations

from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx


@cli.group("inbox")
def inbox() -> None:
    """Messages taken in: list them; handle a failed or quarantined one again."""


@inbox.command("list")
@click.option(
    "--kind", help="Only this kind: form, decision, signoff, invalid, quarantined, failed, unrelated…"
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def list_cmd(ctx: Context, kind: str | None, as_json: bool) -> None:  # noqa: FBT001
    """List the messages taken in, newest first, with what was done with each."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from mailer.model import InboundMessage
    from mailer.store import atomic

    zone = ZoneInfo(ctx.settings.cycle.timezone)  # times as the bureau reads them, not UTC

    with atomic(ctx.engine()) as s:
        q = select(InboundMessage).order_by(InboundMessage.id.desc())
        if kind:
            q = q.where(InboundMessage.kind == kind)
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "received_at": m.received_at.astimezone(zone).isoformat(timespec="minutes"),
                "from": m.from_addr,
                "subject": m.subject,
                "kind": m.kind,
                "matched_by": m.matched_by,
                "flagged": m.flagged,
                "outcome": m.outcome,
                "archive": m.archive_path,
            }
            for m in s.scalars(q)
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flag = "!" if r["flagged"] else " "
        click.echo(
            f"#{r['id']:<5}{flag}{r['received_at'][:16]}  {r['kind']:<12} {r['from']:<32} {r['subject'][:30]}"
        )
        if r["outcome"]:
            click.echo(f"       {r['outcome']}")
    if not rows:
        click.echo("no messages")


@inbox.command("retry")
@click.argument("message", type=int)
@pass_ctx
def retry_cmd(ctx: Context, message: int) -> None:
    """Handle MESSAGE (its number in `duban inbox list`) again from its archived original, then send
    what it calls for. Use it after fixing the directory (a quarantined sender) or a failure.

    \b
    Example:
        duban inbox retry 42
    """
    from mailer.intake import retry
    from mailer.outgoing import send_pending
    from mailer.transport.base import open_transport

    engine = ctx.engine()
    row = retry(ctx.settings, engine, message)
    with open_transport(ctx.settings) as transport:
        sent = send_pending(ctx.settings, engine, transport)
    click.echo(f"#{row.id}: {row.kind} — {row.outcome} (sent {sent} message(s))")
