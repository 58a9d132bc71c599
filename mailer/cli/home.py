"""`duban init`: make a home."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.base import cli
from mailer.common.config import init_home


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--recreate-registry",
    is_flag=True,
    help="Deliberately start an empty registry in a home whose registry was lost (the old file is kept, renamed).",
)
@click.option("--registry-url", metavar="URL",
              help='Keep the registry in this database, e.g. "postgresql+psycopg://duban@db/duban" (no password).')
@click.option("--registry-schema", metavar="NAME",
              help="PostgreSQL: this home's own schema in that database (several homes in one database).")
def init_cmd(directory: Path | None, recreate_registry: bool,  # noqa: FBT001
             registry_url: str | None, registry_schema: str | None) -> None:
    """Create a duban home in DIRECTORY (default: the current one).

    Makes templates/, registry/, inbox/, outbox/ and a commented duban.toml, copies the default
    templates and creates the registry. In a home that has them, checks the registry is its own.
    With --recreate-registry, a missing, empty or foreign registry is renamed aside and a new, empty
    one made: only after a restore from backup proved impossible.

    With --registry-url (and --registry-schema), the registry is a PostgreSQL database instead of
    registry/registry.sqlite3: both are written into duban.toml before the registry is made.

    \b
    Examples:
        duban init ~/duban-2022 && cd ~/duban-2022 && duban import 通知.docx
        duban init ~/county-a --registry-url postgresql+psycopg://duban@db/duban --registry-schema county_a
    """
    from mailer.common.config import load_settings
    from mailer.common.shipped import require_templates
    from mailer.common.templates import install_default_templates
    from mailer.registry.homeid import open_home_registry
    from mailer.registry.homeid import recreate_registry as recreate

    require_templates()  # an installation without its templates must not leave a home that looks ready
    home = init_home(directory or Path.cwd())
    if registry_schema and not registry_url:
        from mailer.common.errors import ConfigError

        raise ConfigError("--registry-schema 需与 --registry-url（PostgreSQL 数据库地址）一起使用。")
    if registry_url:
        from mailer.registry.homeid import read_marker
        from mailer.registry.location import set_registry

        current = load_settings(home)
        if read_marker(home) is not None and (current.registry_url, current.registry_schema) != (
            registry_url, registry_schema or ""
        ):
            from mailer.common.errors import ConfigError

            raise ConfigError(
                f"{home} 已是建立好的督办目录，不能用 --registry-url 改换登记簿（新数据库是空的）。"
                "要把登记簿搬到 PostgreSQL，请运行 duban registry copy --to 数据库地址，再按提示修改 duban.toml。"
            )

        set_registry(home, registry_url, registry_schema or "")
    settings = load_settings(home)
    copied = install_default_templates(settings.templates)
    if recreate_registry:
        _, created, moved = recreate(settings)
        click.echo("已新建空登记簿。" if created else "登记簿完好，属于本目录，未作改动。")
        for p in moved:
            click.echo(f"原登记簿文件已改名保留：{p}")
    else:
        open_home_registry(settings, create=True)
    click.echo(f"督办主目录已就绪：{home}")
    for name in copied:
        click.echo(f"  模板：templates/{name}")
