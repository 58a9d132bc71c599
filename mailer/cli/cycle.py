"""`duban` commands that run the cycle: run, serve, assemble, check, demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx, progress_bar

if TYPE_CHECKING:
    from mailer.common.config import Settings
    from mailer.web.server import WebThread

_LEVELS = {"error": "错误", "warning": "提醒", "info": "信息"}


def _parse_now(value: str | None, tz: str = "Asia/Shanghai") -> dt.datetime | None:
    """--now "2022-06-10 09:00" (local time in ``tz``, the configured cycle.timezone) for catching up or
    replaying a given day."""
    if not value:
        return None
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"“{value}”不是时间，请写成如 2022-06-10T09:00") from e
    if naive.tzinfo is not None:
        return naive
    from zoneinfo import ZoneInfo

    return naive.replace(tzinfo=ZoneInfo(tz))


@cli.command("run")
@click.option("--once", is_flag=True, help="One poll and one tick, then exit.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Only list what would be sent (as `duban plan`).")
@click.option("--yes", is_flag=True, help="Confirm sending held at a first start or after downtime.")
@click.option("--now", "now_text", help="Act as if it were this local time (e.g. 2022-06-10T09:00).")
@pass_ctx
def run_cmd(ctx: Context, *, once: bool, dry_run: bool, yes: bool, now_text: str | None) -> None:
    """Poll the mailbox once, do whatever is due, send what was queued.

    \b
    Examples:
        duban run --once
        duban run --dry-run --now 2022-06-25T09:00
    """
    from mailer.service.cycle import run_once
    from mailer.transport.base import open_transport

    settings = ctx.settings
    engine = ctx.engine()  # before the mailbox: a home without its registry must not touch the mail
    now = _parse_now(now_text, settings.cycle.timezone)
    if dry_run:
        from mailer.cli.gate import show_plan

        show_plan(settings, engine, now or dt.datetime.now(dt.UTC), as_json=False)
        return
    if not once:
        raise click.UsageError("请加 --once（运行一次）或 --dry-run（只预览，不发送）。")
    with open_transport(settings) as transport, progress_bar("发送邮件") as progress:
        report = run_once(
            settings, engine, transport, now, progress=progress, auto_confirm="run --yes" if yes else ""
        )
    for step in report.steps:
        click.echo(step)
    click.echo(f"收取 {report.taken} 封，排队 {report.queued} 封，发出 {report.sent} 封")
    if report.failures:
        from mailer.common.errors import DubanError

        raise DubanError("；".join(report.failures))


@cli.command("serve")
@click.option("--interval", type=float, help="Seconds between runs (default: service.poll_minutes).")
@click.option("--clock-from", "clock_from", hidden=True,
              help="Simulated clock: start at this local time (demos and end-to-end tests).")
@click.option("--clock-speed", "clock_speed", type=float, default=1.0, hidden=True,
              help="Simulated clock: seconds of service time per real second.")
@click.option("--clock-file", "clock_file", type=click.Path(dir_okay=False, path_type=Path), hidden=True,
              help="Simulated clock stepped from outside: the local time written in this file (end-to-end tests).")
@click.option("--yes", is_flag=True,
              help="Confirm by itself what a first start or a restart after downtime would hold (scripted deploys).")
@pass_ctx
def serve_cmd(
    ctx: Context,
    interval: float | None,
    clock_from: str | None,
    clock_speed: float,
    clock_file: Path | None,
    *,
    yes: bool = False,
) -> None:
    """Run the scheduled service until stopped (SIGTERM / Ctrl-C): poll, tick, send every few minutes,
    and at once when IMAP IDLE reports new mail. One instance per home.

    \b
    Example:
        duban -v serve
    """
    import time

    from mailer.service.daemon import serve

    ctx.engine(verify=True)
    clock = None
    start = _parse_now(clock_from, ctx.settings.cycle.timezone)
    if start is not None:
        # The simulated clock starts at its first reading (the first run), not at process start: a slow
        # start on a loaded machine must not skip simulated days before the service has done anything.
        t0: list[float] = []

        def clock() -> dt.datetime:
            if not t0:
                t0.append(time.monotonic())
            return start + dt.timedelta(seconds=(time.monotonic() - t0[0]) * clock_speed)

    if clock_file is not None:
        zone = ctx.settings.cycle.timezone

        def clock() -> dt.datetime:
            # Re-read at every run: the driver steps time only after the run at the previous time finished.
            stepped = _parse_now(clock_file.read_text(encoding="utf-8").strip(), zone)
            assert stepped is not None
            return stepped

    serve(ctx.settings, interval_s=interval, clock=clock, auto_confirm="serve --yes" if yes else "",
          console=_console)


def _console(settings: Settings) -> WebThread:
    """The web console of ``[web] listen``, started by the service beside its loop."""
    from mailer.web.server import WebThread

    return WebThread(settings, settings.web.listen)


@cli.command("assemble")
@click.option("--period", "period_text", required=True, help="Period, e.g. 2022-06.")
@click.option("--by", envvar="DUBAN_USER", help="Who acts (audit trail). Default: $DUBAN_USER, else the login name.")
@click.option("--reason", default="", help="Why, e.g. 按签发人意见修改后重新汇总.")
@click.option("--force", is_flag=True, help="Assemble even when no office's report is approved (all 未报送).")
@pass_ctx
def assemble_cmd(ctx: Context, period_text: str, by: str | None, reason: str, *, force: bool = False) -> None:
    """Assemble a new draft of the period's consolidated notice and send it to the signer.

    Use it after the signer returned a draft with comments.

    \b
    Example:
        duban assemble --period 2022-06
    """
    from sqlalchemy import select

    from mailer.common.errors import DubanError
    from mailer.common.periods import parse_period
    from mailer.registry.model import Period, Plan
    from mailer.registry.store import atomic
    from mailer.service.cycle import assemble_period
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
        raise DubanError(f"登记库中没有 {period_text} 报送期。已有的报送期见：duban status")
    if not force:
        from mailer.service.emptynotice import nothing_reported

        with atomic(engine) as s:
            period = s.get(Period, pid)
            assert period is not None
            if nothing_reported(s, period):
                raise DubanError(
                    f"{period_text} 期没有任何股室的报告获审定，汇总的通报中所有任务都会是“未报送”，因此未送签。"
                    f"如确需这样送签，请运行：duban assemble --period {period_text} --force"
                )
    from mailer.registry.audit import current_user
    from mailer.registry.model import Event

    audit = Event(
        kind="reassembled",
        detail=f"{period_text} 重新汇总送签发",
        actor=(by or "").strip() or current_user(),
        reason=reason,
        period_id=pid,
    )
    doc = assemble_period(ctx.settings, engine, pid, audit=audit)
    from mailer.service.outgoing import send_pending

    with open_transport(ctx.settings) as transport, progress_bar("发送邮件") as progress:
        sent = send_pending(ctx.settings, engine, transport, progress=progress)
    click.echo(f"第{doc.version}稿：{doc.path}（发出邮件 {sent} 封）")


@cli.command("check")
@click.option("--no-mail", is_flag=True, help="Do not contact the mail server.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--now", "now_text", help="Check as if it were this local time (e.g. 2026-12-01T09:00).")
@pass_ctx
def check_cmd(ctx: Context, no_mail: bool, as_json: bool, now_text: str | None) -> None:  # noqa: FBT001
    """Check the home: configuration, holidays, templates, directory completeness, the mail server.

    Exits 1 when something must be fixed before the service can run.
    """
    from mailer.service.checks import run_checks

    now = _parse_now(now_text, ctx.settings.cycle.timezone)
    today = now.date() if now else None
    problems = run_checks(ctx.settings, ctx.engine(verify=True), mail=not no_mail, today=today)
    if as_json:
        echo_json([p.__dict__ for p in problems])
    else:
        for p in problems:
            click.echo(f"[{_LEVELS.get(p.level, p.level)}] {p.message}")
        if not any(p.level != "info" for p in problems):
            click.echo("检查通过，一切正常")
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
    from mailer.service.demo import run_demo

    result = run_demo(directory, force=force, echo=click.echo)
    click.echo("")
    click.echo(result.status_table)
    click.echo("")
    for label, path in result.files:
        click.echo(f"{label}：{path}")
    for note in result.notes:
        click.echo(note)
