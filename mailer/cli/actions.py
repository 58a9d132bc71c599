"""The clerk's own actions on the command line: each calls one function of mailer.service.actions /
mailer.service.handforms, is recorded in the audit trail (who: --by, default $DUBAN_USER or the login name; why:
--reason), and sends the mail it queued at once unless --no-send (the service would send it on its next
run anyway)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx
from mailer.cli.forms import forms
from mailer.cli.plan import offices_cmd, tasks_cmd

F = Callable[..., Any]


def _by(f: F) -> F:
    return click.option(
        "--by",
        "by",
        envvar="DUBAN_USER",
        help="Who acts (recorded in the audit trail). Default: $DUBAN_USER, else the login name.",
    )(f)


def _no_send(f: F) -> F:
    return click.option(
        "--no-send", is_flag=True, help="Only queue the mail; the service (or duban run --once) sends it."
    )(f)


def _json(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def _who(by: str | None) -> str:
    from mailer.registry.audit import current_user

    return (by or "").strip() or current_user()


def _send(ctx: Context, no_send: bool) -> str:  # noqa: FBT001
    """Send what the action queued (and anything else pending); a failure leaves it queued, not lost."""
    if no_send:
        return "邮件已排入发送队列，将由服务发出（或运行 duban run --once）。"
    from mailer.common.errors import TransportError
    from mailer.service.outgoing import send_pending
    from mailer.transport.base import open_transport

    try:
        with open_transport(ctx.settings) as transport:
            sent = send_pending(ctx.settings, ctx.engine(), transport)
    except TransportError as e:
        return f"邮件已记录但暂未发出（{e}）；服务下次运行时会重试。"
    return f"已发出邮件 {sent} 封。" if sent else ""


def _done(ctx: Context, result: Any, *, as_json: bool, no_send: bool | None = None) -> None:
    note = _send(ctx, no_send) if no_send is not None else ""
    if as_json:
        echo_json({"message": result.message, **result.data, "mail": note})
        return
    click.echo(result.message)
    for line in result.lines:
        click.echo(line)
    if note:
        click.echo(note)


# --- forms accept / resend ------------------------------------------------------------------------------


@forms.command("accept")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--office", "office", required=True, help="The office whose form it is, e.g. 基财股.")
@click.option("--period", "period", help="e.g. 2022-06 (default: from the form's number, else the newest).")
@click.option("--reason", default="", help="How it came, e.g. 纸质表格扫描件 / U盘报送.")
@click.option("--notify-office", is_flag=True, help="Also mail the office its receipt or the errors found.")
@click.option(
    "--received", "received", help="When the form was handed in, local time (e.g. 2022-06-19); default: now."
)
@_by
@_no_send
@_json
@pass_ctx
def accept_cmd(
    ctx: Context,
    *,
    file: Path,
    office: str,
    period: str | None,
    reason: str,
    notify_office: bool,
    received: str | None,
    by: str | None,
    no_send: bool,
    as_json: bool,
) -> None:
    """Take in a filled FILE that came by another way (USB stick, paper scan, chat) as the office's next
    revision: checked as a mailed form is; a valid one goes to the leader for review.

    Exit status 3 when the form has errors (recorded as an invalid revision; the office is mailed only
    with --notify-office).

    \b
    Example:
        duban forms accept 基财股6月.docx --office 基财股 --period 2022-06 --reason 纸质表格扫描录入
    """
    from mailer.cli.cycle import _parse_now
    from mailer.service.handforms import accept_form

    result = accept_form(
        ctx.settings,
        ctx.engine(),
        file,
        office=office,
        period=period,
        by=_who(by),
        reason=reason,
        notify_office=notify_office,
        received_at=_parse_now(received),
    )
    for f in result.findings:
        result.lines.append(f"  {'错误' if f.get('level') == 'error' else '提示'}：{f.get('message', '')}")
    _done(ctx, result, as_json=as_json, no_send=no_send)
    if result.data.get("state") == "invalid":
        click.get_current_context().exit(3)


@forms.command("resend")
@click.option("--office", "office", required=True, help="The office, e.g. 基财股.")
@click.option("--period", "period", required=True, help="e.g. 2022-06.")
@click.option("--reason", default="", help="Why, e.g. 股室称未收到.")
@_by
@_no_send
@_json
@pass_ctx
def resend_cmd(
    ctx: Context, *, office: str, period: str, reason: str, by: str | None, no_send: bool, as_json: bool
) -> None:
    """Mail the office its current form of the period again, marked （重发）, to its address as it is now.

    \b
    Example:
        duban forms resend --office 基财股 --period 2022-06 --reason 股室称未收到
    """
    from mailer.service.handforms import resend_form

    result = resend_form(ctx.settings, ctx.engine(), office=office, period=period, by=_who(by), reason=reason)
    _done(ctx, result, as_json=as_json, no_send=no_send)


# --- decide / extend ----------------------------------------------------------------------------------


@cli.command("decide")
@click.option("--office", "office", required=True, help="The office whose report it is.")
@click.option("--period", "period", required=True, help="e.g. 2022-06.")
@click.option("--approve/--return", "approve", default=None, help="The leader's decision: 同意 or 退回.")
@click.option("--by", "leader", required=True, help="The leader who decided (name or address), e.g. 陈志明.")
@click.option("--reason", required=True, help="Why recorded by hand; on --return also the comments sent.")
@click.option("--clerk", envvar="DUBAN_USER", help="Who records it. Default: $DUBAN_USER, else the login name.")
@_no_send
@_json
@pass_ctx
def decide_cmd(
    ctx: Context,
    *,
    office: str,
    period: str,
    approve: bool | None,
    leader: str,
    reason: str,
    clerk: str | None,
    no_send: bool,
    as_json: bool,
) -> None:
    """Record a leader's decision given in person (or by phone) on the office's report awaiting review.

    \b
    Example:
        duban decide --office 基财股 --period 2022-06 --approve --by 陈志明 --reason 当面审阅同意
    """
    from mailer.service.actions import decide

    if approve is None:
        raise click.UsageError("请写明审定结果：--approve（同意）或 --return（退回）。")
    result = decide(
        ctx.settings,
        ctx.engine(),
        office=office,
        period=period,
        approve=approve,
        leader=leader,
        reason=reason,
        by=_who(clerk),
    )
    _done(ctx, result, as_json=as_json, no_send=no_send)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as e:
        raise click.BadParameter(f"“{value}”不是日期，请写成如 2022-06-25。") from e


@cli.command("extend")
@click.option("--office", "office", required=True, help="The office, e.g. 基财股.")
@click.option("--period", "period", required=True, help="e.g. 2022-06.")
@click.option("--to", "to_text", required=True, help="The office's new due date, e.g. 2022-06-25.")
@click.option("--reason", required=True, help="Why, e.g. 股室负责人出差.")
@_by
@_json
@pass_ctx
def extend_cmd(
    ctx: Context, *, office: str, period: str, to_text: str, reason: str, by: str | None, as_json: bool
) -> None:
    """Extend one office's deadline in a period: its reminder, escalation, lateness and the notice's
    按时/逾期 follow the new date.

    \b
    Example:
        duban extend --office 基财股 --period 2022-06 --to 2022-06-25 --reason 负责人出差
    """
    from mailer.service.actions import extend

    result = extend(
        ctx.settings, ctx.engine(), office=office, period=period, to=_date(to_text), reason=reason, by=_who(by)
    )
    _done(ctx, result, as_json=as_json)


# --- period skip / close ----------------------------------------------------------------------------


@cli.group("period")
def period_group() -> None:
    """A month's period as a whole: skip it, or stop chasing and assemble."""


@period_group.command("skip")
@click.argument("period")
@click.option("--reason", required=True, help="Why, e.g. 春节假期本月不报.")
@_by
@_json
@pass_ctx
def skip_cmd(ctx: Context, *, period: str, reason: str, by: str | None, as_json: bool) -> None:
    """No forms for PERIOD (e.g. a holiday month): not opened, or stopped if already open.

    \b
    Example:
        duban period skip 2022-08 --reason 暑假本月不报
    """
    from mailer.service.actions import skip_period

    _done(ctx, skip_period(ctx.settings, ctx.engine(), period, reason=reason, by=_who(by)), as_json=as_json)


@period_group.command("close")
@click.argument("period")
@click.option("--reason", default="", help="Why, e.g. 领导要求提前汇总.")
@_by
@_no_send
@_json
@pass_ctx
def close_cmd(ctx: Context, *, period: str, reason: str, by: str | None, no_send: bool, as_json: bool) -> None:
    """Stop chasing PERIOD: assemble the notice now with the approved reports (the rest 未报送) and send
    it for sign-off.

    \b
    Example:
        duban period close 2022-06 --reason 按时汇总
    """
    from mailer.service.actions import close_period

    result = close_period(ctx.settings, ctx.engine(), period, reason=reason, by=_who(by))
    _done(ctx, result, as_json=as_json, no_send=no_send)


# --- tasks done / offices set-address ---------------------------------------------------------------


@tasks_cmd.command("done")
@click.argument("seq", type=int)
@click.option("--reason", required=True, help="Why, e.g. 项目已竣工验收.")
@_by
@_json
@pass_ctx
def done_cmd(ctx: Context, *, seq: int, reason: str, by: str | None, as_json: bool) -> None:
    """Mark task SEQ 办结: it leaves the forms from the next period on; the notice shows it as 已办结.

    \b
    Example:
        duban tasks done 12 --reason 项目已竣工验收
    """
    from mailer.service.actions import mark_task_done

    _done(ctx, mark_task_done(ctx.settings, ctx.engine(), seq, reason=reason, by=_who(by)), as_json=as_json)


@offices_cmd.command("set-address")
@click.argument("office")
@click.argument("address")
@click.option(
    "--add/--replace",
    "add",
    default=False,
    help="Add ADDRESS as another address of the office, or replace its addresses (the default).",
)
@click.option("--reason", default="", help="Why, e.g. 股室更换邮箱.")
@_by
@_json
@pass_ctx
def set_address_cmd(
    ctx: Context, *, office: str, address: str, add: bool, reason: str, by: str | None, as_json: bool
) -> None:
    """Change OFFICE's address to ADDRESS (--replace, the default), or add it (--add).

    \b
    Example:
        duban offices set-address 基财股 jicai@example.gov.cn --reason 股室更换邮箱
    """
    from mailer.service.actions import set_address

    result = set_address(ctx.settings, ctx.engine(), office, address, add=add, by=_who(by), reason=reason)
    _done(ctx, result, as_json=as_json)


# --- audit ------------------------------------------------------------------------------------------


@cli.command("audit")
@click.option("--period", "period", help="Only this period, e.g. 2022-06.")
@click.option("--actions", "actions_only", is_flag=True, help="Only the clerk's actions.")
@_json
@pass_ctx
def audit_cmd(ctx: Context, *, period: str | None, actions_only: bool, as_json: bool) -> None:
    """The audit trail: every step duban took and every clerk action (who, when, why).

    \b
    Examples:
        duban audit --period 2022-06
        duban audit --actions --json
    """
    from mailer.registry.audit import audit_rows
    from mailer.registry.listings import plan_period
    from mailer.registry.status import format_table

    with ctx.reading() as db:
        p = plan_period(db, period) if period else None
        rows = audit_rows(db, period=p, actions_only=actions_only, tz=ctx.settings.cycle.timezone)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("没有审计记录。")
        return
    table = [
        [
            r["at"][:16].replace("T", " "),
            r["actor"] or "系统",
            r["action"] or r["kind"],
            r["period"] or "",
            r["office"] or "",
            r["detail"],
            r["reason"],
        ]
        for r in rows
    ]
    click.echo(
        format_table(["时间", "操作人", "操作", "期次", "股室", "说明", "理由"], table, max_width={5: 50, 6: 24})
    )
