"""What the next tick would send, to whom and why, computed without acting (`duban plan`, `run --dry-run`).

The preview runs the real ``tick`` on a copy of the registry (SQLite's online backup; a PostgreSQL
registry is copied row by row into a scratch SQLite file, ``mailer.registry.copying``) in a scratch home, so it can
never drift from what the service does: the messages it lists are the dispatches that tick queues there.
The real registry, outbox and mailbox are not touched.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.common.labels import DISPATCH_KINDS
from mailer.registry.model import Dispatch, Office, Period, Person
from mailer.registry.store import atomic


@dataclass(frozen=True)
class PlannedMail:
    """One message the tick would send."""

    kind: str  # the Dispatch kind
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    period: str  # "2022-06", or ""
    recipient: str  # the office or person, in words
    why: str  # in Chinese: "6月10日 发送日", "提醒：截止前3个工作日" …

    def line(self) -> str:
        """One line for the clerk."""
        cc = f"（抄送 {', '.join(self.cc)}）" if self.cc else ""
        who = f"{self.recipient} " if self.recipient else ""
        kind = DISPATCH_KINDS.get(self.kind, self.kind)
        return f"{kind}：{who}<{', '.join(self.to)}>{cc}，{self.period or '-'}，原因：{self.why}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "to": list(self.to),
            "cc": list(self.cc),
            "subject": self.subject,
            "period": self.period,
            "recipient": self.recipient,
            "why": self.why,
        }


def _md(d: dt.date | None) -> str:
    return f"{d.month}月{d.day}日" if d else "?"


def _why(settings: Settings, d: Dispatch, period: Period | None, *, already_pending: bool) -> str:
    if already_pending:
        return "此前已排队、尚未发出" + (f"（上次失败：{d.error[:60]}）" if d.error else "")
    if period is None:
        return d.subject
    c = settings.cycle
    if d.kind == "form":
        if period.due_moved_from is not None:
            return (
                f"{_md(period.send_on)} 发送日已过，补发；截止日期由{_md(period.due_moved_from)}"
                f"顺延至{_md(period.due_on)}（晚发顺延{c.late_due_workdays}个工作日）"
            )
        return f"{_md(period.send_on)} 发送日"
    if d.kind == "reminder":
        return f"提醒：截止前{c.remind_days_before}个工作日（截止{_md(period.due_on)}，尚未收到有效报告）"
    if d.kind == "escalation":
        if d.key.startswith("no_address:"):
            return "股室未登记邮箱，表格无法发出"
        if d.key.startswith("no_signer:"):
            return "名录中没有签发人，汇总稿无法送签"
        return f"逾期：截止日期{_md(period.due_on)}已过，尚无审定的报告"
    if d.kind == "approval_reminder":
        return f"报告待分管负责同志审定已超过{c.approval_remind_days}个工作日"
    if d.kind == "signoff_request":
        return f"汇总：报告均已审定，或截止后宽限期已过（{_md(period.assemble_after)}起）"
    if d.kind == "published":
        return "签发人已同意，发布通报"
    if d.key.startswith("nothing_reported:"):
        return f"截止后宽限期已过（{_md(period.assemble_after)}起），但没有任何股室的报告获审定，不送签"
    return d.subject


def _copy_sqlite(engine: Engine, dest: Path) -> None:
    if engine.dialect.name == "postgresql":
        from mailer.registry.copying import copy_registry
        from mailer.registry.store import forget

        url = f"sqlite:///{dest}"
        try:
            copy_registry(engine, url)
        finally:
            forget(url)  # the scratch file goes with its folder; no engine may outlive it
        return
    src_path = engine.url.database
    if engine.dialect.name != "sqlite" or not src_path or src_path == ":memory:":
        raise DubanError(
            f"预览需要 SQLite 登记库，当前登记库为 {engine.url.render_as_string(hide_password=True)}。"
            "请在使用 SQLite 的副本上运行 duban plan。"
        )
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # consistent even while the service writes (WAL)
    finally:
        dst.close()
        src.close()


def preview_tick(settings: Settings, engine: Engine, now: dt.datetime) -> list[PlannedMail]:
    """Every message a tick at ``now`` would send (with the confirmation gate open), in sending order.

    Includes messages already queued and not yet sent. Changes nothing in the registry or the home.

    :raises DubanError: when the registry is neither a SQLite file nor PostgreSQL
    """
    from mailer.service.cycle import tick

    with tempfile.TemporaryDirectory(prefix="duban-plan-") as tmp:
        root = Path(tmp)
        (root / "registry").mkdir()
        _copy_sqlite(engine, root / "registry" / "registry.sqlite3")
        drafts = settings.outbox / "drafts"
        if drafts.is_dir():  # a publish step copies the signed draft
            shutil.copytree(drafts, root / "outbox" / "drafts")
        shadow = replace(
            settings,
            home=root,
            registry_url="",
            registry_dir=Path("registry"),
            outbox_dir=Path("outbox"),
            templates_dir=settings.templates,
            inbox_dir=settings.inbox,
            # No PDF in a preview (LibreOffice is slow and the list does not depend on it); no gate in it.
            service=replace(settings.service, confirm_start=False, libreoffice=str(root / "no-soffice")),
        )
        shadow_engine = create_engine(shadow.database_url, future=True)
        try:
            with atomic(shadow_engine) as s:
                before = set(s.scalars(select(Dispatch.id).where(Dispatch.state == "pending")))
            tick(shadow, shadow_engine, None, now)
            with atomic(shadow_engine) as s:
                rows = s.scalars(
                    select(Dispatch).where(Dispatch.state == "pending").order_by(Dispatch.id)
                ).all()
                return [_planned(shadow, s, d, already_pending=d.id in before) for d in rows]
        finally:
            shadow_engine.dispose()


def _planned(settings: Settings, s: Session, d: Dispatch, *, already_pending: bool) -> PlannedMail:
    period = s.get(Period, d.period_id) if d.period_id else None
    who = ""
    if d.office_id:
        office = s.get(Office, d.office_id)
        who = office.name if office else ""
        if d.kind == "escalation" and office is not None and office.leader is not None:
            who = f"{office.leader.name}（{office.name}分管）"
    elif d.person_id:
        person = s.get(Person, d.person_id)
        who = person.name if person else ""
    elif d.kind in ("other", "published"):
        who = "局办公室"
    return PlannedMail(
        kind=d.kind,
        to=tuple(d.to_addrs),
        cc=tuple(d.cc_addrs),
        subject=d.subject,
        period=period.key if period else "",
        recipient=who,
        why=_why(settings, d, period, already_pending=already_pending),
    )
