"""`duban web`: the web console; `duban users add/passwd/list`: its accounts."""

from __future__ import annotations

import sys

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx


@cli.command("web")
@click.option("--listen", default=None, help="host:port (default: [web] listen, else 127.0.0.1:8470).")
@click.option("--now", "now_text", hidden=True, help="Take this local time as now (demos and tests).")
@pass_ctx
def web_cmd(ctx: Context, listen: str | None, now_text: str | None) -> None:
    """Serve the web console (本月总览, 任务, 报告, 通报, 收件, 审计 and the clerk's actions) until Ctrl-C.

    Accounts: `duban users add`. Inside `duban serve` it starts by itself when duban.toml sets
    [web] listen = "127.0.0.1:8470".

    \b
    Example:
        duban web --listen 127.0.0.1:8470
    """
    from mailer.cli.cycle import _parse_now
    from mailer.web.server import run

    settings = ctx.settings
    ctx.engine()  # refuse a folder that is not a home before serving anything
    now = _parse_now(now_text, settings.cycle.timezone)
    address = listen or settings.web.listen or "127.0.0.1:8470"
    click.echo(f"督办控制台：http://{address}/ （Ctrl-C 停止）")
    run(settings, address, clock=(lambda: now) if now is not None else None)


@cli.group("users")
def users_group() -> None:
    """Accounts of the web console: 办公室 (everything), 分管领导 (sees all, reviews his offices), 查看."""


def _password() -> str:
    # Never an argument (it would sit in the shell history and the process list): a prompt, or stdin.
    if sys.stdin.isatty():
        return str(click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次"))
    return sys.stdin.readline().rstrip("\r\n")


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, help="办公室, 分管领导 or 查看.")
@click.option("--leader-email", default="", help="For a 分管领导: his address in the directory.")
@pass_ctx
def users_add(ctx: Context, name: str, role: str, leader_email: str) -> None:
    """Add account NAME; the password is asked for (or read from stdin).

    \b
    Examples:
        duban users add 张三 --role 办公室
        duban users add 陈志明 --role 分管领导 --leader-email chenzm@jyj.example.gov.cn
        echo "$PASSWORD" | duban users add 李四 --role 查看
    """
    from mailer.registry.audit import current_user
    from mailer.web.accounts import add_user

    account = add_user(ctx.engine(), name, role, _password(), leader_email=leader_email, by=current_user())
    click.echo(f"已添加用户 {account.name}（{account.role_label}）。")


@users_group.command("passwd")
@click.argument("name")
@pass_ctx
def users_passwd(ctx: Context, name: str) -> None:
    """Set a new password for NAME (asked for, or read from stdin); its open sessions end.

    \b
    Example:
        duban users passwd 张三
    """
    from mailer.registry.audit import current_user
    from mailer.web.accounts import set_password

    set_password(ctx.engine(), name, _password(), by=current_user())
    click.echo(f"用户 {name} 的密码已修改。")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def users_list(ctx: Context, as_json: bool) -> None:  # noqa: FBT001
    """List the console's accounts and their roles.

    \b
    Example:
        duban users list
    """
    from mailer.web.accounts import list_users

    rows = list_users(ctx.engine())
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("还没有用户：请用 duban users add 添加。")
    for r in rows:
        extra = f"  {r['leader_email']}" if r["leader_email"] else ""
        click.echo(f"{r['name']}  {r['role']}{extra}{'' if r['active'] else '  （已停用）'}")
