"""`duban init`: make a home."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.base import cli
from mailer.config import init_home


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--recreate-registry",
    is_flag=True,
    help="Deliberately start an empty registry in a home whose registry was lost (the old file is kept, renamed).",
)
def init_cmd(directory: Path | None, recreate_registry: bool) -> None:  # noqa: FBT001
    """Create a duban home in DIRECTORY (default: the current one).

    Makes templates/, registry/, inbox/, outbox/ and a commented duban.toml, copies the default
    templates and creates the registry. In a home that has them, checks the registry is its own.
    With --recreate-registry, a missing, empty or foreign registry is renamed aside and a new, empty
    one made: only after a restore from backup proved impossible.

    \b
    Example:
        duban init ~/duban-2022 && cd ~/duban-2022 && duban import 通知.docx
    """
    from mailer.config import load_settings
    from mailer.homeid import open_home_registry
    from mailer.homeid import recreate_registry as recreate
    from mailer.shipped import require_templates
    from mailer.templates import install_default_templates

    require_templates()  # an installation without its templates must not leave a home that looks ready
    home = init_home(directory or Path.cwd())
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
