"""The context of every mail template, built in one place, and the sample `duban check` renders them with.

Every mail duban queues gets :func:`mail_context`: the keys every template may use (office, period_label,
period_key, due_date, due_day, due_note, plan_title, leader — "" where they do not apply, e.g. a quarantine
notice has no period) plus the kind's own keys. Findings (error replies, receipts) go through
:func:`findings_context`, so an error reply from intake and one from the form check look alike.

Because the common keys are always there, a bureau may use any of them in any template. A kind's own keys
are listed in :data:`KIND_KEYS` with a sample value; :func:`template_problems` checks that each template
uses only what its kind is given, and renders it with the sample (each branch of the shipped templates
is reached by the variants), so a template broken for one kind of answer is found by `duban check`, not
by an office waiting for its reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mailer.common.config import Settings
from mailer.registry.deadlines import office_dates
from mailer.registry.latestart import due_note
from mailer.registry.model import Office, Period
from mailer.registry.periodfacts import date_cn, period_label

COMMON = ("office", "period_label", "period_key", "due_date", "due_day", "due_note", "plan_title", "leader")


def mail_context(
    settings: Settings, period: Period | None = None, office: Office | None = None, /, **extra: Any
) -> dict[str, Any]:
    """The context for a mail about ``period`` (and ``office``): the common keys, then ``extra``.

    The due date is the office's own when its deadline was moved (mailer.registry.deadlines), else the period's.
    ``extra`` may override a common key (e.g. ``leader`` for the person a decision mail is for, or
    ``office`` naming several offices).
    """
    ctx: dict[str, Any] = dict.fromkeys(COMMON, "")
    if office is not None:
        ctx["office"] = office.name
        ctx["leader"] = office.leader.name if office.leader else ""
    if period is not None:
        from sqlalchemy.orm import object_session

        session = object_session(period)
        due_on = office_dates(session, period, office.id).due_on if office and session else period.due_on
        ctx.update(
            period_label=period_label(period),
            period_key=period.key,
            due_date=date_cn(due_on),
            due_day=settings.calendar.describe(due_on),
            due_note=due_note(period),
            plan_title=period.plan.title,
        )
    ctx.update(extra)
    return ctx


def finding_dict(message: str, level: str = "error") -> dict[str, Any]:
    """A finding that is only a message (no row or column): a mail without a form, an attachment refused."""
    return {"level": level, "message": message, "seq": None, "name": "", "column": ""}


def findings_context(findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``findings``, ``errors`` and ``warnings`` for error_reply and receipt (dicts as Finding.to_dict)."""
    all_ = [dict(f) for f in findings]
    return {
        "findings": all_,
        "errors": [f for f in all_ if f.get("level") == "error"],
        "warnings": [f for f in all_ if f.get("level") != "error"],
    }


# --- the sample `duban check` renders every template with ------------------------------------------------

_ROW = {"seq": 3, "name": "示例任务", "progress": "已完成第一阶段。\n第二阶段推进中。", "problems": "无", "remark": ""}
_FINDINGS = findings_context([
    {"level": "error", "message": "编号 3「示例任务」的“进展情况”栏为空。", "seq": 3, "name": "示例任务", "column": "进展情况"},
    finding_dict("“填报人”未填写。", "warning"),
])
_SUBMISSION = {"revision": 2, "late": True, "filled_by": "张三", **_FINDINGS}

# Each kind's own keys with a sample value (what its callers pass besides the common keys). A list gives
# variants, rendered one by one, so that every branch of the shipped template is rendered.
KIND_KEYS: dict[str, list[dict[str, Any]]] = {
    "form": [{"tasks": [_ROW], "resend": False, "remind_on": "2022年6月15日"},
             {"tasks": [], "resend": True, "remind_on": "2022年6月15日"}],
    "reminder": [{"state": "", "has_form": True}, {"state": "invalid", "has_form": False},
                 {"state": "returned", "has_form": True}],
    "escalation": [
        {"state": "", "today": "2022年6月23日"},
        {"state": "invalid", "today": "2022年6月23日"},
        {"missing_address": True},
        {"missing_signer": True},
        {"nothing_reported": True},
    ],
    "receipt": [_SUBMISSION, {**_SUBMISSION, "late": False, **findings_context([])}],
    "error_reply": [_SUBMISSION, {**_SUBMISSION, "revision": 0, "late": False}],
    "approval_request": [
        {"revision": 2, "late": True, "filled_by": "张三", "rows": [_ROW], "leader_title": "分管负责同志",
         "no_leader": False},
        {"revision": 1, "late": False, "filled_by": "", "rows": [], "leader_title": "", "no_leader": True},
    ],
    "approval_reminder": [{"revision": 2, "received": "2022年6月18日"}],
    "approved_notice": [{"revision": 2, "newer_revision": 0, "comment": "同意。"},
                        {"revision": 2, "newer_revision": 3, "comment": ""}],
    "returned": [{"revision": 2, "newer_revision": 0, "comment": "请补充数据。"},
                 {"revision": 2, "newer_revision": 3, "comment": ""}],
    "not_understood": [
        {"revision": 2, "reply_text": "好的"},
        {"version": 1, "reply_text": "好的", "office": ""},
        {"reply_text": "好的", "waiting": 2},
    ],
    "signoff_request": [{"signer": "王局长", "version": 1, "summary": "10 个股室已报送", "pdf_error": ""},
                        {"signer": "王局长", "version": 2, "summary": "", "pdf_error": "PDF 转换失败"}],
    "signoff_returned": [{"signer": "王局长", "version": 1, "comment": "请修改第三项。", "draft_name": "通报-2022-06-v1.docx"}],
    "signoff_stale": [{"signer": "王局长", "replied_version": 1, "version": 2, "reply_text": "同意印发。"}],
    "published": [{"version": 1, "has_pdf": True}, {"version": 1, "has_pdf": False}],
    "quarantine_notice": [{"from_addr": "someone@example.com", "from_name": "某人", "subject": "进展情况",
                           "reason": "发件人不是任何股室的登记邮箱", "received": "2022-06-18 09:30",
                           "archive_path": "inbox/archive/ab/abcd.eml", "advice": "如是股室新邮箱，请登记后放行。"}],
    "oversize_reply": [{"subject": "进展情况", "size_mb": "30.0", "limit_mb": "25.0", "attachment_mb": "10.0",
                        "received": "2022-06-18 09:30"}],
    "gate_held": [{"reason": "首次运行，等待局办公室确认", "since": "2022-06-10 08:00",
                   "waiting": ["进展情况表 → 基财股"]}],
}
_SAMPLE_COMMON = {
    "office": "基财股", "period_label": "2022年1—6月", "period_key": "2022-06", "due_date": "2022年6月20日",
    "due_day": "6月20日（星期一）", "due_note": "", "plan_title": "台山市教育系统2022年重点工作任务",
    "leader": "李四", "token": "DB-2206-ABCDEF",
}


def sample_contexts(name: str) -> list[dict[str, Any]]:
    """The contexts `duban check` renders template ``name`` with (a template the bureau added under a name
    no kind uses gets the common keys only)."""
    return [{**_SAMPLE_COMMON, **variant} for variant in KIND_KEYS.get(name, [{}])]


def template_problems(settings: Settings, names: Iterable[str]) -> list[str]:
    """What is wrong with each mail template of ``names`` (both .txt and .html), in Chinese, naming the
    template: a variable its kind is not given, or an error when rendered with the sample context."""
    import jinja2
    from jinja2 import meta

    from mailer.common.errors import TemplateError
    from mailer.render.compose import mail_environment, render_mail

    env = mail_environment(settings)
    out: list[str] = []
    for name in names:
        known = set(sample_contexts(name)[0]) | {k for v in KIND_KEYS.get(name, []) for k in v}
        known |= {"sender_name", "sender_address"}
        builtin = set(env.globals)
        for ext in ("txt", "html"):
            try:
                source = env.loader.get_source(env, f"{name}.{ext}")[0] if env.loader else ""
                tree = env.parse(source)
                used = meta.find_undeclared_variables(tree)
                # {% import "_macros.jinja" as m %} inside a block: jinja's meta counts m as undeclared
                used -= {n.target for n in tree.find_all(jinja2.nodes.Import)}
                used -= {t if isinstance(t, str) else t[1] for n in tree.find_all(jinja2.nodes.FromImport)
                         for t in n.names}
            except (jinja2.TemplateError, UnicodeDecodeError):
                continue  # a syntax error or a missing file is reported by templatecheck / check_templates
            for var in sorted(used - known - builtin):
                out.append(
                    f"邮件模板 templates/mail/{name}.{ext} 使用了变量 {var}，但系统发送这类邮件时不提供它，"
                    f"发送时会出错。可用的变量：{'、'.join(sorted(known - {'sender_address'}))}。"
                )
        if any(f"templates/mail/{name}." in m for m in out):
            continue  # its undefined variables are named above; rendering would only repeat them
        for ctx in sample_contexts(name):
            try:
                render_mail(settings, name, **ctx)
            except TemplateError as e:
                out.append(f"邮件模板 templates/mail/{name} 用示例数据试填时出错：{e}。请对照系统自带的模板修改。")
                break
            except Exception as e:  # noqa: BLE001 - a filter on a wrong value: any error, reported by name
                out.append(f"邮件模板 templates/mail/{name} 用示例数据试填时出错：{type(e).__name__}: {e}")
                break
    return list(dict.fromkeys(out))
