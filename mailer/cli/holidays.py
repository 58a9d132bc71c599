"""`duban holidays`: the working-day calendar the home uses, year by year."""

from __future__ import annotations

import datetime as dt

import click

from mailer.cli.base import Context, cli, pass_ctx

EXAMPLE_NAME = "holidays-2027.toml"


@cli.command("holidays")
@click.option("--year", "years", type=int, multiple=True, help="Year to show (repeatable). Default: this year and next.")
@click.option("--example", is_flag=True, help="Print the example holidays.toml (illustrative dates, not official).")
@pass_ctx
def holidays_cmd(ctx: Context, years: tuple[int, ...], *, example: bool) -> None:
    """Show the holidays duban counts working days with: for each year its source (holidays.toml,
    chinese-calendar, or none: Monday–Friday), the days off with their names and the make-up working days.

    Enter a year the package does not know in holidays.toml next to duban.toml (format: --example).

    \b
    Examples:
        duban holidays --year 2027
        duban holidays --example
    """
    from zoneinfo import ZoneInfo

    if example:
        from mailer.common.shipped import shipped_dir

        # The shipped copy (package data in a wheel): a home made by `duban init` has no examples/ folder.
        click.echo((shipped_dir("examples") / EXAMPLE_NAME).read_text(encoding="utf-8"), nl=False)
        return

    from mailer.common.holidayshow import year_lines

    settings = ctx.settings
    if not years:
        this = dt.datetime.now(ZoneInfo(settings.cycle.timezone)).year
        years = (this, this + 1)
    for n, year in enumerate(years):
        if n:
            click.echo("")
        for line in year_lines(settings, year):
            click.echo(line)
