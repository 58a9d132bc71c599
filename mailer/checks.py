"""`duban check`: everything that must be right before the service can run, one message per problem."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.errors import DubanError
from mailer.model import Dispatch, InboundMessage, Plan
from mailer.offices import bureau_office, office_address, signer
from mailer.queries import lead_offices
from mailer.store import atomic
from mailer.templates import template_path

WORD_TEMPLATES = ("progress_form.docx", "consolidated_notice.docx")
MAIL_TEMPLATES = (
    "form",
    "reminder",
    "escalation",
    "receipt",
    "error_reply",
    "approval_request",
    "approval_reminder",
    "returned",
    "approved_notice",
    "not_understood",
    "quarantine_notice",
    "oversize_reply",
    "signoff_request",
    "signoff_returned",
    "published",
)


@dataclass
class Problem:
    level: str  # error | warning
    message: str


def check_templates(settings: Settings) -> list[Problem]:
    from docxtpl import DocxTemplate

    out = []
    for name in WORD_TEMPLATES:
        path = template_path(settings.templates, name)
        if not path.exists():
            out.append(Problem("error", f"模板缺失：templates/{name}"))
            continue
        try:
            DocxTemplate(str(path)).get_undeclared_template_variables()
        except Exception as e:  # noqa: BLE001 - any parse failure means the bureau's edit broke the template
            out.append(Problem("error", f"模板 templates/{name} 无法解析：{e}"))
    for name in MAIL_TEMPLATES:
        if not template_path(settings.templates, f"mail/{name}.txt").exists():
            out.append(Problem("error", f"邮件模板缺失：templates/mail/{name}.txt"))
    return out


def check_directory(engine: Engine) -> list[Problem]:
    out = []
    with atomic(engine) as s:
        plans = list(s.scalars(select(Plan).where(Plan.active.is_(True))))
        if not plans:
            return [Problem("error", "登记簿中没有任务清单。请先 `duban import 通知.docx`。")]
        if bureau_office(s) is None:
            out.append(Problem("error", "名录中没有局办公室（is_bureau_office）。请导入名录。"))
        if signer(s) is None:
            out.append(Problem("error", "名录中没有签发人。请在名录“人员”表中标明签发人。"))
        for plan in plans:
            for office in lead_offices(s, plan):
                if office_address(office) is None:
                    out.append(Problem("error", f"牵头股室“{office.name}”没有登记邮箱，无法发送表格。"))
                if office.leader is None:
                    out.append(
                        Problem("warning", f"牵头股室“{office.name}”没有分管负责同志，报告将由局办公室审定。")
                    )
                if not office.in_directory:
                    out.append(Problem("warning", f"“{office.name}”只出现在任务清单中，名录里没有。"))
    return out


def check_outbox(engine: Engine) -> list[Problem]:
    """Messages that could not be delivered: the office or leader never got them."""
    with atomic(engine) as s:
        failed = list(s.scalars(select(Dispatch).where(Dispatch.state == "failed")))
    return [
        Problem("warning", f"邮件未能发出：{d.subject}（{', '.join(d.to_addrs)}）：{d.error[:200]}")
        for d in failed
    ]


def check_tools(settings: Settings) -> list[Problem]:
    """Optional tools: without LibreOffice the notice is published as .docx only and .doc/.wps forms are refused."""
    from mailer.pdf import find_soffice

    if find_soffice(settings.service.libreoffice) is None:
        return [
            Problem(
                "warning",
                "未安装 LibreOffice（soffice）：通报只生成 Word 版，不生成 PDF；"
                "股室报回的 .doc/.wps 文件将被拒收。Debian：apt-get install libreoffice-writer-nogui fonts-noto-cjk",
            )
        ]
    return []


def check_inbox(engine: Engine) -> list[Problem]:
    """Messages that need a person: processing failed, or quarantined."""
    with atomic(engine) as s:
        rows = list(
            s.scalars(select(InboundMessage).where(InboundMessage.kind.in_(("failed", "quarantined"))))
        )
    return [
        Problem(
            "warning" if m.kind == "quarantined" else "error",
            f"来信 #{m.id}（{m.from_addr or '未知发件人'}，{m.subject[:40]}）"
            + (
                "已隔离：" + m.outcome
                if m.kind == "quarantined"
                else "处理出错，原件在 "
                + m.archive_path
                + "；修复后运行 `duban inbox retry "
                + str(m.id)
                + "`"
            ),
        )
        for m in rows
    ]


def check_mail(settings: Settings) -> list[Problem]:
    from mailer.transport.base import open_transport

    try:
        with open_transport(settings) as t:
            t.check()
    except DubanError as e:
        return [Problem("error", f"邮件服务器：{e}")]
    return []


def check_real_mail(settings: Settings, engine: Engine) -> list[Problem]:
    """A directory of real addresses with mail that is not real: the folder transport writes forms to
    outbox/mail/ and sends nothing, and the example sender is nobody's mailbox. A demo home (example.*
    addresses only) is fine."""
    from mailer.mailsetup import EXAMPLE_SENDER, is_example_address
    from mailer.model import OfficeAddress, Person, Recipient

    with atomic(engine) as s:
        addresses = [
            *s.scalars(select(OfficeAddress.email)),
            *s.scalars(select(Person.email)),
            *s.scalars(select(Recipient.email)),
        ]
    real = sorted({a for a in addresses if not is_example_address(a)})
    if not real:
        return []
    shown = "、".join(real[:3]) + ("等" if len(real) > 3 else "")
    out = []
    if settings.mail.transport == "folder":
        out.append(
            Problem(
                "error",
                f"名录中登记的是真实邮箱（{shown}），但邮件方式仍是 folder：表格只会写入 outbox/mail/，"
                "不会真正发出。请运行 `duban setup mail` 设置局办公室的邮件服务器。",
            )
        )
    sender = settings.mail.from_address
    if sender == EXAMPLE_SENDER or is_example_address(sender):
        out.append(
            Problem(
                "error",
                f"名录中登记的是真实邮箱（{shown}），但发件地址 mail.from_address 仍是示例地址 {sender}。"
                "请运行 `duban setup mail --from-address 局办公室邮箱`，或在 duban.toml 的 [mail] 中改正。",
            )
        )
    return out


def run_checks(settings: Settings, engine: Engine, *, mail: bool = True) -> list[Problem]:
    """Every problem found, errors first."""
    problems = (
        check_templates(settings)
        + check_directory(engine)
        + check_outbox(engine)
        + check_inbox(engine)
        + check_tools(settings)
        + check_real_mail(settings, engine)
    )
    if mail:
        problems += check_mail(settings)
    return sorted(problems, key=lambda p: p.level != "error")
