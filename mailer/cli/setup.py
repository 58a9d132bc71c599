"""`duban setup mail`: write the [mail] section of duban.toml from a few answers, after testing the login."""

from __future__ import annotations

import sys
from typing import Any

import click

from mailer.cli.base import Context, cli, pass_ctx

_SECURITY = click.Choice(["ssl", "starttls", "none"])
_DEFAULT_PORTS = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
}


@cli.group("setup")
def setup_group() -> None:
    """Set up a home for real use (the mail server)."""


def _ask(value: Any, text: str, **kwargs: Any) -> Any:
    """The option's value; else, in a script, its default; else the clerk's answer to ``text``."""
    if value not in (None, ""):
        return value
    if kwargs.get("default") is not None and not sys.stdin.isatty():
        return kwargs["default"]
    return click.prompt(text, **kwargs)


@setup_group.command("mail")
@click.option(
    "--transport",
    type=click.Choice(["imap", "exchange", "graph"]),
    help="imap (IMAP + SMTP), exchange (EWS, on-premises Exchange) or graph (Microsoft 365).",
)
@click.option("--host", help="IMAP server, e.g. mail.jyj.gov.cn.")
@click.option("--port", type=int, help="IMAP port (default: 993 for ssl, 143 otherwise).")
@click.option("--security", type=_SECURITY, help="IMAP connection security (default ssl).")
@click.option("--username", help="Login name (IMAP and SMTP; for exchange e.g. JYJ\\bgs).")
@click.option("--smtp-host", help="SMTP server (default: the IMAP server).")
@click.option("--smtp-port", type=int, help="SMTP port (default: 465 for ssl, 587 for starttls).")
@click.option("--smtp-security", type=_SECURITY, help="SMTP connection security (default: as IMAP).")
@click.option("--smtp-username", help="SMTP login name (default: the IMAP one).")
@click.option("--endpoint", help="Exchange EWS address, e.g. https://mail.jyj.gov.cn/EWS/Exchange.asmx.")
@click.option("--primary-address", help="Exchange mailbox address (default: --from-address).")
@click.option("--auth", type=click.Choice(["ntlm", "basic", "oauth2"]), help="Exchange login (default ntlm).")
@click.option("--tenant-id", help="Microsoft 365: the directory (tenant) id of the app registration.")
@click.option("--client-id", help="Microsoft 365: the application (client) id of the app registration.")
@click.option("--mailbox", help="Microsoft 365: the mailbox's user principal name (default: --from-address).")
@click.option(
    "--authority",
    help="Microsoft 365 sign-in address (default https://login.microsoftonline.com; "
    "21Vianet: https://login.chinacloudapi.cn).",
)
@click.option(
    "--graph-url",
    help="Microsoft Graph address (default https://graph.microsoft.com/v1.0; "
    "21Vianet: https://microsoftgraph.chinacloudapi.cn/v1.0).",
)
@click.option("--ca-file", help="The bureau's own CA certificate, when the server's is not publicly trusted.")
@click.option("--from-address", help="The bureau office's address that forms are sent from.")
@click.option("--from-name", help="The sender name shown to recipients (default: keep, 局办公室).")
@click.option(
    "--no-test", is_flag=True, help="Write the settings without testing the login (server unreachable now)."
)
@pass_ctx
def setup_mail_cmd(ctx: Context, **opts: Any) -> None:
    """Configure the mail server: write [mail] in duban.toml (comments kept) after a login test.

    Asks for whatever is not given as an option. Passwords are never written: the test reads them from
    DUBAN_IMAP_PASSWORD / DUBAN_SMTP_PASSWORD / DUBAN_EWS_PASSWORD / DUBAN_GRAPH_CLIENT_SECRET (or the
    *_FILE variables), or asks for them on a terminal. Nothing is sent. A failed test changes nothing.

    \b
    Example:
        DUBAN_IMAP_PASSWORD=… DUBAN_SMTP_PASSWORD=… duban setup mail --transport imap \\
            --host mail.jyj.gov.cn --security ssl --username bgs@jyj.gov.cn \\
            --from-address bgs@jyj.gov.cn --smtp-security ssl
    """
    from mailer.common.config import CONFIG_NAME
    from mailer.common.errors import DubanError, LoginError
    from mailer.service.mailsetup import (
        candidate_settings,
        edit_mail_section,
        is_example_address,
        secret_variables,
        try_login,
        with_passwords,
        write_config,
    )

    home = ctx.settings.home  # loads (and so checks) the current duban.toml first
    path = home / CONFIG_NAME
    if not path.exists():
        raise DubanError(
            f"{home} 还不是 duban 目录（没有 {CONFIG_NAME}）。请先运行 `duban init {home}`，或用 --home 指定目录。"
        )
    choice = _choice(opts)
    text = edit_mail_section(path.read_text(encoding="utf-8"), choice)
    settings = candidate_settings(home, text)
    lines = []
    if opts["no_test"]:
        lines.append("未测试登录（--no-test）。请设置好密码后运行 `duban mail check` 测试。")
    else:
        settings = with_passwords(settings, _missing_passwords(settings))
        try:
            try_login(settings)
        except LoginError as e:
            raise DubanError(
                f"登录测试失败，{CONFIG_NAME} 未作改动：{e}\n"
                f"请核对用户名和密码（环境变量 {'、'.join(secret_variables(choice))}）后重试。"
            ) from e
        except DubanError as e:
            raise DubanError(
                f"无法连接邮件服务器，{CONFIG_NAME} 未作改动：{e}\n"
                "请核对服务器地址、端口和加密方式；如暂时连不上服务器而要先保存设置，加 --no-test。"
            ) from e
        lines.append(_tested(settings))
    write_config(home, text)
    click.echo(f"邮件设置已写入 {path}：传输方式 {choice.transport}，发件地址 {choice.from_address}。")
    for line in lines:
        click.echo(line)
    variables = secret_variables(choice)
    click.echo(
        "密码没有写入文件。运行 duban 的账户须设置环境变量 "
        + "、".join(variables)
        + f"（或 {variables[0]}_FILE 等，指向只有该账户可读的文件）。"
    )
    if is_example_address(choice.from_address):
        click.echo(f"注意：发件地址 {choice.from_address} 是示例地址，正式使用前请改为局办公室的真实邮箱。")
    click.echo("下一步：`duban mail send-test 您的邮箱`，确认邮件确实发出并能收到。")


def _choice(opts: dict[str, Any]) -> Any:
    from mailer.service.mailsetup import MailChoice

    transport = _ask(
        opts["transport"],
        "邮件服务器类型（imap：政务邮箱、Coremail、腾讯企业邮、网易等；exchange：本单位自建 Exchange；"
        "graph：Microsoft 365）",
        type=click.Choice(["imap", "exchange", "graph"]),
    )
    if transport == "graph":
        return _graph_choice(opts)
    if transport == "imap":
        host = _ask(opts["host"], "IMAP 服务器地址（收信）")
        security = opts["security"] or "ssl"
        port = opts["port"] or _DEFAULT_PORTS["imap"][security]
        username = _ask(opts["username"], "登录用户名（一般为邮箱地址）")
        smtp_security = opts["smtp_security"] or security
        smtp_port = opts["smtp_port"] or _DEFAULT_PORTS["smtp"][smtp_security]
        imap: dict[str, Any] = {"host": host, "port": port, "security": security, "username": username}
        smtp: dict[str, Any] = {
            "host": opts["smtp_host"] or host,
            "port": smtp_port,
            "security": smtp_security,
            "username": opts["smtp_username"] or username,
        }
        if opts["ca_file"]:
            imap["ca_file"] = smtp["ca_file"] = opts["ca_file"]
        default_from = username if "@" in username else None
        from_address = _ask(opts["from_address"], "发件地址（局办公室邮箱）", default=default_from)
        return MailChoice("imap", from_address.strip(), opts["from_name"] or "", {"imap": imap, "smtp": smtp})
    endpoint = _ask(opts["endpoint"], "Exchange EWS 地址（如 https://mail.jyj.gov.cn/EWS/Exchange.asmx）")
    auth = opts["auth"] or "ntlm"
    from_address = _ask(opts["from_address"], "发件地址（局办公室邮箱）")
    exchange: dict[str, Any] = {
        "endpoint": endpoint,
        "primary_address": opts["primary_address"] or from_address,
        "auth": auth,
    }
    if auth != "oauth2":
        exchange["username"] = _ask(opts["username"], "登录用户名（如 JYJ\\bgs）")
    if opts["ca_file"]:
        exchange["ca_file"] = opts["ca_file"]
    return MailChoice("exchange", from_address.strip(), opts["from_name"] or "", {"exchange": exchange})


def _graph_choice(opts: dict[str, Any]) -> Any:
    from mailer.service.mailsetup import MailChoice

    tenant = _ask(opts["tenant_id"], "Microsoft 365 目录(租户) ID（Entra ID“概述”页）")
    client = _ask(opts["client_id"], "应用程序(客户端) ID（Entra ID“应用注册”中本应用的“概述”页）")
    from_address = _ask(opts["from_address"], "发件地址（局办公室邮箱）")
    graph: dict[str, Any] = {
        "tenant_id": tenant.strip(),
        "client_id": client.strip(),
        "mailbox": (opts["mailbox"] or from_address).strip(),
    }
    for key in ("authority", "graph_url", "ca_file"):
        if opts[key]:
            graph[key] = opts[key]
    return MailChoice("graph", from_address.strip(), opts["from_name"] or "", {"graph": graph})


def _missing_passwords(settings: Any) -> dict[str, str]:
    """Passwords the environment does not give, asked on a terminal (for this test only)."""
    if not sys.stdin.isatty():
        return {}
    mail = settings.mail
    out: dict[str, str] = {}
    if mail.transport == "imap":
        if not mail.imap.password:
            out["imap"] = click.prompt(
                f"{mail.imap.username} 的 IMAP 密码（只用于本次测试，不写入文件）", hide_input=True
            )
        if mail.smtp.username and not mail.smtp.password:
            out["smtp"] = click.prompt(
                "SMTP 密码（直接回车表示与 IMAP 相同）", hide_input=True, default="", show_default=False
            ) or out.get("imap", mail.imap.password)
    elif mail.transport == "graph":
        if not mail.graph.client_secret:
            out["graph"] = click.prompt(
                "Microsoft 365 客户端密码的“值”（只用于本次测试，不写入文件）", hide_input=True
            )
    elif not (mail.exchange.password or mail.exchange.client_secret):
        out["exchange"] = click.prompt("Exchange 密码（只用于本次测试，不写入文件）", hide_input=True)
    return out


def _tested(settings: Any) -> str:
    mail = settings.mail
    if mail.transport == "imap":
        smtp = mail.smtp
        who = f"用户 {smtp.username}" if smtp.username else "无需登录"
        return (
            f"登录测试通过：IMAP 服务器 {mail.imap.host}:{mail.imap.port}（{mail.imap.security}）用户 "
            f"{mail.imap.username}；SMTP 服务器 {smtp.host}:{smtp.port}（{smtp.security}）{who}。未发送任何邮件。"
        )
    if mail.transport == "graph":
        return (
            f"登录测试通过：Microsoft 365（Graph {mail.graph.graph_url}），租户 {mail.graph.tenant_id}，"
            f"邮箱 {mail.graph.mailbox}，已读取收件箱。未发送任何邮件。"
        )
    return f"登录测试通过：Exchange {mail.exchange.endpoint}，邮箱 {mail.exchange.primary_address}。未发送任何邮件。"
