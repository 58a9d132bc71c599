"""`duban demo`: a whole June 2022 on a fresh home, through the real service code and the folder mailbox.

Nothing is faked inside duban: the simulated offices, leaders and the signer read what duban sent
(outbox/mail), fill the attached Word form with python-docx as a person would, and drop their replies
(.eml, with In-Reply-To and Outlook-style quoting) into inbox/drop; duban's own ``run_once`` takes them in
at each simulated day. Most offices answer on time, one late, one with an error it then corrects, one is
returned by its leader and resubmits; the signer approves; the notice is published.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
from sqlalchemy import Engine, select

from mailer.common.config import init_home, load_settings
from mailer.common.errors import DubanError
from mailer.common.shipped import require_examples, shipped_dir
from mailer.common.templates import install_default_templates
from mailer.common.text import key
from mailer.read.mailread import read_message
from mailer.registry.homeid import open_home_registry
from mailer.registry.model import Dispatch, Office, Person, Plan
from mailer.registry.store import atomic
from mailer.service.cycle import run_once
from mailer.transport.base import open_transport
from mailer.word.grid import build_grid, iter_tables

EXAMPLES = shipped_dir("examples")
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class DemoResult:
    home: Path
    status_table: str
    files: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class People:
    """The simulated offices, leaders and signer: they only see mail, and answer by mail."""

    def __init__(self, home: Path, engine: Engine, bureau_addr: str) -> None:
        self.home, self.engine, self.bureau = home, engine, bureau_addr
        self.answered: set[int] = set()

    def _sent(self, kind: str, to: str) -> list[Dispatch]:
        with atomic(self.engine) as s:
            rows = s.scalars(
                select(Dispatch).where(Dispatch.kind == kind, Dispatch.state == "sent").order_by(Dispatch.id)
            )
            return [d for d in rows if to.lower() in d.to_addrs and d.id not in self.answered]

    def _reply(
        self,
        d: Dispatch,
        sender: str,
        body: str,
        when: dt.datetime,
        attachment: tuple[str, bytes] | None = None,
    ) -> None:
        raw = (self.home / d.eml_path).read_bytes()
        original = read_message(raw, max_attachment_bytes=50 * 2**20)
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.bureau
        msg["Subject"] = "回复：" + original.subject
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
        msg["In-Reply-To"] = d.message_id
        msg["References"] = d.message_id
        quoted = "\n".join(original.text.splitlines()[:6])
        msg.set_content(
            f"{body}\n\n-----原始邮件-----\n发件人: 局办公室 <{self.bureau}>\n"
            f"发送时间: {when:%Y年%m月%d日} 9:00\n收件人: {sender}\n主题: {original.subject}\n\n{quoted}\n"
        )
        if attachment:
            msg.add_attachment(
                attachment[1],
                maintype="application",
                subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                filename=attachment[0],
            )
        drop = self.home / "inbox" / "drop"
        drop.mkdir(parents=True, exist_ok=True)
        (drop / f"{when:%Y%m%d%H%M}-{d.id}.eml").write_bytes(bytes(msg))
        self.answered.add(d.id)

    def office_reports(
        self, office_addr: str, when: dt.datetime, *, mistake: bool = False, kind: str = "form"
    ) -> bool:
        """The office fills the newest form (or returned/error form) it got and replies with it."""
        pending = self._sent(kind, office_addr)
        if not pending:
            return False
        d = pending[-1]
        msg = read_message((self.home / d.eml_path).read_bytes(), max_attachment_bytes=50 * 2**20)
        att = next((a for a in msg.attachments if a.filename.endswith(".docx")), None)
        # A returned report and an error reply carry the form back; otherwise use the month's form.
        name, data = (att.filename, att.data) if att is not None else self._last_form(office_addr)
        filled = fill_form(data, mistake=mistake)
        self._reply(
            d, office_addr, "局办公室：\n\n本股室本月进展情况表已填好，见附件，请审核。", when, (name, filled)
        )
        return True

    def _last_form(self, office_addr: str) -> tuple[str, bytes]:
        with atomic(self.engine) as s:
            d = s.scalars(select(Dispatch).where(Dispatch.kind == "form").order_by(Dispatch.id.desc())).all()
            d0 = next(x for x in d if office_addr.lower() in x.to_addrs)
        att = read_message(
            (self.home / d0.eml_path).read_bytes(), max_attachment_bytes=50 * 2**20
        ).attachments[0]
        return att.filename, att.data

    def leader_decides(
        self, leader_addr: str, when: dt.datetime, *, office: str | None = None, body: str = "同意。"
    ) -> int:
        n = 0
        for d in self._sent("approval_request", leader_addr):
            if office is not None and office not in d.subject:
                continue
            self._reply(d, leader_addr, body, when)
            n += 1
        return n

    def signer_decides(self, signer_addr: str, when: dt.datetime, body: str = "同意印发。") -> int:
        pending = self._sent("signoff_request", signer_addr)
        for d in pending:
            self._reply(d, signer_addr, body, when)
        return len(pending)


def fill_form(data: bytes, *, mistake: bool = False) -> bytes:
    """Type progress into a form as a person would in Word: the 进展情况 and 存在问题 cells, and 填报人."""
    doc = docx.Document(io.BytesIO(data))
    for tbl in iter_tables(doc.element.body):
        grid = build_grid(tbl)
        header = [key(grid.text(0, c)) for c in range(grid.width)] if grid.rows else []
        if "进展情况" not in header:
            continue
        col_p = header.index("进展情况")
        col_q = next(i for i, h in enumerate(header) if h.startswith("存在问题"))
        col_name = next(i for i, h in enumerate(header) if h in ("项目名称", "任务名称"))
        first = True
        for r in range(1, len(grid.rows)):
            name = grid.text(r, col_name)
            if not name or key(name) in header:
                continue
            cells = {c: grid.rows[r][c] for c in (col_p, col_q)}
            progress = (
                ""
                if (mistake and first)
                else (f"{name}：按计划推进。本月完成阶段性工作，相关节点均已落实，资料已归档。")
            )
            _set_cell(cells[col_p].tc, progress)  # type: ignore[union-attr]
            _set_cell(cells[col_q].tc, "存在问题：暂无。\n下一步：继续按节点推进，确保按期完成。")  # type: ignore[union-attr]
            first = False
    for p in doc.paragraphs:
        for run in p.runs:  # typed right after the label, as a person clicking there would
            if run.text.rstrip().endswith("填报人："):
                run.text = run.text.rstrip() + "张晓明"
            elif "填报日期：" in run.text and "年" in run.text:
                run.text = run.text.split("填报日期：")[0] + "填报日期：2022年6月13日"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _set_cell(tc: object, text: str) -> None:
    from docx.table import _Cell

    cell = _Cell(tc, None)  # type: ignore[arg-type]
    lines = text.split("\n")
    paras = cell.paragraphs
    for p in paras[1:]:
        p._p.getparent().remove(p._p)
    first = paras[0]
    for r in list(first.runs):
        r._r.getparent().remove(r._r)
    first.add_run(lines[0])
    for line in lines[1:]:
        cell.add_paragraph(line)


def at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2022, 6, day, hour, minute, tzinfo=TZ)


def run_demo(
    directory: Path, *, force: bool = False, echo: Callable[[str], None] = lambda _s: None
) -> DemoResult:
    """Build a fresh home in ``directory`` and run June 2022 through it.

    :raises DubanError: when ``directory`` already holds a home and ``force`` is not given
    """
    from mailer.plan.importer import import_file
    from mailer.registry.status import office_states, render_status_table

    require_examples()  # an incomplete installation fails before anything is made or removed
    if (directory / "registry").exists() and any((directory / "registry").iterdir()):
        if not force:
            raise DubanError(
                f"{directory} 已是一个督办主目录。如要替换请加 --force，或换一个文件夹。"
            )
        shutil.rmtree(directory)
    home = init_home(directory)
    settings = load_settings(home)
    install_default_templates(settings.templates)
    engine = open_home_registry(settings, create=True)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        report = import_file(settings, engine, EXAMPLES / name)
        echo(f"已导入 {name}：{report}")
    with atomic(engine) as s:
        plan = s.scalars(select(Plan).where(Plan.active.is_(True))).one()
        offices = {
            o.name: (o.addresses[0].email if o.addresses else "", o.leader.email if o.leader else "")
            for o in s.scalars(select(Office))
        }
        signer_addr = s.scalars(select(Person).where(Person.is_signer.is_(True))).one().email
        from mailer.registry.queries import lead_offices

        leads = [o.name for o in lead_offices(s, plan)]
    people = People(home, engine, settings.mail.from_address)
    late, wrong, returned = leads[-1], leads[1], leads[2]
    on_time = [o for o in leads if o not in (late, wrong, returned)]
    leaders = sorted({offices[o][1] for o in leads if offices[o][1]})

    def day(when: dt.datetime, what: str) -> None:
        with open_transport(settings) as t:
            # The simulated clock jumps days, which the start gate reads as downtime: the demo confirms
            # by itself, as `duban serve --yes` does.
            rep = run_once(settings, engine, t, when, auto_confirm="duban demo")
        echo(f"{when:%m-%d %H:%M}  {what}：收取 {rep.taken} 封，发出 {rep.sent} 封")

    day(at(10), "发送日：下发进展情况表")
    for o in on_time[: len(on_time) // 2]:
        people.office_reports(offices[o][0], at(13, 10))
    people.office_reports(offices[wrong][0], at(13, 11), mistake=True)
    people.office_reports(offices[returned][0], at(13, 15))
    day(at(13, 17), "首批报表到达")
    for o in on_time[len(on_time) // 2 :]:
        people.office_reports(offices[o][0], at(14, 10))
    people.office_reports(offices[wrong][0], at(14, 11), kind="error_reply")
    for addr in leaders:
        if addr != offices[returned][1]:
            people.leader_decides(addr, at(14, 16))
    people.leader_decides(
        offices[returned][1],
        at(14, 16),
        office=returned,
        body="退回：第一项进展情况请补充具体数据和完成时间，修改后再报。",
    )
    day(at(14, 17), "更正、审定，一份报表被退回")
    people.office_reports(offices[returned][0], at(15, 10), kind="returned")
    day(at(15, 17), "退回的报表重新报送；截止前催报")
    for addr in leaders:
        people.leader_decides(addr, at(16, 9))
    day(at(16, 10), "其余报表审定")
    day(at(20, 17), "截止日")
    day(at(21, 9), "逾期股室提醒")
    people.office_reports(offices[late][0], at(21, 15))
    day(at(21, 16), "逾期报表到达")
    people.leader_decides(offices[late][1], at(21, 17))
    day(at(21, 18), "最后一份审定：汇总通报并送签")
    people.signer_decides(signer_addr, at(22, 9))
    day(at(22, 10), "签发：印发通报")
    with atomic(engine) as s:
        from mailer.registry.model import Period

        period = s.scalars(select(Period).order_by(Period.id.desc())).first()
        assert period is not None
        table = render_status_table(office_states(s, period))
        state = period.state
    published = sorted((home / "outbox" / "published").rglob("*.*")) if state == "published" else []
    files = [("印发的通报", p) for p in published]
    notes: list[str] = []
    if state == "published" and not any(p.suffix == ".pdf" for p in published):
        notes.append("没有 PDF：本机未安装 LibreOffice，通报只印发了 .docx"
                     "（Debian：apt-get install libreoffice-writer-nogui fonts-noto-cjk）。")
    files += [("工作台账", home / "registry" / "ledger.xlsx")]
    forms = sorted((home / "outbox" / "forms").rglob("*.docx"))
    if forms:
        files.append(("预填的进展情况表", forms[0]))
    files.append(("发出的邮件（.eml）", home / "outbox" / "mail"))
    return DemoResult(home=home, status_table=table, files=files, notes=notes)
