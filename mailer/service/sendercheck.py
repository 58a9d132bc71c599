"""The sender verdict in the service: who may have been forged, what the bureau office is told, and the
clerk's release of a message whose sender they vouch for (``duban inbox release``).

The verdict itself is :mod:`mailer.read.senders` (documents in). Here it is applied to the directory: the
envelope-sender domains an office's row allows, and whether the From address claims to be anyone the
registry knows (an office address, a leader, the signer): only then can a forgery decide anything, so only
then is a failed verdict a reason to quarantine.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.read.mailread import ReadMessage
from mailer.read.senders import UNKNOWN, Verdict, verdict
from mailer.registry.model import Event, InboundMessage, utcnow
from mailer.registry.offices import KnownSender, known_sender, offices_for_address
from mailer.registry.store import atomic

log = logging.getLogger(__name__)


def envelope_domains(session: Session, address: str) -> list[str]:
    """The envelope-sender domains the directory allows for ``address`` (its offices' 允许代发域名)."""
    return [d for o in offices_for_address(session, address) for d in o.envelope_domains.split()]


def judge(
    settings: Settings, engine: Engine, raw: bytes, msg: ReadMessage, *, domains: list[str] | None = None
) -> Verdict:
    """The verdict on ``raw`` under the home's policy; outside any write transaction (DNS may be slow).

    :param domains: the sender's :func:`envelope_domains`, when the caller read them already (else they are
        read here, in a transaction of their own)
    """
    if msg.is_ours or msg.auto or settings.senders.sender_check == "off":
        # Our own copies and machines' mail decide nothing whoever wrote them.
        return UNKNOWN
    if domains is None:
        with atomic(engine) as s:
            domains = envelope_domains(s, msg.from_addr)
    result = verdict(raw, msg.from_addr, settings.senders, envelope_domains=domains)
    if result.status != "unknown":
        log.info("Sender %s: %s %s", msg.from_addr, result.status, result.reason)
    return result


def claimed_identity(session: Session, address: str, known: KnownSender | None = None) -> str:
    """Whom the From address claims to be, in words ("基财股（jcg@…）"); "" for nobody we know.

    :param known: the address's :func:`~mailer.registry.offices.known_sender`, when the caller looked it up already
    """
    if known is None:
        known = known_sender(session, address)
    names = [o.name for o in known.offices]
    person = known.person
    if person is not None:
        names.append(f"{person.title}{person.name}" if person.title else person.name)
    return f"{'、'.join(names)}（{address}）" if names else ""


def forged_advice(row: InboundMessage) -> str:
    return (
        "本邮件未作任何处理（不计为报送，也不计为审定或签发意见）。请电话向发件人核实；"
        f"如确属本人所发，可运行 duban inbox release {row.id} 认可该发件人后处理本邮件。"
    )


def release(
    settings: Settings, engine: Engine, inbound_id: int, *, by: str, now: dt.datetime | None = None
) -> None:
    """Record that the clerk vouches for message ``inbound_id``'s sender (audited as an event); the caller
    then handles it again with :func:`mailer.service.intake.retry`, which skips the sender check and the answer cap.

    :raises DubanError: when there is no such message, or it is not quarantined
    """
    now = now or utcnow()
    with atomic(engine) as s:
        row = s.get(InboundMessage, inbound_id)
        if row is None:
            raise DubanError(f"没有编号为 #{inbound_id} 的来信。`duban inbox list` 列出全部来信。")
        if row.kind != "quarantined":
            raise DubanError(
                f"来信 #{inbound_id} 的状态是 {row.kind}，不是 quarantined（已隔离）：只有已隔离的来信需要认可。"
                "处理失败或格式有误的来信请用 duban inbox retry。"
            )
        row.released_at = now
        s.add(
            Event(
                kind="released",
                period_id=row.period_id,
                office_id=row.office_id,
                detail=f"来信 #{row.id}（{row.from_addr}：{row.subject}）经 {by} 认可发件人后放行；"
                f"隔离原因为：{row.outcome}"[:2000],
                actor=by[:100],
                at=now,
            )
        )


def reject(
    settings: Settings, engine: Engine, inbound_id: int, *, by: str, reason: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Record that the clerk refuses quarantined (or failed) message ``inbound_id`` for good: it is marked
    rejected, nothing it would have done happens, and it leaves the list of messages to handle.

    :raises DubanError: when there is no such message, or it is neither quarantined nor failed
    """
    now = now or utcnow()
    with atomic(engine) as s:
        row = s.get(InboundMessage, inbound_id)
        if row is None:
            raise DubanError(f"没有编号为 #{inbound_id} 的来信。`duban inbox list` 列出全部来信。")
        if row.kind not in ("quarantined", "failed"):
            raise DubanError(
                f"来信 #{inbound_id} 的状态是 {row.kind}：只有已隔离或处理失败的来信可以拒收。"
            )
        was = row.kind
        row.kind = "rejected"
        row.outcome = f"局办公室（{by}）拒收；原状态 {was}：{row.outcome}"[:4000]
        s.add(
            Event(
                kind="inbox_rejected",
                period_id=row.period_id,
                office_id=row.office_id,
                detail=f"来信 #{row.id}（{row.from_addr}：{row.subject}）被拒收"[:2000],
                actor=by[:100],
                reason=reason[:4000],
                at=now,
            )
        )


def policy_lines(settings: Settings) -> list[tuple[str, str]]:
    """The sender policy in words for `duban check`: (level, text), level ``info`` or ``warning``."""
    p = settings.senders
    cap = f"同一地址每天最多收到 {p.answers_per_day} 封错误提示，此后的来信隔离并告知局办公室（每天一次）。"
    if p.sender_check == "off":
        return [
            ("warning", "发件人验证：关闭（sender_check = \"off\"）。只凭发件人地址（From）判断来信者，冒用的地址无法识别。"),
            ("info", cap),
        ]
    servers = "、".join(p.trusted_authserv_ids)
    if p.sender_check == "strict":
        rules = (
            "SPF、DKIM 或 DMARC 判定失败（SPF softfail 且无 DKIM 通过的也算）的来信隔离；"
            "未经 DMARC 或 DKIM 认证且信封发件人（Return-Path）与发件人地址不同域的来信隔离（名录“允许代发域名”除外）"
        )
    else:
        rules = "DMARC 判定失败，或 SPF/DKIM 判定失败且没有任何一项通过的来信隔离；不检查信封发件人"
    dkim = (
        f"服务器未给出验证结果时自行验证 DKIM 签名（DNS：{p.dns_server or '系统默认'}），签名不符的来信隔离"
        if p.verify_dkim
        else "不自行验证 DKIM 签名（verify_dkim = false）"
    )
    mode = "严格" if p.sender_check == "strict" else "宽松"
    summary = (
        f'发件人验证：{mode}（sender_check = "{p.sender_check}"）。'
        f"受信任的接收服务器：{servers or '未配置'}；{rules}；{dkim}。隔离的来信不作任何处理，"
        "局办公室核实后可用 duban inbox release 编号 放行。"
    )
    out = [("info", summary), ("info", cap)]
    if not servers and not p.verify_dkim and settings.mail.transport != "folder":
        weak = (
            "未配置受信任的接收服务器（senders.trusted_authserv_ids），也未开启 DKIM 自行验证："
            "邮件服务器写入的 SPF/DKIM/DMARC 结果不会被采用。请向邮件管理员询问 Authentication-Results "
            '中的服务器名（如 "mx.example.gov.cn"）并写入 duban.toml。'
        )
        out.append(("warning", weak))
    return out
