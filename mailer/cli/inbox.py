"""`duban inbox`: what came in, and handling a message again."""

from __future__ import annotations

from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx
from mailer.common.labels import label


@cli.group("inbox")
def inbox() -> None:
    """Messages taken in: list them; handle a failed or quarantined one again; release a quarantined one."""


@inbox.command("list")
@click.option(
    "--kind", help="Only this kind: form, decision, signoff, invalid, quarantined, failed, unrelated…"
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def list_cmd(ctx: Context, kind: str | None, as_json: bool) -> None:  # noqa: FBT001
    """List the messages taken in, newest first, with what was done with each."""
    from zoneinfo import ZoneInfo

    from mailer.registry.rows import flag as as_bool
    from mailer.registry.rows import utc

    zone = ZoneInfo(ctx.settings.cycle.timezone)  # times as the bureau reads them, not UTC

    with ctx.reading() as db:
        found = db.all(
            "SELECT id, received_at, from_addr, subject, kind, matched_by, flagged, outcome, archive_path,"
            " sender_verdict, released_at FROM inbound_messages"
            + (" WHERE kind = :kind" if kind else "")
            + " ORDER BY id DESC",
            **({"kind": kind} if kind else {}),
        )
    rows: list[dict[str, Any]] = [
        {
            "id": m.id,
            "received_at": utc(m.received_at).astimezone(zone).isoformat(timespec="minutes"),  # type: ignore[union-attr]
            "from": m.from_addr,
            "subject": m.subject,
            "kind": m.kind,
            "matched_by": m.matched_by,
            "flagged": as_bool(m.flagged),
            "outcome": m.outcome,
            "archive": m.archive_path,
            "sender_verdict": m.sender_verdict,
            "released": m.released_at is not None,
        }
        for m in found
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flag = "!" if r["flagged"] else " "
        click.echo(
            f"#{r['id']:<5}{flag}{r['received_at'][:16]}  {label('inbound', r['kind']):<8} {r['from']:<32} "
            f"{r['subject'][:30]}"
        )
        if r["outcome"]:
            click.echo(f"       {r['outcome']}")
    if not rows:
        click.echo("没有收到的邮件")


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
    from mailer.service.intake import retry
    from mailer.service.outgoing import send_pending
    from mailer.transport.base import open_transport

    engine = ctx.engine()
    row = retry(ctx.settings, engine, message)
    with open_transport(ctx.settings) as transport:
        sent = send_pending(ctx.settings, engine, transport)
    click.echo(f"#{row.id}：{label('inbound', row.kind)} — {row.outcome}（发出邮件 {sent} 封）")


@inbox.command("release")
@click.argument("message", type=int)
@click.option("--by", default="", help="Who vouches for the sender (recorded), e.g. 张三; default: the login name.")
@pass_ctx
def release_cmd(ctx: Context, message: int, by: str) -> None:
    """Vouch for the sender of quarantined MESSAGE (e.g. after a phone call: it is really them) and handle
    it again without the sender check or the daily answer cap; the release is recorded.

    \b
    Example:
        duban inbox release 42 --by 张三
    """
    import getpass

    from mailer.service.intake import retry
    from mailer.service.outgoing import send_pending
    from mailer.service.sendercheck import release
    from mailer.transport.base import open_transport

    engine = ctx.engine()
    release(ctx.settings, engine, message, by=by or getpass.getuser())
    row = retry(ctx.settings, engine, message)
    with open_transport(ctx.settings) as transport:
        sent = send_pending(ctx.settings, engine, transport)
    click.echo(f"来信 #{row.id} 已认可发件人并重新处理：{row.kind} — {row.outcome}（发出 {sent} 封邮件）")


@inbox.command("reject")
@click.argument("message", type=int)
@click.option("--by", default="", help="Who rejects it (recorded), e.g. 张三; default: the login name.")
@click.option("--reason", default="", help="Why, e.g. 经电话核实并非该股室发出.")
@pass_ctx
def reject_cmd(ctx: Context, message: int, by: str, reason: str) -> None:
    """Refuse quarantined or failed MESSAGE for good (e.g. a forged sender): it is marked rejected and
    nothing it asked for is done; the rejection is recorded.

    \b
    Example:
        duban inbox reject 42 --reason 经电话核实并非该股室发出
    """
    from mailer.registry.audit import current_user
    from mailer.service.sendercheck import reject

    reject(ctx.settings, ctx.engine(), message, by=by or current_user(), reason=reason)
    click.echo(f"来信 #{message} 已拒收（记入审计记录）。")
