"""Exactly-once intake (design principle 2): raw bytes → archive (content-addressed) → one transaction
that records the message (unique on Message-ID and sha256) with all its results and the answers it calls
for → only then acknowledged on the server. A crash anywhere means the message is fetched again and
recognised; one bad message never stops a run.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from mailer import decisions, submissions
from mailer.config import Settings
from mailer.errors import DubanError, FormParseError, TransportError, UnsafeAttachment
from mailer.files import store_by_hash
from mailer.mailread import ReadMessage, read_message
from mailer.matching import Match, match_message
from mailer.model import Event, InboundMessage, Office, Period, Person, utcnow
from mailer.offices import offices_for_address, person_for_address, signer
from mailer.outgoing import Mail, queue_mail
from mailer.periodinfo import date_cn, form_token, period_label
from mailer.safety import parse_form_bounded, safe_docx
from mailer.store import atomic
from mailer.transport.base import Transport

log = logging.getLogger(__name__)
# Mails whose answer is a decision (同意/退回), whatever is attached to it.
DECISION_REQUESTS = ("approval_request", "approval_reminder", "signoff_request", "not_understood")
FORM_SUFFIXES = (".docx", ".doc", ".wps", ".docm", ".dotx", ".wpt")


@dataclass
class PollReport:
    taken: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    outcomes: list[str] = field(default_factory=list)


def archive(settings: Settings, raw: bytes) -> tuple[str, Path]:
    """Write the raw message under inbox/archive/ab/<sha256>.eml (once); returns (sha256, path)."""
    return store_by_hash(settings.inbox / "archive", raw, ".eml", fan_out=True)


def _forms(settings: Settings, msg: ReadMessage) -> tuple[list[submissions.FormFile], list[str]]:
    """Safety-check and parse every form-like attachment, outside any transaction (it takes a while)."""
    forms, problems = [], []
    for att in msg.attachments:
        if not att.filename.lower().endswith(FORM_SUFFIXES):
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


def _submitted_at(msg: ReadMessage, now: dt.datetime) -> dt.datetime:
    # The Date header is when the office sent it; we may have been down. Never trust a future date.
    if msg.date is not None and msg.date <= now:
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
    ) -> None:
        self.settings, self.s, self.row, self.msg = settings, session, row, msg
        self.forms, self.problems, self.now = forms, problems, now

    def run(self) -> None:
        msg, row = self.msg, self.row
        if msg.is_ours:
            row.kind, row.outcome = "unrelated", "本系统自己发出的邮件，忽略（防止回环）"
            return
        if msg.auto:
            row.kind = msg.auto
            row.outcome = "自动回复，已记录，不作答复" if msg.auto == "auto_reply" else "退信，已记录"
            self.s.add(Event(kind=msg.auto, detail=f"{msg.from_addr}: {msg.subject}"))
            return
        docx_token = next((f.parsed.token for f in self.forms if f.parsed.token), None)
        match = match_message(
            self.s,
            in_reply_to=msg.in_reply_to,
            references=msg.references,
            subject=msg.subject,
            docx_token=docx_token,
            from_addr=msg.from_addr,
        )
        row.matched_by, row.flagged = match.by, match.flagged
        if match.dispatch is not None:
            row.answers_dispatch_id = match.dispatch.id
        row.period_id = match.period.id if match.period else None
        row.office_id = match.office.id if match.office else None
        person = person_for_address(self.s, msg.from_addr)
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
            row.kind = "invalid"
            submissions.no_attachment(self.settings, self.s, row, match.period, match.office)  # type: ignore[arg-type]
        elif match.found or offices_for_address(self.s, msg.from_addr):
            self.quarantine("来信与督办事项相关，但发件人不是相应股室的登记邮箱，或内容无法识别")
        else:
            row.kind, row.outcome = "unrelated", "与督办无关的邮件，未处理"

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
            ctx_findings = [
                {"level": "error", "message": p, "seq": None, "name": "", "column": ""} for p in self.problems
            ]
            queue_mail(
                self.s,
                self.settings,
                f"error_reply:msg{row.id}",
                "error_reply",
                Mail(
                    "error_reply",
                    {
                        "office": office.name,
                        "period_label": period_label(period),
                        "due_date": date_cn(period.due_on),
                        "plan_title": period.plan.title,
                        "revision": 0,
                        "late": False,
                        "filled_by": "",
                        "findings": ctx_findings,
                        "errors": ctx_findings,
                        "warnings": [],
                    },
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
        submissions.take_form(
            self.settings,
            self.s,
            row,
            self.forms[0],
            period,
            office,
            submitted_at=_submitted_at(self.msg, self.now),
        )

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
                decisions.signoff(self.settings, self.s, row, person, period, text, self.now)
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
        decisions.review(self.settings, self.s, row, person, sub, text)

    def _awaiting_signoff(self) -> Period | None:
        waiting = list(self.s.scalars(select(Period).where(Period.state == "awaiting_signoff")))
        return waiting[0] if len(waiting) == 1 else None

    def quarantine(self, reason: str) -> None:
        row = self.row
        row.kind, row.flagged = "quarantined", True
        folder = self.settings.inbox / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{row.sha256}.eml").write_bytes(self.settings.path(row.archive_path).read_bytes())
        bureau_addr = decisions._bureau_addrs(self.settings, self.s)
        queue_mail(
            self.s,
            self.settings,
            f"quarantine_notice:{row.id}",
            "quarantine_notice",
            Mail(
                "quarantine_notice",
                {
                    "from_addr": self.msg.from_addr,
                    "from_name": self.msg.from_name,
                    "subject": self.msg.subject,
                    "reason": reason,
                    "received": row.received_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                    "archive_path": row.archive_path,
                },
                bureau_addr,
            ),
            period_id=row.period_id,
            office_id=row.office_id,
        )
        row.outcome = f"已隔离并告知局办公室：{reason}"


def take_in(
    settings: Settings,
    engine: Engine,
    raw: bytes,
    *,
    source: str = "",
    uid: str = "",
    now: dt.datetime | None = None,
) -> tuple[InboundMessage, bool]:
    """Archive, then record and handle one raw message in one transaction.

    :returns: the message's row and whether it was new (False: seen before, nothing done again)
    """
    now = now or utcnow()
    sha, path = archive(settings, raw)
    msg = read_message(
        raw, max_attachment_bytes=settings.mail.max_attachment_bytes, own_address=settings.mail.from_address
    )
    with atomic(engine) as s:
        seen = _seen(s, sha, msg.message_id)
        if seen is not None:
            return seen, False
    forms, problems = _forms(settings, msg)
    with atomic(engine) as s:
        seen = _seen(s, sha, msg.message_id)  # another process may have taken it meanwhile
        if seen is not None:
            return seen, False
        row = InboundMessage(
            sha256=sha,
            message_id=msg.message_id or None,
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
        _Handler(settings, s, row, msg, forms, problems, now).run()
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
    msg = read_message(
        raw, max_attachment_bytes=settings.mail.max_attachment_bytes, own_address=settings.mail.from_address
    )
    forms, problems = _forms(settings, msg)
    with atomic(engine) as s:
        row = s.get(InboundMessage, inbound_id)
        assert row is not None
        row.kind, row.outcome, row.error, row.flagged = "unrelated", "", "", False
        row.from_addr, row.subject, row.date_header = msg.from_addr, msg.subject[:500], msg.date
        row.message_id = row.message_id or msg.message_id or None
        _Handler(settings, s, row, msg, forms, problems, now).run()
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
    sha, path = archive(settings, raw)
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
    for uid in transport.list_new():
        key = f"{uv}:{uid}" if uv is not None else uid
        if key in left_alone:
            report.skipped += 1
            continue
        raw = transport.fetch(uid)
        when = now or utcnow()
        try:
            row, new = take_in(settings, engine, raw, source=transport.source, uid=key, now=when)
        except TransportError:
            raise
        except Exception:
            # A bug or a message we cannot handle: archived and recorded as failed, never lost, never
            # blocking the messages behind it.
            log.exception("Message %s from %s could not be processed", uid, transport.source)
            _record_failure(settings, engine, raw, transport.source, key, when, traceback.format_exc())
            report.failed += 1
            transport.acknowledge(uid)
            continue
        if new:
            report.taken += 1
            report.outcomes.append(f"{row.from_addr}: {row.outcome}")
        else:
            report.duplicates += 1
            if row.kind == "unrelated" and row.source_uid != key:
                _remember_uid(engine, row.id, transport.source, key)
        if row.kind != "unrelated":
            transport.acknowledge(uid)
    return report
