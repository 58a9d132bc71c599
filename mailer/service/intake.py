"""Exactly-once intake (design principle 2): raw bytes → archive (content-addressed) → one transaction
that records the message (unique on Message-ID and sha256) with all its results and the answers it calls
for → only then acknowledged on the server. A crash anywhere means the message is fetched again and
recognised; one bad message never stops a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from mailer.common import background
from mailer.common.config import Settings
from mailer.common.durable import Pending, store_by_hash_later, write_later
from mailer.common.errors import DubanError, FormParseError, MessageTooLarge, TransportError, UnsafeAttachment
from mailer.common.mailhead import header_block
from mailer.common.transient import is_transient
from mailer.read.mailread import ReadMessage, read_message
from mailer.read.safety import parse_form_bounded, safe_docx
from mailer.read.senders import UNKNOWN, Verdict
from mailer.registry.model import (
    Dispatch,
    DispatchState,
    Event,
    InboundMessage,
    Office,
    Period,
    PeriodState,
    Person,
    utcnow,
)
from mailer.registry.offices import KnownSender, known_sender, signer
from mailer.registry.periodfacts import form_token, latest_submission, local_time, tz
from mailer.registry.store import atomic, before_commit, files_written
from mailer.render.mailcontext import finding_dict, findings_context, mail_context
from mailer.service import decisions, loops, oversize, sendercheck, submissions
from mailer.service.matching import Match, by_token, match_message
from mailer.service.outgoing import Mail, queue_mail
from mailer.service.redelivery import flag_reuse, free_message_id, recognise
from mailer.transport.base import Transport

log = logging.getLogger(__name__)
# Mails whose answer is a decision (同意/退回), whatever is attached to it.
DECISION_REQUESTS = ("approval_request", "approval_reminder", "signoff_request", "not_understood")
# Mails that ask an office for its form: a reply to one of them without a form has forgotten it.
FORM_REQUESTS = ("form", "reminder", "escalation", "error_reply", "returned")
FORM_SUFFIXES = (".docx", ".doc", ".wps", ".docm", ".dotx", ".wpt", ".odt", ".rtf")


@dataclass
class PollReport:
    taken: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0  # left on the server after a transient failure (locked registry, full disk)
    outcomes: list[str] = field(default_factory=list)


def _read(settings: Settings, raw: bytes) -> ReadMessage:
    return read_message(
        raw,
        max_attachment_bytes=settings.mail.max_attachment_bytes,
        own_address=settings.mail.from_address,
        local_zone=tz(settings),
    )


def archive(settings: Settings, raw: bytes) -> tuple[str, Path, Pending]:
    """Write the raw message under inbox/archive/ab/<sha256>.eml (once); returns (sha256, path, pending):
    the file is at its path, complete and synced, once ``pending`` is waited for (its fsync runs meanwhile)."""
    return store_by_hash_later(settings.inbox / "archive", raw, ".eml", fan_out=True)


def _forms(settings: Settings, msg: ReadMessage) -> tuple[list[submissions.FormFile], list[str]]:
    """Safety-check and parse every form-like attachment, outside any transaction (it takes a while)."""
    forms: list[submissions.FormFile] = []
    problems: list[str] = []
    if msg.is_ours or msg.auto:
        # Our own mail, auto-replies and bounces are never reports, whatever they carry (a bounce carries
        # the blank form we sent): no need to parse anything.
        return forms, problems
    cap_mb = settings.mail.max_attachment_bytes / 2**20
    for big in msg.dropped:
        if big.filename.lower().endswith(FORM_SUFFIXES):
            # Left out by read_message for its size: say so, rather than "no form attached".
            problems.append(
                f"附件「{big.filename}」大小 {big.size / 2**20:.1f} MB，超过 {cap_mb:.0f} MB 的上限，未能接收。"
                "请删除或压缩表格中的图片后重新发送。"
            )
    for att in msg.attachments:
        if not att.filename.lower().endswith(FORM_SUFFIXES) or att.from_us:
            # A form inside a mail of ours forwarded back is the blank one we sent, not a report.
            continue
        try:
            data = safe_docx(
                att.data,
                att.filename,
                max_bytes=settings.mail.max_attachment_bytes,
                soffice=settings.service.libreoffice,
            )
            forms.append(submissions.FormFile(att.filename, data, parse_form_bounded(data)))
        except (UnsafeAttachment, FormParseError) as e:
            problems.append(f"附件「{att.filename}」：{e}")
        except DubanError as e:  # e.g. LibreOffice missing for a .doc
            problems.append(f"附件「{att.filename}」无法读取：{e}")
    return forms, problems


def _best_form(forms: list[submissions.FormFile]) -> submissions.FormFile:
    """The report among several attached forms: the most filled in, and on a tie the last attached — a
    forwarded form mail keeps our blank form ahead of the filled one the office added."""
    filled = [sum(1 for r in f.parsed.rows if r.progress.strip()) for f in forms]
    return forms[max(range(len(forms)), key=lambda i: (filled[i], i))]


def _submitted_at(msg: ReadMessage, now: dt.datetime, not_before: dt.datetime | None) -> dt.datetime:
    # The Date header is when the office sent it; we may have been down. But a sender's clock can be wrong
    # (a phone reset to 1970, a PC a year behind): never trust a date in the future, nor one before the
    # form could have been received at all.
    if msg.date is not None and msg.date <= now and (not_before is None or msg.date >= not_before):
        return msg.date
    return now


class _Handler:
    """Decides what one message is and records the consequences, inside one transaction."""

    def __init__(
        self,
        settings: Settings,
        session: Session,
        row: InboundMessage,
        msg: ReadMessage,
        forms: list[submissions.FormFile],
        problems: list[str],
        now: dt.datetime,
        verdict: Verdict = UNKNOWN,
    ) -> None:
        self.settings, self.s, self.row, self.msg = settings, session, row, msg
        self.forms, self.problems, self.now, self.verdict = forms, problems, now, verdict

    @cached_property
    def sender(self) -> KnownSender:
        """Who the From address is in the directory: looked up once, asked by several steps."""
        return known_sender(self.s, self.msg.from_addr)

    def run(self) -> None:
        msg, row = self.msg, self.row
        if msg.is_ours:
            row.kind, row.outcome = "unrelated", "本系统自己发出的邮件，忽略（防止回环）"
            return
        if msg.auto == "bounce":
            self.bounce()
            return
        if msg.auto:
            row.kind = msg.auto
            row.outcome = "自动回复，已记录，不作答复"
            self.s.add(Event(kind=msg.auto, detail=f"{msg.from_addr}: {msg.subject}"))
            return
        row.sender_verdict = self.verdict.status if self.settings.senders.sender_check != "off" else ""
        claimed = sendercheck.claimed_identity(self.s, msg.from_addr, self.sender)
        if self.verdict.failed and claimed and row.released_at is None:
            # A forged office or leader decides nothing: no report, no 同意, no answer to the address.
            self.quarantine(
                f"发件人自称 {claimed}，但未通过发件人验证：{self.verdict.reason}",
                advice=sendercheck.forged_advice(row),
            )
            return
        docx_token = next((f.parsed.token for f in self.forms if f.parsed.token), None)
        match = match_message(
            self.s,
            in_reply_to=msg.in_reply_to,
            references=msg.references,
            subject=msg.subject,
            docx_token=docx_token,
            from_addr=msg.from_addr,
            sender_offices=self.sender.offices,
        )
        if docx_token and match.by in ("in_reply_to", "subject_token"):
            match = self._the_forms_own(match, docx_token)
        row.matched_by, row.flagged = match.by, match.flagged
        if match.dispatch is not None:
            row.answers_dispatch_id = match.dispatch.id
        row.period_id = match.period.id if match.period else None
        row.office_id = match.office.id if match.office else None
        person = self.sender.person
        row.person_id = person.id if person else None
        answers_a_request = match.dispatch is not None and match.dispatch.kind in DECISION_REQUESTS
        if person is not None and (answers_a_request or not (self.forms or self.problems)):
            # A leader often sends the form back with "同意": the reply is the decision, not a report.
            self.decision(person, match)
            if self.forms or self.problems:
                row.outcome += "（来信所附表格未作为报送处理）"
        elif self.forms or self.problems:
            self.form(match)
        elif match.found and match.office is not None and self._from_office(match.office):
            if self._forgot_the_form(match):
                row.kind = "invalid"
                submissions.no_attachment(
                    self.settings,
                    self.s,
                    row,
                    match.period,  # type: ignore[arg-type]
                    match.office,
                    linked=msg.linked_attachment,
                )
            else:
                # "收到，谢谢" to a receipt, a question, any other mail from the office: for people to read.
                row.kind = "unrelated"
                row.outcome = (
                    f"{match.office.name} 的来信未附表格，也不是对报送通知的回复，留在邮箱中由局办公室阅处"
                )
        elif match.found or self.sender.offices:
            self.quarantine("来信与督办事项相关，但发件人不是相应股室的登记邮箱，或内容无法识别")
        else:
            row.kind, row.outcome = "unrelated", "与督办无关的邮件，未处理"

    def bounce(self) -> None:
        """A bounce is never answered. Tied to the mail of ours it returns, it says who did not get what;
        a definite failure for every addressee marks that mail failed, so ``duban check`` lists it."""
        msg, row = self.msg, self.row
        row.kind = "bounce"
        ours = None
        for mid in msg.returned_ids:
            ours = self.s.scalars(select(Dispatch).where(Dispatch.message_id == mid)).first()
            if ours is not None:
                break
        if ours is None:
            row.outcome = "退信，已记录（未能对应到本系统发出的邮件）"
            self.s.add(Event(kind="bounce", detail=f"{msg.from_addr}: {msg.subject}"[:2000]))
            return
        row.answers_dispatch_id, row.period_id, row.office_id = ours.id, ours.period_id, ours.office_id
        what = f"本系统发出的「{ours.subject}」"
        failed = [d for d in msg.delivery if d.action == "failed"]
        if not failed and any(d.action == "delayed" for d in msg.delivery):
            row.outcome = f"延迟投递通知：{what}暂未送达，邮件服务器仍在重试，已记录"
            self.s.add(
                Event(kind="bounce", period_id=ours.period_id, office_id=ours.office_id, detail=row.outcome)
            )
            return
        lost = {d.recipient for d in failed}
        recipients = [*ours.to_addrs, *ours.cc_addrs]
        # A bounce naming no recipient (some servers write only prose) can only be about a single one.
        if not msg.delivery and len(recipients) == 1:
            lost = set(recipients)
        why = "；".join(f"{d.recipient}：{d.diagnostic or d.status or '退信'}" for d in failed) or "退信"
        if ours.to_addrs and set(ours.to_addrs) <= lost:
            ours.state, ours.error = DispatchState.FAILED, f"退信：{why}"[:1000]
            self.s.add(
                Event(
                    kind="delivery_failed",
                    period_id=ours.period_id,
                    office_id=ours.office_id,
                    detail=f"{ours.subject} → {', '.join(ours.to_addrs)}：退信：{why}"[:2000],
                )
            )
            row.outcome = f"退信：{what}未能送达 {'、'.join(sorted(lost))}（{why}），已列入 duban check"
        else:
            row.outcome = f"退信：{what}未能送达 {'、'.join(sorted(lost)) or '部分收件人'}（{why}），已记录"
            self.s.add(
                Event(kind="bounce", period_id=ours.period_id, office_id=ours.office_id, detail=row.outcome)
            )

    def _the_forms_own(self, match: Match, docx_token: str) -> Match:
        """The form's own token over the thread it came in, when they disagree and the sender belongs to the
        form's office: an office that answers in another office's (or last month's) thread, or forwards a
        mail from it, is still sending its own form — not one to quarantine."""
        own = by_token(self.s, docx_token, "docx_token")
        if own is None or own.office is None or own.period is None or not self._from_office(own.office):
            return match
        thread = (match.office.id if match.office else None, match.period.id if match.period else None)
        return match if thread == (own.office.id, own.period.id) else own

    def _forgot_the_form(self, match: Match) -> bool:
        """Whether a mail from the office without a form answers a request for it, still unmet: only
        then is "no form attached" the right answer."""
        if match.by not in ("in_reply_to", "subject_token") or match.period is None or match.office is None:
            return False  # matched by the sender alone: any mail the office writes to the bureau
        if match.dispatch is not None and match.dispatch.kind not in FORM_REQUESTS:
            return False
        latest = latest_submission(self.s, match.period, match.office)
        return latest is None or latest.state not in ("pending_approval", "approved")

    def _from_office(self, office: Office) -> bool:
        return self.msg.from_addr in {a.email for a in office.addresses}

    def form(self, match: Match) -> None:
        row = self.row
        if not match.found or match.office is None:
            self.quarantine("来信附有表格，但无法确定对应的股室和报送期次")
            return
        period, office = match.period, match.office
        assert period is not None
        if not self._from_office(office):
            self.quarantine(f"表格应由{office.name}的登记邮箱报送，发件人 {self.msg.from_addr} 不在其中")
            return
        if not self.forms:
            row.kind = "invalid"
            queue_mail(
                self.s,
                self.settings,
                f"error_reply:msg{row.id}",
                "error_reply",
                Mail(
                    "error_reply",
                    mail_context(
                        self.settings,
                        period,
                        office,
                        revision=0,
                        late=False,
                        filled_by="",
                        **findings_context(finding_dict(p) for p in self.problems),
                    ),
                    [self.msg.from_addr],
                ),
                token=form_token(self.settings, period, office),
                reply_to=row,
                period_id=period.id,
                office_id=office.id,
            )
            row.outcome = "附件被拒收：" + "；".join(self.problems)
            return
        row.kind = "form"
        # One mail may carry the forms of several offices that share the sender's address: each form goes to
        # the office its own token names. Forms of offices the sender does not belong to stay with the
        # matched office, where the form check says whose form it really is.
        groups: dict[tuple[int, int], tuple[Period, Office, list[submissions.FormFile]]] = {
            (period.id, office.id): (period, office, [])
        }
        for f in self.forms:
            own = by_token(self.s, f.parsed.token, "docx_token") if f.parsed.token else None
            if (
                own is not None
                and own.period is not None
                and own.office is not None
                and self._from_office(own.office)
            ):
                groups.setdefault((own.period.id, own.office.id), (own.period, own.office, []))[2].append(f)
            else:
                groups[(period.id, office.id)][2].append(f)
        outcomes = []
        for p, o, forms in groups.values():
            if not forms:
                continue
            form_sent = self.s.scalar(select(Dispatch.sent_at).where(Dispatch.key == f"form:{p.key}:{o.id}"))
            submissions.take_form(
                self.settings,
                self.s,
                row,
                _best_form(forms),
                p,
                o,
                submitted_at=_submitted_at(self.msg, self.now, form_sent),
            )
            outcomes.append(row.outcome)
        row.outcome = "；".join(outcomes)

    def decision(self, person: Person, match: Match) -> None:
        row, text = self.row, self.msg.text or ""
        the_signer = signer(self.s)
        dispatch_kind = match.dispatch.kind if match.dispatch is not None else ""
        if (
            the_signer is not None
            and person.id == the_signer.id
            and (dispatch_kind == "signoff_request" or (not dispatch_kind and match.office is None))
        ):
            period = match.period or self._awaiting_signoff()
            if period is not None:
                row.kind, row.period_id = "signoff", period.id
                decisions.signoff(
                    self.settings, self.s, row, person, period, text, self.now, replied_to=match.dispatch
                )
                return
        sub = decisions.find_submission(self.s, person, match)
        if sub is None:
            waiting = decisions.waiting_for(self.s, person)
            if waiting and match.office is None:
                # "同意" naming no report while several wait: ask which, rather than guess.
                row.kind = "decision"
                decisions.ask_which(self.settings, self.s, row, person, waiting, text)
            else:
                # e.g. "已督促" in answer to an escalation: a note for the bureau office's own reading.
                row.kind = "unrelated"
                row.outcome = f"{person.name} 的来信不是对待审报告的意见，留在邮箱中由局办公室阅处"
            return
        if sub.office.leader_id != person.id:
            self.quarantine(f"{sub.office.name} 的报告只能由其分管负责同志审定，{person.name} 不是")
            return
        row.kind, row.period_id, row.office_id = "decision", sub.period_id, sub.office_id
        decisions.review(
            self.settings, self.s, row, person, sub, text, request=decisions.request_for(self.s, sub, match)
        )

    def _awaiting_signoff(self) -> Period | None:
        waiting = list(self.s.scalars(select(Period).where(Period.state == PeriodState.AWAITING_SIGNOFF)))
        return waiting[0] if len(waiting) == 1 else None

    def quarantine(self, reason: str, *, advice: str = "", notice_key: str | None = None) -> None:
        """Keep the message aside and tell the bureau office (once per ``notice_key``, default per message)."""
        row = self.row
        row.kind, row.flagged = "quarantined", True
        folder = self.settings.inbox / "quarantine"
        # Flushed to disk while the transaction goes on; its commit waits for it.
        before_commit(self.s, write_later(folder / f"{row.sha256}.eml", self.settings.path(row.archive_path).read_bytes()))
        bureau_addr = decisions._bureau_addrs(self.settings, self.s)
        queue_mail(
            self.s,
            self.settings,
            notice_key or f"quarantine_notice:{row.id}",
            "quarantine_notice",
            Mail(
                "quarantine_notice",
                mail_context(
                    self.settings,
                    from_addr=self.msg.from_addr,
                    from_name=self.msg.from_name,
                    subject=self.msg.subject,
                    reason=reason,
                    received=local_time(self.settings, row.received_at),
                    archive_path=row.archive_path,
                    advice=advice,
                ),
                bureau_addr,
            ),
            period_id=row.period_id,
            office_id=row.office_id,
        )
        row.outcome = f"已隔离并告知局办公室：{reason}"


def _handle(handler: _Handler) -> None:
    """Run the handler, unless what it does would answer its sender once too often today (a mail loop):
    then nothing it did is kept and the message is quarantined instead (mailer/service/loops.py)."""
    s, row, settings, msg = handler.s, handler.row, handler.settings, handler.msg
    before = loops.last_dispatch_id(s)
    known = set(s.identity_map.keys())
    savepoint = s.begin_nested()
    handler.run()
    s.flush()
    drawn = loops.answers_drawn(s, row, msg.from_addr, before) if row.released_at is None else []
    cap = settings.senders.answers_per_day
    so_far = loops.answered_today(settings, s, msg.from_addr, handler.now, before) if drawn else 0
    if not drawn or so_far + len(drawn) <= cap:
        savepoint.commit()
        return
    queued = [d.eml_path for d in s.scalars(select(Dispatch).where(Dispatch.id > before))]
    savepoint.rollback()
    files_written(s)  # their fsyncs settled before the files go
    # Rows written inside the savepoint are gone from the database; make sure the session forgets them too
    # (it does not always, and a reused id would then clash with the stale object).
    for identity in [k for k in s.identity_map.keys() if k not in known]:  # noqa: SIM118 - not a dict
        obj = s.identity_map.get(identity)
        if obj is not None:
            s.expunge(obj)
    for eml in queued:  # composed for the answers just undone: never to be sent
        settings.path(eml).unlink(missing_ok=True)
    log.warning("Not answering %s again today (%d answers): quarantined as a mail loop", msg.from_addr, so_far)
    handler.quarantine(
        f"{msg.from_addr} 今天已收到本系统 {so_far} 封错误提示，仍不断来信，疑为未标明身份的自动回复"
        "（邮件回环），今天不再答复该地址",
        advice=(
            "该地址今天的后续来信都将隔离而不答复，本通知每天只发一次。请联系该股室关闭自动回复；"
            f"如确是人工来信，可运行 duban inbox release {row.id} 后处理。"
        ),
        notice_key=loops.notice_key(settings, msg.from_addr, handler.now),
    )


class Begun:
    """A message whose archiving and form parsing have started (:func:`begin`); :func:`take_in` finishes it."""

    def __init__(self, settings: Settings, raw: bytes) -> None:
        self.raw = raw
        # Archived first; the archive's fsync runs while the message is read and its forms are parsed (from
        # the bytes in memory), and it is on disk, under its name, before the transaction that records it.
        self.sha, self.path, self.archived = archive(settings, raw)
        try:
            self.msg = _read(settings, raw)
        except BaseException:
            self.archived.wait()
            raise
        # Parsed in the bounded worker (mostly a wait here) while the caller goes on.
        self.parsing: Future[tuple[list[submissions.FormFile], list[str]]] = background.submit(
            _forms, settings, self.msg
        )

    def settle(self) -> None:
        """Wait for both (never leave them running behind a failure); raises the archive's failure."""
        wait([self.parsing])
        self.archived.wait()


def begin(settings: Settings, raw: bytes) -> Begun | None:
    """Start archiving and parsing ``raw`` ahead of its turn; None when that is not for now (too large to
    archive, or unreadable: :func:`take_in` then meets it, and says so, in its turn)."""
    if len(raw) > settings.mail.max_message_bytes:
        return None
    try:
        return Begun(settings, raw)
    except Exception:  # noqa: BLE001 - raised again by take_in, in its turn
        return None


def take_in(
    settings: Settings,
    engine: Engine,
    raw: bytes,
    *,
    source: str = "",
    uid: str = "",
    now: dt.datetime | None = None,
    begun: Begun | None = None,
) -> tuple[InboundMessage, bool]:
    """Archive, then record and handle one raw message in one transaction.

    :param begun: ``raw``'s archiving and parsing, started ahead by :func:`begin` (else started here)
    :returns: the message's row and whether it was new (False: seen before, nothing done again)
    """
    now = now or utcnow()
    if len(raw) > settings.mail.max_message_bytes:
        # A transport that could not tell the size beforehand: still never parse, nor archive, all of it.
        return oversize.take_oversize(
            settings, engine, header_block(raw), len(raw), source=source, uid=uid, now=now
        )
    b = begun if begun is not None and begun.raw is raw else Begun(settings, raw)
    sha, path, msg = b.sha, b.path, b.msg
    try:
        # The registry is asked whether the message is known while its forms are parsed; a message seen
        # before has its parse thrown away.
        with atomic(engine) as s:
            seen, _ = recognise(s, settings, sha, msg.message_id or None, raw)
            if seen is not None:
                return seen, False
            domains = sendercheck.envelope_domains(s, msg.from_addr)  # saves the verdict a transaction
        verdict = sendercheck.judge(settings, engine, raw, msg, domains=domains)
        forms, problems = b.parsing.result()
    finally:
        b.settle()
    with atomic(engine) as s:
        # again: another process may have taken it meanwhile
        seen, reused = recognise(s, settings, sha, msg.message_id or None, raw)
        if seen is not None:
            return seen, False
        row = InboundMessage(
            sha256=sha,
            message_id=(msg.message_id or None) if reused is None else None,
            source=source,
            source_uid=uid,
            archive_path=str(path.relative_to(settings.home)),
            from_addr=msg.from_addr,
            subject=msg.subject[:500],
            date_header=msg.date,
            received_at=now,
            kind="unrelated",
        )
        s.add(row)
        s.flush()
        _handle(_Handler(settings, s, row, msg, forms, problems, now, verdict))
        if reused is not None:
            flag_reuse(s, row, reused)
        log.info("Took in %s from %s: %s (%s)", sha[:12], msg.from_addr, row.kind, row.outcome)
        return row, True


RETRYABLE = ("failed", "quarantined", "invalid", "unrelated")


def retry(
    settings: Settings, engine: Engine, inbound_id: int, *, now: dt.datetime | None = None
) -> InboundMessage:
    """Handle an archived message again, on its own registry row: after a bug was fixed (failed), the
    directory was corrected (quarantined, unrelated) or an attachment became readable (invalid).

    :raises DubanError: when there is no such message, or it already led to a submission or a decision
    """
    now = now or utcnow()
    with atomic(engine) as s:
        row = s.get(InboundMessage, inbound_id)
        if row is None:
            raise DubanError(f"No inbound message #{inbound_id}. `duban inbox list` shows them.")
        if row.kind not in RETRYABLE:
            raise DubanError(
                f"Message #{inbound_id} was taken in as {row.kind}; only {', '.join(RETRYABLE)} "
                "messages can be retried."
            )
        raw = settings.path(row.archive_path).read_bytes()
    msg = _read(settings, raw)
    forms, problems = _forms(settings, msg)
    verdict = sendercheck.judge(settings, engine, raw, msg)
    with atomic(engine) as s:
        row = s.get(InboundMessage, inbound_id)
        assert row is not None
        row.kind, row.outcome, row.error, row.flagged = "unrelated", "", "", False
        row.from_addr, row.subject, row.date_header = msg.from_addr, msg.subject[:500], msg.date
        row.message_id = row.message_id or free_message_id(s, msg.message_id, row.id)
        _handle(_Handler(settings, s, row, msg, forms, problems, now, verdict))
        s.add(
            Event(
                kind="retried",
                period_id=row.period_id,
                office_id=row.office_id,
                detail=f"来信 #{row.id} 重新处理：{row.kind}（{row.outcome}）",
            )
        )
        return row


def _seen(s: Session, sha: str, message_id: str | None) -> InboundMessage | None:
    cond = InboundMessage.sha256 == sha
    if message_id:
        cond = or_(cond, InboundMessage.message_id == message_id)
    return s.scalars(select(InboundMessage).where(cond)).first()


def _record_failure(
    settings: Settings, engine: Engine, raw: bytes, source: str, uid: str, now: dt.datetime, error: str
) -> None:
    sha, path, archived = archive(settings, raw)
    archived.wait()
    with atomic(engine) as s:
        if _seen(s, sha, None) is None:
            s.add(
                InboundMessage(
                    sha256=sha,
                    message_id=None,
                    source=source,
                    source_uid=uid,
                    archive_path=str(path.relative_to(settings.home)),
                    received_at=now,
                    kind="failed",
                    error=error[-4000:],
                    outcome="处理出错，已归档待人工处理",
                )
            )


def _remember_uid(engine: Engine, row_id: int, source: str, key: str) -> None:
    """A message left alone came back under a new UID (UIDVALIDITY changed): skip it by that one now."""
    with atomic(engine) as s:
        row = s.get(InboundMessage, row_id)
        if row is not None:
            row.source, row.source_uid = source, key


def poll(
    settings: Settings, engine: Engine, transport: Transport, *, now: dt.datetime | None = None
) -> PollReport:
    """Take in every new message of the transport, acknowledging each only after its commit.

    Messages recorded as unrelated are left on the server (the mailbox may be the bureau office's own)
    and skipped without fetching on later polls.

    :raises TransportError: when the mailbox cannot be listed (a message-level failure never raises)
    """
    report = PollReport()
    # A UID means something only within its UIDVALIDITY; remembering both keeps a reset mailbox from
    # hiding a new message behind the UID of an old one.
    uv = transport.uidvalidity
    with atomic(engine) as s:
        left_alone = set(
            s.scalars(
                select(InboundMessage.source_uid).where(
                    InboundMessage.source == transport.source, InboundMessage.kind == "unrelated"
                )
            )
        )
    listed = [(uid, f"{uv}:{uid}" if uv is not None else uid) for uid in transport.list_new()]
    later = [uid for uid, key in listed if key not in left_alone]  # those to fetch, in order
    ahead: _Ahead | None = None
    try:
        for uid, key in listed:
            if key in left_alone:
                report.skipped += 1
                continue
            later.pop(0)
            when = now or utcnow()
            too_large: MessageTooLarge | None = None
            begun: Begun | None = None
            if ahead is not None and ahead.uid == uid:
                raw, begun = ahead.raw, ahead.begun
            else:
                try:
                    raw = transport.fetch(uid)
                except MessageTooLarge as e:
                    # Only its size and headers were fetched: recorded and answered from those.
                    raw, too_large = e.headers, e
            # The next message is fetched (never acknowledged) and its archiving and parsing started, so
            # that they overlap this one's transaction.
            ahead = _Ahead.fetch(settings, transport, later[0]) if later else None
            if not _take_one(settings, engine, transport, report, uid, key, when, raw, too_large, begun):
                break
    finally:
        if ahead is not None and ahead.begun is not None:
            with contextlib.suppress(Exception):  # its turn did not come: met again on the next poll
                ahead.begun.settle()
    return report


class _Ahead:
    """The next message of a poll, fetched while the one before it is taken in."""

    def __init__(self, uid: str, raw: bytes, begun: Begun | None) -> None:
        self.uid, self.raw, self.begun = uid, raw, begun

    @classmethod
    def fetch(cls, settings: Settings, transport: Transport, uid: str) -> _Ahead | None:
        try:
            raw = transport.fetch(uid)
        except Exception:  # noqa: BLE001 - too large, or gone: fetched again in its turn, and handled there
            return None
        return cls(uid, raw, begin(settings, raw))


def _take_one(
    settings: Settings,
    engine: Engine,
    transport: Transport,
    report: PollReport,
    uid: str,
    key: str,
    when: dt.datetime,
    raw: bytes,
    too_large: MessageTooLarge | None,
    begun: Begun | None,
) -> bool:
    """Take in one fetched message and acknowledge it once committed; False: stop the poll here."""
    try:
        if too_large is not None:
            row, new = oversize.take_oversize(
                settings, engine, raw, too_large.size, source=transport.source, uid=key, now=when
            )
        else:
            row, new = take_in(settings, engine, raw, source=transport.source, uid=key, now=when, begun=begun)
    except TransportError:
        raise
    except Exception as e:
        if is_transient(e):
            # Nothing wrong with the message: leave it (and those behind it) unacknowledged for the next
            # poll, recorded nowhere as failed.
            log.warning("Transient failure on message %s from %s; left for the next poll: %s",
                        uid, transport.source, e)
            report.deferred += 1
            return False
        # A bug or a message we cannot handle: archived and recorded as failed, never lost, never
        # blocking the messages behind it.
        log.exception("Message %s from %s could not be processed", uid, transport.source)
        _record_failure(settings, engine, raw, transport.source, key, when, traceback.format_exc())
        report.failed += 1
        transport.acknowledge(uid)
        return True
    if new:
        report.taken += 1
        report.outcomes.append(f"{row.from_addr}: {row.outcome}")
    else:
        report.duplicates += 1
        if row.kind == "unrelated" and row.source_uid != key:
            _remember_uid(engine, row.id, transport.source, key)
    if row.kind != "unrelated":
        transport.acknowledge(uid)
    return True
