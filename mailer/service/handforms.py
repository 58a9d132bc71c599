"""Forms handled by the clerk rather than by mail: a filled form that came by USB stick, paper scan or chat
(`duban forms accept`), and the office's form mailed again (`duban forms resend`).

A form taken in by hand goes through exactly what a mailed one does — the safety checks, the parser, the
form check — and becomes the office's next revision; a valid one goes to the leader for review as by mail.
Its findings are for the clerk; the office is mailed only when asked (``notify_office``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from mailer.common.config import Settings
from mailer.common.errors import FormParseError, UnsafeAttachment
from mailer.read.safety import parse_form_bounded, safe_docx
from mailer.registry.audit import record
from mailer.registry.model import Dispatch, Document, Period, utcnow
from mailer.registry.offices import office_address
from mailer.registry.periodfacts import form_token, period_label
from mailer.registry.queries import active_plan
from mailer.registry.store import atomic
from mailer.render.mailcontext import mail_context
from mailer.service.actions import FINISHED, ActionRefused, ActionResult, get_office, get_period
from mailer.service.cycle import current_form
from mailer.service.matching import by_token
from mailer.service.outgoing import Mail, queue_mail
from mailer.service.submissions import FormFile, take_form


@dataclass
class AcceptResult(ActionResult):
    findings: list[dict[str, Any]] = field(default_factory=list)


def _read(settings: Settings, file: Path) -> FormFile:
    """The file through the same gates as a mail attachment; refused files change nothing."""
    try:
        raw = file.read_bytes()
    except OSError as e:
        raise ActionRefused(f"无法读取文件“{file}”：{e.strerror or e}。") from e
    try:
        data = safe_docx(
            raw,
            file.name,
            max_bytes=settings.mail.max_attachment_bytes,
            soffice=settings.service.libreoffice,
            timeout_s=settings.service.pdf_timeout_s,
        )
        return FormFile(file.name, data, parse_form_bounded(data))
    except (UnsafeAttachment, FormParseError) as e:
        raise ActionRefused(f"拒收“{file.name}”：{e}（未作任何记录）") from e


def _period_of(session: Any, form: FormFile, period: str | None) -> Period:
    if period:
        return get_period(session, period)
    if form.parsed.token:
        match = by_token(session, form.parsed.token, "docx_token")
        if match is not None and match.period is not None:
            return match.period
    plan = active_plan(session)
    newest = (
        session.scalars(
            select(Period)
            .where(Period.plan_id == plan.id, Period.state.not_in(FINISHED))
            .order_by(Period.year.desc(), Period.month.desc())
        ).first()
        if plan is not None
        else None
    )
    if newest is None:
        raise ActionRefused("无法确定这份表格属于哪个期次：请加 --period（如 --period 2022-06）。")
    return newest


def accept_form(
    settings: Settings,
    engine: Engine,
    file: Path,
    *,
    office: str,
    period: str | None = None,
    by: str,
    reason: str = "",
    notify_office: bool = False,
    received_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> AcceptResult:
    """Take in a filled form that came by another way as the office's next revision.

    :param period: e.g. "2022-06"; default: the period the form's own number names, else the newest open one
    :param notify_office: also mail the office the receipt (valid) or the error reply (errors)
    :param received_at: when it was handed in (lateness is judged by it); default: now
    """
    now = now or utcnow()
    if received_at is not None and received_at > now:
        raise ActionRefused(f"收到时间 {received_at:%Y-%m-%d %H:%M} 晚于现在，请检查 --received。")
    form = _read(settings, file)
    with atomic(engine) as s:
        o = get_office(s, office)
        p = _period_of(s, form, period)
        if p.state in FINISHED:
            raise ActionRefused(f"{p.key} 期次已处于“{p.state}”阶段，不再接收表格。")
        sub = take_form(
            settings, s, None, form, p, o, submitted_at=received_at or now, notify_office=notify_office
        )
        errors = [f for f in sub.findings if f.get("level") == "error"]
        if sub.state == "invalid":
            outcome = f"有 {len(errors)} 处错误，未送审" + ("，已将错误清单发给该股室" if notify_office else "")
        else:
            outcome = "有效，已送分管负责同志审定"
        record(
            s,
            "form_accepted",
            f"{o.name} 第{sub.revision}版表格（{period_label(p)}，文件“{file.name}”）由局办公室录入：{outcome}",
            actor=by,
            reason=reason.strip(),
            period_id=p.id,
            office_id=o.id,
            at=now,
        )
        return AcceptResult(
            f"已录入 {o.name} {period_label(p)} 第{sub.revision}版表格：{outcome}。",
            {
                "office": o.name,
                "period": p.key,
                "revision": sub.revision,
                "state": sub.state,
                "late": sub.late,
                "findings": sub.findings,
            },
            findings=list(sub.findings),
        )


def resend_form(
    settings: Settings,
    engine: Engine,
    *,
    office: str,
    period: str,
    by: str,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ActionResult:
    """Mail the office its current pre-filled form of the period again, marked （重发）, to its address as it
    is now (e.g. after `duban offices set-address`)."""
    now = now or utcnow()
    with atomic(engine) as s:
        o, p = get_office(s, office), get_period(s, period)
        if p.state in FINISHED:
            raise ActionRefused(f"{p.key} 期次已处于“{p.state}”阶段，无需再发表格。")
        attachments = current_form(settings, s, p, o)
        if not attachments:
            raise ActionRefused(
                f"{o.name} 在 {p.key} 还没有生成过表格（期次开启后由服务发出），无可重发。"
            )
        addr = office_address(o)
        if addr is None:
            raise ActionRefused(
                f"{o.name} 没有登记邮箱，无法重发。请先设置：duban offices set-address {o.name} 邮箱地址"
            )
        doc = s.scalars(
            select(Document)
            .where(Document.kind == "form", Document.period_id == p.id, Document.office_id == o.id)
            .order_by(Document.id.desc())
        ).first()
        assert doc is not None  # current_form found its file
        n = (
            s.scalar(
                select(func.count(Dispatch.id)).where(
                    Dispatch.key.like(f"form_resend:{p.key}:{o.id}:%")
                )
            )
            or 0
        ) + 1
        token = doc.token or form_token(settings, p, o)
        d = queue_mail(
            s,
            settings,
            f"form_resend:{p.key}:{o.id}:{n}",
            "form",
            Mail(
                "form",
                {
                    **mail_context(settings, p, o),
                    "tasks": _task_seqs(s, p, o),
                    "remind_on": "",
                    "resend": True,
                },
                [addr],
                attachments=attachments,
            ),
            token=token,
            period_id=p.id,
            office_id=o.id,
            document_id=doc.id,
        )
        assert d is not None  # the key is new
        record(
            s,
            "form_resent",
            f"{o.name} {period_label(p)} 表格重发至 {addr}（第{n}次重发）",
            actor=by,
            reason=reason.strip(),
            period_id=p.id,
            office_id=o.id,
            at=now,
        )
        return ActionResult(
            f"已重发 {o.name} {period_label(p)} 的表格至 {addr}（邮件主题标注“（重发）”）。",
            {"office": o.name, "period": p.key, "to": addr, "dispatch": d.id, "subject": d.subject},
        )


def _task_seqs(session: Any, period: Period, office: Any) -> list[int]:
    from mailer.registry.queries import lead_tasks

    return [t.seq for t in lead_tasks(period.plan, office, period.key)]
