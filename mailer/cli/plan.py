"""`duban` commands for the plan and the registry: import, tasks (set-lead), offices, ledger, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx

# Directories first, so a notice imported in the same command finds offices by their aliases.
_ORDER = {"directory": 0, "notice": 1, "tasks": 1}


@cli.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@pass_ctx
def import_cmd(ctx: Context, *, files: tuple[Path, ...], as_json: bool) -> None:
    """Import notice .docx (or .doc), task .xlsx and directory .xlsx FILES into the registry.

    The kind of each file is found from its content. Directories are imported first. Each file is read
    completely before anything is written; a file with a problem changes nothing and is reported, and the
    command exits with 1 if any file failed.

    \b
    Example:
        duban import examples/directory-2022.xlsx examples/notice-2022.docx
    """
    from mailer.common.errors import PlanImportError
    from mailer.plan.importer import detect_kind, import_file

    settings, engine = ctx.settings, ctx.engine()
    ranked: list[tuple[int, int, Path]] = []
    failed: list[str] = []
    for i, path in enumerate(files):
        try:
            ranked.append((_ORDER[detect_kind(path)], i, path))
        except PlanImportError as e:
            failed.append(str(e))
    reports = []
    for _, _, path in sorted(ranked):
        try:
            report = import_file(settings, engine, path)
        except PlanImportError as e:
            failed.append(str(e))
            continue
        reports.append(report)
        if not as_json:
            click.echo(report.render())
    if as_json:
        echo_json({"imported": [r.to_dict() for r in reports], "errors": failed})
    for message in failed if not as_json else []:
        click.echo(f"错误：{message}", err=True)
    if failed:
        raise SystemExit(1)


def _plan_or_fail(db: Any) -> Any:
    """The active plan (mailer.registry.listings.PlanRow), or the clerk is told to import a notice first."""
    from mailer.common.errors import RegistryError
    from mailer.registry.listings import active_plan_row

    plan = active_plan_row(db)
    if plan is None:
        raise RegistryError("尚未导入任何工作计划。请先导入通知：duban import 通知.docx")
    return plan


@cli.group("tasks", invoke_without_command=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the tasks as JSON (with content and milestones)."
)
@click.option("--all", "include_removed", is_flag=True, help="Include tasks removed by a later import.")
@click.pass_context
def tasks_cmd(click_ctx: click.Context, *, as_json: bool, include_removed: bool) -> None:
    """List the tasks of the active plan: lead office (* = assumed, not underlined), offices, milestone dates.

    \b
    Examples:
        duban tasks
        duban tasks --json > tasks.json
        duban tasks set-lead 3 基财股
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from mailer.registry.listings import task_dicts
    from mailer.registry.status import format_table

    ctx: Context = click_ctx.obj
    with ctx.reading() as db:
        plan = _plan_or_fail(db)
        items = task_dicts(db, plan, include_removed=include_removed)
    title = f"{plan.title}（{plan.year}）"
    if as_json:
        echo_json(items)
        return
    rows = []
    for t in items:
        lead = "、".join(t["leads"]) + ("*" if t["lead_assumed"] else "")
        others = "、".join(o for o in t["offices"] if o not in t["leads"])
        dates = " ".join(_md(m["due"]) for m in t["milestones"])
        rows.append(
            [str(t["seq"]) + ("（已删除）" if t.get("removed") else ""), t["name"], lead, others, dates]
        )
    click.echo(title)
    click.echo(
        format_table(["序号", "任务名称", "牵头股室", "协办股室", "节点"], rows, max_width={1: 36, 3: 30})
    )
    if any(t["lead_assumed"] for t in items):
        click.echo("* 未标下划线，默认第一个股室为牵头股室；更正：duban tasks set-lead 序号 股室")


def _md(iso: str | None) -> str:
    if not iso:
        return "年内"
    _, m, d = iso.split("-")
    return f"{int(m)}/{int(d)}"


@tasks_cmd.command("set-lead")
@click.argument("seq", type=int)
@click.argument("offices", nargs=-1, required=True)
@click.option("--by", envvar="DUBAN_USER", help="Who acts (audit trail). Default: $DUBAN_USER, else the login name.")
@pass_ctx
def set_lead_cmd(ctx: Context, seq: int, offices: tuple[str, ...], by: str | None) -> None:
    """Make OFFICES (one or more of the task's offices) the lead of task SEQ.

    \b
    Example:
        duban tasks set-lead 18 教育装备中心
    """
    from mailer.plan.importer import set_lead
    from mailer.registry.audit import current_user

    click.echo(set_lead(ctx.engine(), seq, list(offices), actor=(by or "").strip() or current_user()))


@cli.group("offices", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the offices as JSON.")
@click.pass_context
def offices_cmd(click_ctx: click.Context, *, as_json: bool) -> None:
    """List the offices: addresses, contact, supervising leader, the tasks each leads.

    Offices marked "否" in 名录 were found only in the task table: import the directory to give them
    an address (or: duban offices set-address 股室 邮箱).
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from mailer.registry.listings import office_dicts
    from mailer.registry.status import format_table

    ctx: Context = click_ctx.obj
    with ctx.reading() as db:
        items = office_dicts(db)
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("尚无股室。请导入名录和通知：duban import 名录.xlsx 通知.docx")
        return
    rows = [
        [
            o["name"],
            "、".join(o["aliases"]),
            " ".join(o["addresses"]),
            o["contact"],
            o["phone"],
            o["leader"] or "",
            "、".join(map(str, o["leads_tasks"])),
            "局办公室" if o["is_bureau_office"] else "是" if o["in_directory"] else "否",
        ]
        for o in items
    ]
    click.echo(
        format_table(
            ["股室", "别名", "邮箱", "联系人", "电话", "分管负责同志", "牵头任务", "名录"],
            rows,
            max_width={2: 44, 6: 16},
        )
    )


@cli.command("ledger")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of registry/ledger.xlsx.",
)
@pass_ctx
def ledger_cmd(ctx: Context, output: Path | None) -> None:
    """Write the work ledger (工作台账) registry/ledger.xlsx from the registry.

    One row per milestone of every task with its state each month; one sheet per period with each task's
    light, reported text, milestones, who reported and when, and approval; and the timeliness of each
    office with a chart. Print-ready (A4 landscape, one page wide).
    """
    from mailer.render.ledger import write_ledger

    click.echo(f"工作台账已生成：{write_ledger(ctx.settings, ctx.engine(), output)}")


@cli.command("status")
@click.option("--period", "period_text", help="The period, e.g. 2022-06 (default: the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print the states as JSON.")
@click.option("--now", "now_text", help="Count days late as of this local time (e.g. 2022-06-25T09:00).")
@pass_ctx
def status_cmd(ctx: Context, *, period_text: str | None, as_json: bool, now_text: str | None = None) -> None:
    """Show where each lead office stands in a period: 未发送, 已发送, 格式有误, 待审定, 已退回, 已审定.

    The 灯 column is the worst light (红/黄/绿, see [lights] in duban.toml) of the tasks the office leads;
    --json lists every task's light with its reasons.

    \b
    Examples:
        duban status
        duban status --period 2022-06 --json
        duban status --now 2022-06-25T09:00
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    from mailer.cli.cycle import _parse_now
    from mailer.common.errors import RegistryError
    from mailer.common.labels import label as state_label
    from mailer.common.periods import parse_period, span_label
    from mailer.registry.doubts import uncertain_dispatches
    from mailer.registry.periodfacts import date_cn
    from mailer.registry.rows import periods
    from mailer.registry.status import office_states, render_status_table
    from mailer.registry.tickfailures import stuck_lines
    from mailer.render.lights import lit_tasks, office_lights
    from mailer.service.statusnotes import gate_lines, robot_lines

    tz = ctx.settings.cycle.timezone
    now = _parse_now(now_text, tz)
    # Plain sqlite3 on a SQLite home (mailer.registry.rows): no SQLAlchemy imported, a tenth of a second.
    with ctx.reading() as rows:
        # A stuck service (mailer.registry.tickfailures) first: nothing else on the page moves until it is fixed.
        gate = stuck_lines(rows, now) + gate_lines(ctx.settings, rows) + robot_lines(ctx.settings, rows)
        if period_text:
            year, month = parse_period(period_text)
            found = periods(rows, year=year, month=month)
            if not found:
                raise RegistryError(
                    f"登记库中没有 {year}年{month}月 的报送期。已有的报送期见：duban status"
                )
        else:
            found = periods(rows)
        if not found:
            if as_json:
                # "notes" (等待确认, 无人报送) only when there are any: the shape stays as it was otherwise.
                echo_json({"period": None, "offices": [], **({"notes": gate} if gate else {})})
            else:
                for line in gate:
                    click.echo(line)
                click.echo(
                    "尚无报送期：还没有发出任何表格。导入通知和名录后，第一个报送期在发送日开启（duban run）。"
                )
            return
        period = found[0]
        states = office_states(rows, period, now=now, tz=tz)
        today = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(tz)).date()
        lit = lit_tasks(rows, ctx.settings, period, today)
        by_seq = {facts.seq: result for facts, result in lit}
        office_light = office_lights(by_seq, [(s.office, s.tasks) for s in states])
        task_rows: list[dict[str, Any]] = [
            {"seq": facts.seq, "name": facts.name, **result.to_dict()} for facts, result in lit
        ]
        doubts = uncertain_dispatches(rows)
        postgresql = rows.dialect == "postgresql"
    moved = f"，由{date_cn(period.due_moved_from)}顺延" if period.due_moved_from else ""
    label = (
        f"{period.year}年{span_label(period.month)}（{period.key}，{state_label('period', period.state)}，"
        f"截止 {date_cn(period.due_on)}{moved}）"
    )
    key = period.key
    if as_json:
        echo_json(
            {
                "period": key,
                "offices": [{**s.to_dict(), "light": office_light[s.office].value} for s in states],
                "tasks": task_rows,
                "uncertain": [d.to_dict() for d in doubts],
                **({"notes": gate} if gate else {}),
            }
        )
        return
    click.echo(label)
    click.echo(render_status_table(states, tz=tz, lights={o: x.text for o, x in office_light.items()}))
    red = [r for r in task_rows if r["light"] == "red"]
    if red:
        shown = "；".join(f"{r['seq']}.{r['name']}（{r['reasons'][0]}）" for r in red[:8])
        click.echo(f"红灯任务 {len(red)} 项：{shown}{'等' if len(red) > 8 else ''}")
    for line in gate:
        click.echo(line)
    if postgresql:  # which `duban serve` holds the home's lock (a SQLite home has no such lock)
        from mailer.service.checks import check_service

        for p in check_service(ctx.engine()):
            click.echo(p.message)
    if doubts:
        click.echo(f"\n未确认是否发出的邮件 {len(doubts)} 封（不会自动重发，请逐一处理）：")
        for d in doubts:
            click.echo("  " + d.line())
