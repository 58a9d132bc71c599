"""`duban plan` and `duban confirm`: see what the service would send, and release a held first start."""

from __future__ import annotations

import datetime as dt
import getpass
from typing import TYPE_CHECKING

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx
from mailer.cli.cycle import _parse_now
from mailer.common.config import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that use it, not at CLI start
    from sqlalchemy import Engine


def show_plan(settings: Settings, engine: Engine, now: dt.datetime, *, as_json: bool) -> None:
    """Print what a tick at ``now`` would send (the clerk reads it: Chinese), changing nothing."""
    from mailer.registry.periodfacts import tz
    from mailer.registry.store import atomic
    from mailer.service.preview import preview_tick
    from mailer.service.startgate import TICK_KINDS, hold_reason

    mails = preview_tick(settings, engine, now)
    with atomic(engine) as s:
        reason = hold_reason(settings, s, now)
    held = bool(reason) and any(m.kind in TICK_KINDS for m in mails)
    if as_json:
        echo_json(
            {"now": now.isoformat(), "held": reason if held else "", "mails": [m.to_dict() for m in mails]}
        )
        return
    when = now.astimezone(tz(settings)).strftime("%Y-%m-%d %H:%M")
    if not mails:
        click.echo(f"预览（{when}）：这次运行不会发送任何邮件。")
        return
    click.echo(f"预览（{when}）：这次运行将发送 {len(mails)} 封邮件（仅预览，未发送，登记库未改动）：")
    for n, m in enumerate(mails, 1):
        click.echo(f"{n:>3}. {m.line()}")
    if held:
        click.echo(f"注意：计划内邮件将等待确认后才发送——{reason}。核对无误后运行：duban confirm --by 姓名")


@cli.command("plan")
@click.option("--now", "now_text", help="Preview as if it were this local time (e.g. 2022-06-25T09:00).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def plan_cmd(ctx: Context, now_text: str | None, *, as_json: bool) -> None:
    """List what the next run would send, to whom and why, without sending or changing anything.

    \b
    Examples:
        duban plan
        duban plan --now 2022-06-25T09:00
    """
    settings = ctx.settings
    now = _parse_now(now_text, settings.cycle.timezone) or dt.datetime.now(dt.UTC)
    show_plan(settings, ctx.engine(), now, as_json=as_json)


@cli.command("confirm")
@click.option("--by", "by", help="Who confirms (default: the login name).")
@click.option("--now", "now_text", hidden=True, help="Record the confirmation at this local time.")
@pass_ctx
def confirm_cmd(ctx: Context, by: str | None, now_text: str | None) -> None:
    """Release sending held at a first start or after downtime (see `duban plan`), recording who and when.

    \b
    Example:
        duban confirm --by 王明
    """
    from mailer.service.startgate import confirm

    settings = ctx.settings
    who = by if by is not None else getpass.getuser()
    now = _parse_now(now_text, settings.cycle.timezone)
    waiting = confirm(settings, ctx.engine(), who, now=now)
    if waiting:
        click.echo(f"已确认（{who}）。下一次运行将发送以下 {len(waiting)} 封邮件：")
        for line in waiting:
            click.echo(f"  {line}")
    else:
        click.echo(f"已确认（{who}）：当前没有等待确认的邮件；新导入的计划已标记为确认。")
