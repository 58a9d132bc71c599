"""`duban robots`: the group robots told beside the mail (mailer.service.robots): a test post, and what was posted."""

from __future__ import annotations

from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx
from mailer.common.errors import DubanError


@cli.group("robots")
def robots() -> None:
    """Group robots (WeCom, DingTalk, Feishu) set in duban.toml: test them, list their messages."""


@robots.command("test")
@click.argument("name", required=False)
@pass_ctx
def test_cmd(ctx: Context, name: str | None) -> None:
    """Post a test message now to every robot (or the one NAMEd), to check its address and 加签 secret.

    \b
    Examples:
        duban robots test
        duban robots test 局办公室群
    """
    from mailer.service.robots import test_post

    results = test_post(ctx.settings, name)
    for robot, error in results:
        click.echo(
            f"{robot.label}：" + ("已发出测试消息，请到群里查看。" if not error else f"未能发出：{error}")
        )
    failed = [r for r, e in results if e]
    if failed:
        raise DubanError(f"{len(failed)} 个群机器人未能发出测试消息，请按上面的提示检查地址和密钥。")


@robots.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def list_cmd(ctx: Context, *, as_json: bool) -> None:
    """List the robot messages, newest first, with their state (posted, failed, given up, …).

    \b
    Example:
        duban robots list
    """
    from sqlalchemy import select

    from mailer.registry.model import RobotPost
    from mailer.registry.store import atomic

    labels = {"pending": "待发送", "posting": "发送中", "posted": "已发出", "failed": "待重试",
              "gave_up": "已放弃", "uncertain": "不确定"}  # fmt: skip
    with atomic(ctx.engine()) as s:
        rows: list[dict[str, Any]] = [
            {
                "id": p.id,
                "robot": p.robot,
                "event": p.event,
                "state": p.state,
                "title": p.title,
                "attempts": p.attempts,
                "error": p.error,
                "posted_at": p.posted_at.isoformat(timespec="minutes") if p.posted_at else None,
            }
            for p in s.scalars(select(RobotPost).order_by(RobotPost.id.desc()))
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"#{r['id']:<5} {labels.get(r['state'], r['state']):<4} {r['robot']}：{r['title'][:60]}")
        if r["error"] and r["state"] != "posted":
            click.echo(f"       {r['error'][:300]}")
    if not rows:
        click.echo("还没有群机器人消息。")
