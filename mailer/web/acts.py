"""The console's actions: each one a confirmation text and a call of the SAME function the CLI calls
(mailer.service.actions, mailer.service.handforms, mailer.service.sendercheck, mailer.service.intake) — never a second implementation.
The web user is the ``by`` of the audit row."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathvalidate import sanitize_filename
from sqlalchemy import Engine

from mailer.common.config import Settings
from mailer.common.files import private_dir
from mailer.registry.model import InboundMessage, Submission
from mailer.registry.store import atomic
from mailer.service.actions import (
    ActionRefused,
    close_period,
    decide_revision,
    extend,
    mark_task_done,
    skip_period,
)
from mailer.service.handforms import accept_form, resend_form
from mailer.web.accounts import Account


@dataclass(frozen=True)
class Env:
    """What an action needs besides its form: the home, its registry, the clock and who acts."""

    settings: Settings
    engine: Engine
    now: dt.datetime | None
    account: Account

    @property
    def by(self) -> str:
        return self.account.name


Form = dict[str, str]


@dataclass(frozen=True)
class Spec:
    title: str
    roles: tuple[str, ...]  # who may do it
    describe: Callable[[Env, Form], str]  # the confirmation text (may refuse early)
    run: Callable[[Env, Form], str]  # the outcome text
    sends_mail: bool = False


def _need(form: Form, name: str, what: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise ActionRefused(f"请填写{what}。")
    return value


def _int(form: Form, name: str, what: str) -> int:
    try:
        return int(_need(form, name, what))
    except ValueError as e:
        raise ActionRefused(f"{what}须是数字。") from e


def _date(form: Form, name: str) -> dt.date:
    text = _need(form, name, "日期")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise ActionRefused(f"“{text}”不是日期，请写成如 2022-06-25。") from e


def _approve(form: Form) -> bool:
    return form.get("decision") == "approve"


def _sub_text(env: Env, form: Form) -> str:
    sid = _int(form, "submission", "报告编号")
    with atomic(env.engine) as s:
        sub = s.get(Submission, sid)
        if sub is None:
            raise ActionRefused(f"没有编号为 {sid} 的报告。")
        return f"{sub.office.name} {sub.period.key} 第{sub.revision}版报告"


def _leader_email(env: Env, form: Form) -> str:
    with atomic(env.engine) as s:
        sub = s.get(Submission, _int(form, "submission", "报告编号"))
        leader = sub.office.leader if sub is not None else None
        return leader.email if leader is not None else ""


# --- the actions ----------------------------------------------------------------------------------------


def _extend_describe(env: Env, f: Form) -> str:
    return (f"将 {_need(f, 'office', '股室')} {_need(f, 'period', '期次')} 的截止日延至 {_date(f, 'to')}。"
            f"理由：{_need(f, 'reason', '理由')}")


def _extend_run(env: Env, f: Form) -> str:
    return extend(env.settings, env.engine, office=f["office"], period=f["period"], to=_date(f, "to"),
                  reason=f.get("reason", ""), by=env.by, now=env.now).message


def _resend_run(env: Env, f: Form) -> str:
    return resend_form(env.settings, env.engine, office=_need(f, "office", "股室"), period=_need(f, "period", "期次"),
                       by=env.by, reason=f.get("reason", ""), now=env.now).message


def _review_describe(env: Env, f: Form) -> str:
    verb = "同意" if _approve(f) else "退回"
    note = "" if _approve(f) else f"退回意见：{_need(f, 'comment', '退回意见')}"
    return f"{verb} {_sub_text(env, f)}。{note}"


def _review_run(env: Env, f: Form) -> str:
    return decide_revision(env.settings, env.engine, submission_id=_int(f, "submission", "报告编号"),
                           approve=_approve(f), leader_email=env.account.leader_email,
                           comment=f.get("comment", ""), by=env.by, now=env.now).message


def _decide_describe(env: Env, f: Form) -> str:
    verb = "同意" if _approve(f) else "退回"
    return f"录入分管负责同志当面{verb} {_sub_text(env, f)}。理由/意见：{_need(f, 'comment', '理由')}"


def _decide_run(env: Env, f: Form) -> str:
    return decide_revision(env.settings, env.engine, submission_id=_int(f, "submission", "报告编号"),
                           approve=_approve(f), leader_email=_leader_email(env, f), comment=f.get("comment", ""),
                           by=env.by, in_person=True, now=env.now).message


def _skip_run(env: Env, f: Form) -> str:
    return skip_period(env.settings, env.engine, _need(f, "period", "期次"), reason=f.get("reason", ""),
                       by=env.by, now=env.now).message


def _close_run(env: Env, f: Form) -> str:
    return close_period(env.settings, env.engine, _need(f, "period", "期次"), reason=f.get("reason", ""),
                        by=env.by, now=env.now).message


def _done_run(env: Env, f: Form) -> str:
    return mark_task_done(env.settings, env.engine, _int(f, "seq", "任务编号"), reason=f.get("reason", ""),
                          by=env.by, now=env.now).message


def _message_text(env: Env, f: Form) -> str:
    mid = _int(f, "message", "来信编号")
    with atomic(env.engine) as s:
        row = s.get(InboundMessage, mid)
        if row is None:
            raise ActionRefused(f"没有编号为 #{mid} 的来信。")
        return f"来信 #{row.id}（{row.from_addr}：{row.subject}）"


def _release_run(env: Env, f: Form) -> str:
    from mailer.service.intake import retry
    from mailer.service.sendercheck import release

    mid = _int(f, "message", "来信编号")
    release(env.settings, env.engine, mid, by=env.by, now=env.now)
    row = retry(env.settings, env.engine, mid, now=env.now)
    return f"来信 #{row.id} 已认可发件人并重新处理：{row.outcome}"


def _retry_run(env: Env, f: Form) -> str:
    from mailer.service.intake import retry

    row = retry(env.settings, env.engine, _int(f, "message", "来信编号"), now=env.now)
    return f"来信 #{row.id} 已重新处理：{row.outcome}"


def _reject_run(env: Env, f: Form) -> str:
    from mailer.service.sendercheck import reject

    mid = _int(f, "message", "来信编号")
    reject(env.settings, env.engine, mid, by=env.by, reason=f.get("reason", ""), now=env.now)
    return f"来信 #{mid} 已拒收（记入审计记录）。"


# A form taken in by hand: the upload waits in a private staging folder for the confirmation.
def staging(settings: Settings) -> Path:
    return settings.inbox / "web-uploads"


def stage_upload(settings: Settings, name: str, data: bytes) -> str:
    """Keep an uploaded form until its confirmation; uploads never confirmed are dropped after a day."""
    cutoff = time.time() - 86400
    for old in staging(settings).glob("*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    token = secrets.token_hex(16)
    folder = staging(settings) / token
    private_dir(folder)
    (folder / (sanitize_filename(name) or "表格.docx")).write_bytes(data)
    return token


def _staged(settings: Settings, f: Form) -> Path:
    token = f.get("upload", "")
    if not (len(token) == 32 and all(c in "0123456789abcdef" for c in token)):
        raise ActionRefused("请选择要录入的表格文件（.docx）。")
    files = sorted((staging(settings) / token).glob("*"))
    if not files:
        raise ActionRefused("上传的文件已失效，请重新选择文件。")
    return files[0]


def _accept_describe(env: Env, f: Form) -> str:
    file = _staged(env.settings, f)
    period = f.get("period", "").strip() or "（按表格编号确定）"
    return (f"录入 {_need(f, 'office', '股室')} {period} 的表格“{file.name}”，作为该股室的下一版报告"
            f"（与邮件报送同样检查，有效的送分管负责同志审定）。说明：{f.get('reason', '').strip() or '无'}")


def _accept_run(env: Env, f: Form) -> str:
    file = _staged(env.settings, f)
    try:
        result = accept_form(env.settings, env.engine, file, office=_need(f, "office", "股室"),
                             period=f.get("period", "").strip() or None, by=env.by, reason=f.get("reason", ""),
                             now=env.now)
    finally:
        shutil.rmtree(file.parent, ignore_errors=True)
    lines = [f"{'错误' if x.get('level') == 'error' else '提示'}：{x.get('message', '')}" for x in result.findings]
    return "\n".join([result.message, *lines])


def _simple(what: str, *fields: tuple[str, str]) -> Callable[[Env, Form], str]:
    def describe(env: Env, f: Form) -> str:
        parts = [_need(f, name, label) for name, label in fields]
        reason = f.get("reason", "").strip()
        return f"{what}：{' '.join(parts)}。" + (f"理由：{reason}" if reason else "")

    return describe


OFFICE = ("office",)
ACTIONS: dict[str, Spec] = {
    "extend": Spec("延长截止日", OFFICE, _extend_describe, _extend_run),
    "resend": Spec("重发表格", OFFICE, _simple("重发表格", ("office", "股室"), ("period", "期次")), _resend_run, sends_mail=True),
    "accept": Spec("录入表格", OFFICE, _accept_describe, _accept_run, sends_mail=True),
    "decide": Spec("录入当面审定", OFFICE, _decide_describe, _decide_run, sends_mail=True),
    "review": Spec("审定报告", ("leader",), _review_describe, _review_run, sends_mail=True),
    "skip": Spec("本月不报", OFFICE, _simple("本月不报送", ("period", "期次")), _skip_run),
    "close": Spec("截止收集", OFFICE, _simple("截止收集并按现有报告汇总送签", ("period", "期次")), _close_run, sends_mail=True),
    "done": Spec("任务办结", OFFICE, _simple("任务办结", ("seq", "任务编号")), _done_run),
    "release": Spec("认可发件人并放行", OFFICE, lambda e, f: f"认可{_message_text(e, f)}的发件人，并重新处理该来信。",
                    _release_run, sends_mail=True),
    "retry": Spec("重新处理", OFFICE, lambda e, f: f"重新处理{_message_text(e, f)}。", _retry_run, sends_mail=True),
    "reject": Spec("拒收", OFFICE, lambda e, f: f"拒收{_message_text(e, f)}，不再处理。", _reject_run),
}


def deliver(settings: Settings, engine: Engine) -> str:
    """Send what an action queued, as the CLI does; a transport failure leaves it queued, not lost."""
    from mailer.common.errors import TransportError
    from mailer.service.outgoing import send_pending
    from mailer.transport.base import open_transport

    try:
        with open_transport(settings) as transport:
            sent = send_pending(settings, engine, transport)
    except TransportError as e:
        return f"邮件已记录但暂未发出（{e}）；服务下次运行时会重试。"
    return f"已发出邮件 {sent} 封。" if sent else ""


def as_form(data: Any) -> Form:
    return {k: v for k, v in data.items() if isinstance(v, str)}
