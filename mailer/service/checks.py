"""`duban check`: everything that must be right before the service can run, one message per problem."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.common.templates import template_path
from mailer.registry.model import Dispatch, InboundMessage, Plan
from mailer.registry.offices import bureau_office, office_address, signer
from mailer.registry.queries import lead_offices
from mailer.registry.store import atomic

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
    "signoff_stale",
    "published",
)


@dataclass
class Problem:
    level: str  # error | warning | info
    message: str


def check_service(engine: Engine) -> list[Problem]:
    """On a PostgreSQL registry, which `duban serve` holds the home's lock (host, pid, since when)."""
    if engine.dialect.name != "postgresql":
        return []
    from mailer.registry.homeid import registry_id
    from mailer.registry.pglock import holder

    home_id = registry_id(engine)
    who = holder(engine, home_id) if home_id else None
    if who is None:
        return [Problem("info", "服务：目前没有 duban serve 在为本目录工作（登记簿数据库中无人持有本目录的服务锁）。")]
    return [Problem("info", f"服务：{who} 正在为本目录工作（持有登记簿数据库中的服务锁）；其余 duban serve 在等待接管。")]


def check_templates(settings: Settings) -> list[Problem]:
    """Every Word template readable; every mail template present, free of Jinja syntax errors, and
    rendering with a complete sample context of its kind."""
    from mailer.common.templatecheck import mail_template_problems, word_template_problem
    from mailer.render.compose import mail_environment, template_names
    from mailer.render.mailcontext import template_problems

    out = []
    for name in WORD_TEMPLATES:
        path = template_path(settings.templates, name)
        if not path.exists():
            out.append(Problem("error", f"模板缺失：templates/{name}"))
            continue
        problem = word_template_problem(path)
        if problem:
            out.append(Problem("error", problem))
    for name in MAIL_TEMPLATES:
        if not template_path(settings.templates, f"mail/{name}.txt").exists():
            out.append(Problem("error", f"邮件模板缺失：templates/mail/{name}.txt"))
    kinds = sorted(set(MAIL_TEMPLATES) | set(template_names(settings)))  # and any the bureau added
    env = mail_environment(settings)
    # The shared parts (_layout.html, _macros.jinja, _signature.jinja…) too: a syntax error there is
    # only met when a mail is rendered, and is named here by its own file.
    partials = sorted(n for n in env.list_templates() if n.rsplit("/", 1)[-1].startswith("_"))
    names = [f"{name}.{ext}" for name in kinds for ext in ("txt", "html")]
    broken = mail_template_problems(env, partials + names)
    out += [Problem("error", m) for m in broken]
    # Each template rendered with the sample context of its kind (mailer.render.mailcontext): an undefined
    # variable or a filter that fails shows here, not in an office's missing reply. Those with a syntax
    # error (just reported) are left out, and all when a shared part is broken (every mail would fail).
    part_broken = any(f"templates/mail/{p} " in m for p in partials for m in broken)
    readable = [] if part_broken else [k for k in kinds if not any(f"templates/mail/{k}." in m for m in broken)]
    out += [Problem("error", m) for m in template_problems(settings, readable)]
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


def check_uncertain(engine: Engine) -> list[Problem]:
    """Messages that may or may not have gone out: never resent without the clerk (mailer.service.uncertain).
    Warnings: the service runs on meanwhile; the clerk settles each with `duban outbox resend|drop`."""
    from mailer.registry.doubts import uncertain_dispatches

    with atomic(engine) as s:
        return [Problem("warning", d.line()) for d in uncertain_dispatches(s)]


def check_tools(settings: Settings) -> list[Problem]:
    """Optional tools: without LibreOffice the notice is published as .docx only and .doc/.wps forms are refused."""
    from mailer.word.pdf import find_soffice

    if find_soffice(settings.service.libreoffice) is None:
        return [
            Problem(
                "warning",
                "未安装 LibreOffice（soffice）：通报只生成 Word 版，不生成 PDF；"
                "股室报回的 .doc/.wps 文件将被拒收。Debian：apt-get install libreoffice-writer-nogui fonts-noto-cjk",
            )
        ]
    return []


def _release_hint(m: InboundMessage) -> str:
    # A forged-looking sender is not fixed by the directory: the clerk vouches after checking by phone.
    return f"；核实确为本人所发后运行 `duban inbox release {m.id}`" if m.sender_verdict == "fail" else ""


def check_fonts() -> list[Problem]:
    """The four 公文 faces: each missing one, and the face the PDF shows instead (a warning: the .docx
    still names the right font, and Word/WPS on the readers' computers use it where installed)."""
    from mailer.word.fonts import KIND_CN, font_report

    report = font_report()
    if not any(f.installed or f.substitute for f in report):
        return [Problem("warning", "未找到 fontconfig（fc-list/fc-match），无法检查公文字体。Debian：apt-get install fontconfig")]
    return [
        Problem(
            "warning",
            f"公文字体“{f.name}”未安装，PDF 中以“{f.substitute or '系统默认字体'}”代替（{KIND_CN[f.kind]}）。"
            "如需与正式印发件一致，请在生成 PDF 的电脑上安装该字体。",
        )
        for f in report
        if not f.installed
    ]


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
                "已隔离：" + m.outcome + _release_hint(m)
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


def check_senders(settings: Settings) -> list[Problem]:
    """The sender policy, shown (info) so the clerk knows what is trusted; a warning where it is weak."""
    from mailer.service.sendercheck import policy_lines

    return [Problem(level, text) for level, text in policy_lines(settings)]


def check_secret(settings: Settings) -> list[Problem]:
    """The token key: long enough (else an error), and not readable by others (else a warning)."""
    import os

    from mailer.common.secretkey import permission_warning

    try:
        settings.secret_key()
    except DubanError as e:
        return [Problem("error", str(e))]
    if os.environ.get("DUBAN_SECRET_KEY"):
        return []
    warning = permission_warning(settings.key_path)
    return [Problem("warning", warning)] if warning else []


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
    from mailer.registry.model import OfficeAddress, Person, Recipient
    from mailer.service.mailsetup import EXAMPLE_SENDER, is_example_address

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


def check_holidays(settings: Settings, today: dt.date) -> list[Problem]:
    """Which source gives this year's and next year's holidays (info), and a warning when this year, or from
    December next year, has none: the State Council publishes next year's arrangement late in the year, and
    until someone enters it duban counts Monday–Friday. A wrong holidays.toml never gets here: loading the
    settings already refused it."""
    from mailer.common.holidays import HOLIDAYS_NAME
    from mailer.common.workdays import NO_SOURCE_CN, package_name, package_years

    if not settings.cycle.workdays_only:
        return [Problem("info", "节假日：未使用（cycle.workdays_only = false，按自然日计算）。")]
    cal = settings.calendar
    years = (today.year, today.year + 1)
    out = [Problem("info", "节假日来源：" + "；".join(f"{y}年 {cal.source(y) or NO_SOURCE_CN}" for y in years) + "。")]
    for y in years:
        if cal.covers(y) or (y > today.year and today.month < 12):
            continue
        out.append(
            Problem(
                "warning",
                f"{y}年的节假日安排尚未录入：{HOLIDAYS_NAME} 中没有 [{y}]，{package_name()} 只含到"
                f"{package_years()[1]}年。在此之前{y}年按周一至周五计算工作日：节假日当天也会发送提醒，催办、汇总日期也不避开节假日。"
                f"请按国务院办公厅关于{y}年部分节假日安排的通知，在 duban 目录的 {HOLIDAYS_NAME} 中写入 [{y}] 的"
                f"放假日期（off）和调休上班日（work），格式见 `duban holidays --example`，写好后运行 "
                f"`duban holidays --year {y}` 核对；或升级 chinese-calendar（pip install -U chinese-calendar，"
                f"如新版已含{y}年）。",
            )
        )
    return out


def run_checks(
    settings: Settings, engine: Engine, *, mail: bool = True, today: dt.date | None = None
) -> list[Problem]:
    """Every problem found, errors first.

    :param today: the service's date (cycle.timezone) for the date-dependent checks; default: now
    """
    if today is None:
        from zoneinfo import ZoneInfo

        today = dt.datetime.now(ZoneInfo(settings.cycle.timezone)).date()
    problems = (
        check_templates(settings)
        + check_directory(engine)
        + check_outbox(engine)
        + check_uncertain(engine)
        + check_inbox(engine)
        + check_tools(settings)
        + check_senders(settings)
        + check_secret(settings)
        + check_fonts()
        + check_real_mail(settings, engine)
        + check_holidays(settings, today)
        + check_service(engine)
    )
    from mailer.registry.tickfailures import stuck_lines
    from mailer.service.robots import post_problems
    from mailer.service.statusnotes import gate_lines

    with atomic(engine) as s:
        problems += [Problem("warning", line) for line in gate_lines(settings, s)]
        problems += [Problem("error", line) for line in stuck_lines(s)]
    problems += [Problem(level, text) for level, text in post_problems(settings, engine)]
    if mail:
        problems += check_mail(settings)
    return sorted(problems, key=lambda p: ("error", "warning", "info").index(p.level))
