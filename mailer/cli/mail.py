"""`duban mail …`: check the mail transport and send a test message."""

from __future__ import annotations

import click

from mailer.cli.base import Context, cli, pass_ctx


@cli.group("mail")
def mail_group() -> None:
    """Check the configured mail transport (folder, IMAP + SMTP, or Exchange)."""


@mail_group.command("check")
@pass_ctx
def check_cmd(ctx: Context) -> None:
    """Connect and log in to the configured mail server(s) and describe the mailbox.

    \b
    Example:
        DUBAN_IMAP_PASSWORD=… DUBAN_SMTP_PASSWORD=… duban mail check
    """
    from mailer.transport import open_transport

    with open_transport(ctx.settings) as transport:
        click.echo(transport.check())


@mail_group.command("send-test")
@click.argument("address")
@pass_ctx
def send_test_cmd(ctx: Context, address: str) -> None:
    """Send a short Chinese test message to ADDRESS through the configured transport.

    Useful to see how the recipient's mail client shows duban's subjects and attachment names.

    \b
    Example:
        duban mail send-test bgs@jyj.example.gov.cn
    """
    from mailer.render.compose import build_message, new_message_id
    from mailer.transport import open_transport

    settings = ctx.settings
    address = address.strip()
    if "@" not in address:
        raise click.BadParameter(f"“{address}”不是邮箱地址。", param_hint="ADDRESS")
    message_id = new_message_id(settings)
    text = (
        f"您好！\n\n　　这是督办系统（duban）发出的测试邮件，用于确认邮件能够正常收发。"
        f"如能正常看到本邮件的中文主题、正文和附件名称，说明设置正确，无需回复。\n\n"
        f"{settings.mail.from_name}\n"
    )
    raw = build_message(
        settings,
        to=[address],
        subject="督办系统测试邮件（请勿回复）",
        text=text,
        html=None,
        attachments=[("测试附件：进展情况表（示例）.txt", "这是一个测试附件。\n".encode())],
        message_id=message_id,
        auto_submitted=True,
    )
    with open_transport(settings) as transport:
        transport.send(raw, sender=settings.mail.from_address, recipients=[address], message_id=message_id)
        click.echo(f"测试邮件已通过 {transport.source} 发给 {address}（Message-ID {message_id}）。")
