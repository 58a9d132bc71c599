"""`duban registry copy`: move a home's registry to another database (SQLite to PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import click

from mailer.cli.base import Context, cli, pass_ctx
from mailer.common.errors import DubanError


@cli.group("registry")
def registry_group() -> None:
    """The registry database itself: copy it to PostgreSQL."""


@registry_group.command("copy")
@click.option("--to", "to_url", required=True, metavar="URL",
              help='The fresh, empty target database, e.g. "postgresql+psycopg://duban@db.example.gov.cn/duban".')
@click.option("--schema", default="", metavar="NAME",
              help="Copy into this PostgreSQL schema (registry_schema), for several homes in one database.")
@pass_ctx
def copy_cmd(ctx: Context, to_url: str, schema: str) -> None:
    """Copy this home's whole registry into a fresh, empty database and check the row counts.

    The home keeps using its registry until you set registry_url in duban.toml; the command says how.
    Stop `duban serve` first (it refuses to copy a registry the service is writing to). The password
    comes from PGPASSWORD or ~/.pgpass, not from the URL.

    \b
    Examples:
        duban registry copy --to postgresql+psycopg://duban@db.example.gov.cn/duban
        duban registry copy --to postgresql+psycopg://duban@db/duban_city --schema county_a
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from mailer.common.config import check_registry_settings
    from mailer.common.errors import ServiceLocked
    from mailer.registry.copying import copy_registry
    from mailer.service.daemon import home_lock

    settings = ctx.settings
    try:
        plain = make_url(to_url).set(password=None).render_as_string(hide_password=False)
    except ArgumentError as e:
        raise DubanError(f"--to “{to_url}”不是数据库地址。请写成如 postgresql+psycopg://用户@服务器/数据库名。") from e
    target = replace(settings, registry_url=to_url, registry_schema=schema)
    check_registry_settings(target, password_ok=True)
    source = ctx.engine(verify=True)
    try:
        # The service lock, not to wait for it: a copy taken while the service writes would be torn.
        with home_lock(settings, wait=False):
            report = copy_registry(source, target.database_url)
    except ServiceLocked as e:
        raise DubanError(f"duban serve 正在使用本目录的登记簿（{e}）。请先停止服务，再复制登记簿。") from e
    click.echo(f"已将登记簿复制到 {report.target}：{len(report.rows)} 个表，共 {report.total} 行，逐表核对行数一致。")
    for name, n in report.rows.items():
        if n:
            click.echo(f"  {name}：{n} 行")
    if report.cut:
        click.echo(f"注意：有 {report.cut} 个文字值超过 PostgreSQL 的列长度（SQLite 不限制），已截断保存。")
    click.echo("改用新登记簿的步骤：")
    click.echo(f"  1. 停止 duban serve；在 {settings.home / 'duban.toml'} 的开头（第一个 [节] 之前）写入：")
    click.echo(f'       registry_url = "{plain}"')
    if schema:
        click.echo(f'       registry_schema = "{schema}"')
    click.echo("  2. 数据库密码不要写进 duban.toml：请设置环境变量 PGPASSWORD，或写入服务账户的 ~/.pgpass（权限 0600）。")
    click.echo("  3. 运行 duban check 确认无误，再启动 duban serve。")
    click.echo(f"原登记簿 {source.url.render_as_string(hide_password=True)} 保持不变，可留作备份。")
