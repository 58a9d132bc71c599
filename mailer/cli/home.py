"""`duban init`: make a home."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.base import cli
from mailer.config import init_home


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def init_cmd(directory: Path | None) -> None:
    """Create a duban home in DIRECTORY (default: the current one).

    Makes templates/, registry/, inbox/, outbox/ and a commented duban.toml, copies the default
    templates and creates the registry.

    \b
    Example:
        duban init ~/duban-2022 && cd ~/duban-2022 && duban import 通知.docx
    """
    from mailer.config import load_settings
    from mailer.shipped import require_templates
    from mailer.store import open_registry
    from mailer.templates import install_default_templates

    require_templates()  # an installation without its templates must not leave a home that looks ready
    home = init_home(directory or Path.cwd())
    settings = load_settings(home)
    copied = install_default_templates(settings.templates)
    open_registry(settings.database_url)
    click.echo(f"督办主目录已就绪：{home}")
    for name in copied:
        click.echo(f"  模板：templates/{name}")
