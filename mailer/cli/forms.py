"""`duban forms`: render the progress forms of a period, and check a returned form as duban reads it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli.base import Context, cli, echo_json, pass_ctx

if TYPE_CHECKING:
    from mailer.read.formcheck import FormCheck
    from mailer.read.formparse import ParsedForm

EXIT_REFUSED = 1  # the file was refused or holds no form
EXIT_FINDINGS = 3  # the form was read, but has errors the office must fix


@cli.group("forms")
def forms() -> None:
    """Progress forms (附件2): render them for the offices, check returned ones."""


def _plan(session: Any) -> Any:
    from mailer.common.errors import RegistryError
    from mailer.registry.queries import active_plan

    plan = active_plan(session)
    if plan is None:
        raise RegistryError("登记库中没有当前工作计划。请先导入通知：duban import 通知.docx")
    return plan


@forms.command("render")
@click.option(
    "--period", "period_text", required=True, help="Year and month, e.g. 2022-06 (the form covers 1—N月)."
)
@click.option(
    "--office",
    "office_names",
    multiple=True,
    help="Only this office (repeatable). Default: every lead office.",
)
@pass_ctx
def render(ctx: Context, period_text: str, office_names: tuple[str, ...]) -> None:
    """Render the pre-filled forms of the active plan into outbox/forms/<yyyy-mm>/.

    \b
    Example:
        duban forms render --period 2022-06 --office 基财股
    """
    from mailer.common.periods import parse_period
    from mailer.registry.store import atomic
    from mailer.render.forms import render_forms

    year, month = parse_period(period_text)
    engine = ctx.engine()
    with atomic(engine) as session:
        plan = _plan(session)
    done = render_forms(ctx.settings, engine, plan, year, month, list(office_names) or None)
    for form in done:
        click.echo(
            f"{form.office_name}\t{form.token}\t编号 {','.join(map(str, form.task_seqs))}\t{form.path}"
        )
    click.echo(f"已生成 {year}年{month}月 的进展情况表 {len(done)} 份。")


def _report(parsed: ParsedForm, check: FormCheck) -> dict[str, Any]:
    return {
        "office": check.office.name if check.office else None,
        "period": f"{check.year:04d}-{check.month:02d}" if check.year and check.month else None,
        "token": check.token,
        "filled_by": check.filled_by,
        "filled_on": check.filled_on,
        "title": parsed.title,
        "ok": check.ok,
        "tasks": [
            {"seq": e.seq, "name": e.name, "progress": e.progress, "problems": e.problems, "remark": e.remark}
            for e in check.entries
        ],
        "findings": [f.to_dict() for f in check.findings],
    }


def _echo_text(report: dict[str, Any]) -> None:
    click.echo(
        f"股室：{report['office'] or '（无法确定）'}    期次：{report['period'] or '（无法确定）'}    "
        f"表单编号：{report['token'] or '（无）'}"
    )
    click.echo(
        f"填报人：{report['filled_by'] or '（未填）'}    填报日期：{report['filled_on'] or '（未填）'}"
    )
    for t in report["tasks"]:
        click.echo(f"\n编号 {t['seq']}「{t['name']}」")
        for label, k in (
            ("进展情况", "progress"),
            ("存在问题和下一步工作计划", "problems"),
            ("备注", "remark"),
        ):
            text = t[k].replace("\n", "\n    ") if t[k] else "（空）"
            click.echo(f"  {label}：{text}")
    errors = [f for f in report["findings"] if f["level"] == "error"]
    warnings = [f for f in report["findings"] if f["level"] != "error"]
    click.echo(f"\n错误 {len(errors)} 项，提示 {len(warnings)} 项")
    for f in errors:
        click.echo(f"  错误：{f['message']}")
    for f in warnings:
        click.echo(f"  提示：{f['message']}")


@forms.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--period", "period_text", help="The period expected, e.g. 2022-06 (default: from the form).")
@click.option("--office", "office_name", help="The office expected (default: from the form).")
@click.option("--json", "as_json", is_flag=True, help="Print what duban reads as JSON.")
@pass_ctx
def check(
    ctx: Context, *, file: Path, period_text: str | None, office_name: str | None, as_json: bool
) -> None:
    """Show what duban reads from a returned FILE (.docx; .doc, .wps, .odt, .rtf through LibreOffice) and what it would reply.

    Exit status: 0 when the form would be accepted (warnings allowed), 1 when the file is refused or
    holds no form, 3 when it was read but has errors the office must fix.

    \b
    Example:
        duban forms check 基财股-6月.docx --period 2022-06 --json
    """
    from mailer.common.errors import FormParseError, RegistryError, UnsafeAttachment
    from mailer.common.periods import parse_period
    from mailer.read.formcheck import check_form
    from mailer.read.safety import parse_form_bounded, safe_docx
    from mailer.registry.offices import find_office
    from mailer.registry.store import atomic

    settings = ctx.settings
    try:
        data = safe_docx(
            file.read_bytes(),
            file.name,
            max_bytes=settings.mail.max_attachment_bytes,
            soffice=settings.service.libreoffice,
            timeout_s=settings.service.pdf_timeout_s,
        )
        parsed = parse_form_bounded(data)
    except (UnsafeAttachment, FormParseError) as e:
        if as_json:
            echo_json({"refused": str(e)})
        else:
            click.echo(f"拒收：{e}", err=True)
        _exit(EXIT_REFUSED)
        return
    year, month = parse_period(period_text) if period_text else (None, None)
    with atomic(ctx.engine()) as session:
        office = None
        if office_name:
            office = find_office(session, office_name)
            if office is None:
                raise RegistryError(f"登记库中没有股室“{office_name}”。股室列表见：duban offices")
        result = check_form(
            session,
            parsed,
            plan=_plan(session),
            year=year,
            month=month,
            office=office,
            secret_key=settings.secret_key(),
        )
        report = _report(parsed, result)
    if as_json:
        echo_json(report)
    else:
        _echo_text(report)
    if not report["ok"]:
        _exit(EXIT_FINDINGS)


def _exit(code: int) -> None:
    click.get_current_context().exit(code)
