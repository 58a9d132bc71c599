"""`duban` commands that run the cycle: run, serve, assemble, check, demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx, progress_bar


def _parse_now(value: str | None) -> dt.datetime | None:
    """--now "2022-06-10 09:00" (bureau local time) for catching up or replaying a given day."""
    if not value:
        return None
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r}: use e.g. 2022-06-10T09:00") from e
    if naive.tzinfo is not None:
        return naive
    from zoneinfo import ZoneInfo

    return naive.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


@cli.command("run")
@click.option("--once", is_flag=True, required=True, help="One poll and one tick, then exit.")
@click.option("--now", "now_text", help="Act as if it were this local time (e.g. 2022-06-10T09:00).")
@pass_ctx
def run_cmd(ctx: Context, once: bool, now_text: str | None) -> None:  # noqa: FBT001
    """Poll the mailbox once, do whatever is due, send what was queued.

    \b
    Example:
        duban run --once
    """
    from mailer.cycle import run_once
    from mailer.transport.base import open_transport

    settings = ctx.settings
    with open_transport(settings) as transport, progress_bar("发送邮件") as progress:
        report = run_once(settings, ctx.engine(), transport, _parse_now(now_text), progress=progress)
    for step in report.steps:
        click.echo(step)
    click.echo(f"took in {report.taken}, queued {report.queued}, sent {report.sent}")
    if report.failures:
        from mailer.errors import DubanError

        raise DubanError("；".join(report.failures))


@cli.command("serve")
@click.option("--interval", type=float, help="Seconds between runs (default: service.poll_minutes).")
@click.option("--clock-from", "clock_from", hidden=True,
              help="Simulated clock: start at this local time (demos and end-to-end tests).")
@click.option("--clock-speed", "clock_speed", type=float, default=1.0, hidden=True,
              help="Simulated clock: seconds of service time per real second.")
@pass_ctx
def serve_cmd(ctx: Context, interval: float | None, clock_from: str | None, clock_speed: float) -> None:
    """Run the scheduled service until stopped (SIGTERM / Ctrl-C): poll, tick, send every few minutes,
    and at once when IMAP IDLE reports new mail. One instance per home.

    \b
    Example:
        duban serve -v
    """
    import time

    from mailer.service import serve

    ctx.engine()
    clock = None
    start = _parse_now(clock_from)
    if start is not None:
        t0 = time.monotonic()

        def clock() -> dt.datetime:
            return start + dt.timedelta(seconds=(time.monotonic() - t0) * clock_speed)

    serve(ctx.settings, interval_s=interval, clock=clock)


@cli.command("assemble")
@click.option("--period", "period_text", required=True, help="Period, e.g. 2022-06.")
@pass_ctx
def assemble_cmd(ctx: Context, period_text: str) -> None:
    """Assemble a new draft of the period's consolidated notice and send it to the signer.

    Use it after the signer returned a draft with comments.

    \b
    Example:
        duban assemble --period 2022-06
    """
    from sqlalchemy import select

    from mailer.cycle import assemble_period
    from mailer.errors import DubanError
    from mailer.model import Period, Plan
    from mailer.periods import parse_period
    from mailer.store import atomic
    from mailer.transport.base import open_transport

    year, month = parse_period(period_text)
    engine = ctx.engine()
    with atomic(engine) as s:
        pid = s.scalar(
            select(Period.id)
            .join(Plan)
            .where(Period.year == year, Period.month == month, Plan.active.is_(True))
        )
    if pid is None:
        raise DubanError(f"No period {period_text} in the registry. `duban status` lists the periods.")
    doc = assemble_period(ctx.settings, engine, pid)
    from mailer.outgoing import send_pending

    with open_transport(ctx.settings) as transport, progress_bar("发送邮件") as progress:
        sent = send_pending(ctx.settings, engine, transport, progress=progress)
    click.echo(f"draft {doc.version}: {doc.path} (sent {sent} message(s))")


@cli.command("check")
@click.option("--no-mail", is_flag=True, help="Do not contact the mail server.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def check_cmd(ctx: Context, no_mail: bool, as_json: bool) -> None:  # noqa: FBT001
    """Check the home: configuration, templates, directory completeness, the mail server.

    Exits 1 when something must be fixed before the service can run.
    """
    from mailer.checks import run_checks

    problems = run_checks(ctx.settings, ctx.engine(), mail=not no_mail)
    if as_json:
        echo_json([p.__dict__ for p in problems])
    else:
        for p in problems:
            click.echo(f"[{p.level}] {p.message}")
        if not problems:
            click.echo("all good")
    if any(p.level == "error" for p in problems):
        raise SystemExit(1)


@cli.command("demo")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="demo-home")
@click.option("--force", is_flag=True, help="Replace DIRECTORY if it already holds a home.")
def demo_cmd(directory: Path, force: bool) -> None:  # noqa: FBT001
    """Run a whole June 2022 on a fresh home in DIRECTORY with the embedded default (folder mailbox, SQLite).

    Imports the bundled 2022 notice and an example directory; simulated offices, leaders and the signer
    answer by mail; ends with the published notice, the ledger and a status table.

    \b
    Example:
        duban demo demo-home
    """
    from mailer.demo import run_demo

    result = run_demo(directory, force=force, echo=click.echo)
    click.echo("")
    click.echo(result.status_table)
    click.echo("")
    for label, path in result.files:
        click.echo(f"{label}: {path}")
    for note in result.notes:
        click.echo(note)
