"""The registry's tables (SQLAlchemy 2, typed). The schema tells the whole story of a plan:

plan → tasks → milestones, task_offices (lead underlined); offices ← aliases, addresses, supervising leader;
people (leaders, signer), distribution list; per month a period → dispatches (every message we send),
inbound messages (every message we take in), submissions (a returned form, one row per revision) → entries
(one per task), approvals (leader and sign-off decisions), documents (every file we produce), events (audit).

Timestamps are timezone-aware UTC; dates are calendar dates in the bureau's timezone.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC and gives them back aware (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the registry; use an aware one")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    # Named constraints so that Alembic batch migrations on SQLite can find them later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# --- the plan ------------------------------------------------------------------------------------------


class Plan(Base):
    """One notice's task list, e.g. 台山市教育系统2022年重点工作任务, and its reporting rule."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))  # 台山市教育系统2022年重点工作任务一览表
    notice_title: Mapped[str] = mapped_column(String(300), default="")  # 关于印发…的通知
    issuer: Mapped[str] = mapped_column(String(200), default="")  # 台山市教育局办公室
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    org_name: Mapped[str] = mapped_column(String(200), default="")  # 台山市教育系统 (for titles)
    first_month: Mapped[int] = mapped_column(Integer, default=6)
    due_day: Mapped[int] = mapped_column(Integer, default=20)
    source_file: Mapped[str] = mapped_column(String(500), default="")
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # `duban confirm`: the bureau office has seen what the plan's first tick will send (mailer.service.startgate).
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    tasks: Mapped[list[Task]] = relationship(back_populates="plan", order_by="Task.seq")
    __table_args__ = (UniqueConstraint("year", "title"),)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 序号 / 编号
    name: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text, default="")  # paragraphs joined by "\n"
    remark: Mapped[str] = mapped_column(Text, default="")
    offices_text: Mapped[str] = mapped_column(Text, default="")  # as written in the notice
    lead_assumed: Mapped[bool] = mapped_column(Boolean, default=False)  # no underline: first office taken
    removed: Mapped[bool] = mapped_column(Boolean, default=False)  # gone from a later import
    # 办结: the last period ("2022-06") whose forms still carry the task; later forms leave it out and the
    # notice shows it as 已办结. "" = not done. Set by `duban tasks done`.
    done_after: Mapped[str] = mapped_column(String(7), default="", server_default="")
    plan: Mapped[Plan] = relationship(back_populates="tasks")
    offices: Mapped[list[TaskOffice]] = relationship(
        back_populates="task", order_by="TaskOffice.position", cascade="all, delete-orphan"
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="task", order_by="Milestone.position", cascade="all, delete-orphan"
    )
    __table_args__ = (UniqueConstraint("plan_id", "seq"),)


class TaskOffice(Base):
    __tablename__ = "task_offices"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    position: Mapped[int] = mapped_column(Integer)
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    task: Mapped[Task] = relationship(back_populates="offices")
    office: Mapped[Office] = relationship()
    __table_args__ = (UniqueConstraint("task_id", "office_id"),)


class Milestone(Base):
    """A dated node of a task's plan: "一是3月底前完成招标文件编制" → due 2022-03-31."""

    __tablename__ = "milestones"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(20), default="")  # 一是, 二是…
    due: Mapped[dt.date | None] = mapped_column(Date)  # None: 年内 or undated
    text: Mapped[str] = mapped_column(Text)
    task: Mapped[Task] = relationship(back_populates="milestones")


# --- people and offices -----------------------------------------------------------------------------


class Person(Base):
    """A leader (分管负责同志), the signer (e.g. 局长), or anyone else we write to by name."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")  # 副局长
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    is_signer: Mapped[bool] = mapped_column(Boolean, default=False)


class Office(Base):
    """A 股室 / centre. The bureau office (局办公室) is the one with is_bureau_office."""

    __tablename__ = "offices"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # canonical name
    contact: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # 分管负责同志
    is_bureau_office: Mapped[bool] = mapped_column(Boolean, default=False)
    in_directory: Mapped[bool] = mapped_column(Boolean, default=False)  # False: known only from a task
    # Envelope-sender domains allowed besides the addresses' own (a mailing service), space-separated.
    envelope_domains: Mapped[str] = mapped_column(Text, default="", server_default="")
    leader: Mapped[Person | None] = relationship()
    addresses: Mapped[list[OfficeAddress]] = relationship(
        back_populates="office", order_by="OfficeAddress.position", cascade="all, delete-orphan"
    )
    aliases: Mapped[list[OfficeAlias]] = relationship(back_populates="office", cascade="all, delete-orphan")


class OfficeAlias(Base):
    """Another name of an office (the notice writes both 督导室 and 督导组)."""

    __tablename__ = "office_aliases"
    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    office: Mapped[Office] = relationship(back_populates="aliases")


class OfficeAddress(Base):
    __tablename__ = "office_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the address forms are sent to
    office: Mapped[Office] = relationship(back_populates="addresses")
    __table_args__ = (UniqueConstraint("office_id", "email"),)


class Recipient(Base):
    """The distribution list of the published notice (主送/抄送)."""

    __tablename__ = "distribution"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), unique=True)


# --- the monthly cycle ------------------------------------------------------------------------------

def one_of(column: str, states: type[StrEnum]) -> CheckConstraint:
    """The CHECK constraint that keeps ``column`` to the values of ``states`` (named ``ck_<table>_<column>``
    by the metadata's naming convention). Migrations write the same text (0012_states)."""
    return CheckConstraint(f"{column} IN (" + ", ".join(f"'{s.value}'" for s in states) + ")", name=column)


class PeriodState(StrEnum):
    """The states of a period (``Period.state``), in the order a month goes through them."""

    OPEN = "open"  # created; the forms are not sent yet
    COLLECTING = "collecting"  # forms sent, reports coming in
    NOTHING_REPORTED = "nothing_reported"  # assembly due but no report approved: held for the clerk (startgate)
    ASSEMBLING = "assembling"  # the draft notice is being (re)built; also after the signer returned it
    AWAITING_SIGNOFF = "awaiting_signoff"  # the draft went to the signer
    SIGNED_OFF = "signed_off"
    PUBLISHED = "published"
    SKIPPED = "skipped"  # the clerk decided no forms for that month (`duban period skip`); nothing happens in it


class Period(Base):
    """One monthly report round: year Y, month N; the form covers 1—N月."""

    __tablename__ = "periods"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(30), default=PeriodState.OPEN)
    send_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)  # last day a report is on time
    # The calendar's due date when the forms went out late and due_on was moved (mailer.registry.latestart).
    due_moved_from: Mapped[dt.date | None] = mapped_column(Date)
    remind_on: Mapped[dt.date | None] = mapped_column(Date)
    escalate_on: Mapped[dt.date | None] = mapped_column(Date)
    assemble_after: Mapped[dt.date | None] = mapped_column(Date)  # due + grace working days
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    plan: Mapped[Plan] = relationship()
    __table_args__ = (UniqueConstraint("plan_id", "year", "month"), one_of("state", PeriodState))

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class ServiceGate(Base):
    """One row (id 1): when the service last ticked, and whether its sending waits for `duban confirm`."""

    __tablename__ = "service_gate"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_tick_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    held_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: not holding
    held_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    held_summary: Mapped[str] = mapped_column(Text, default="", server_default="")  # what waits, one line per message
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")


DISPATCH_KINDS = (
    "form",  # the pre-filled form to a lead office
    "reminder",  # before the due date
    "escalation",  # after the due date, to the leader and the bureau office
    "receipt",  # a valid form was received
    "error_reply",  # a form with errors: findings listed, form attached back
    "approval_request",  # a valid report to the office's leader
    "approval_reminder",
    "returned",  # leader returned the report: comments to the office
    "approved_notice",  # the office is told its report was approved
    "not_understood",  # a reply we could not read as a decision
    "quarantine_notice",  # to the bureau office: a stranger wrote
    "oversize_reply",  # to a sender whose message was over mail.max_message_mb: not taken in
    "signoff_request",  # the assembled draft to the signer and the bureau office
    "signoff_returned",  # the signer's comments to the bureau office
    "signoff_stale",  # to the signer: the reply was to a draft since replaced, it decided nothing
    "published",  # the final notice to the bureau office and the distribution list
    "gate_held",  # to the bureau office: sending waits for `duban confirm` (mailer.service.startgate)
    "other",
)


class DispatchState(StrEnum):
    """The states of a dispatch row (``Dispatch.state``; mailer.service.outgoing sends, mailer.service.uncertain settles)."""

    PENDING = "pending"  # queued, not yet handed to the transport (or certainly not sent last time)
    SENDING = "sending"  # committed just before the transport is called; found at start-up = interrupted
    SENT = "sent"
    FAILED = "failed"  # refused for good, or too many transient failures
    UNCERTAIN = "uncertain"  # may have gone: waits for the clerk (or mail.uncertain = "resend")
    DROPPED = "dropped"  # given up: an uncertain courtesy mail, or by the clerk


class Dispatch(Base):
    """Every message we send. Written (pending) before the send, marked sent after (design principle 3).

    ``key`` makes each step idempotent: e.g. ``form:2022-06:基财股`` or ``reminder:2022-06:基财股:1``.
    """

    __tablename__ = "dispatches"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    # Plain ids, not foreign keys: dispatches ↔ inbound messages ↔ submissions would form a cycle that
    # SQLite cannot create (no ALTER … ADD CONSTRAINT).
    submission_id: Mapped[int | None] = mapped_column(Integer)
    in_reply_to_id: Mapped[int | None] = mapped_column(Integer)  # inbound_messages.id
    message_id: Mapped[str] = mapped_column(String(300), unique=True)  # <…@domain>, ours
    # form token in the subject, if any; indexed: a reply is matched by it (mailer.service.matching)
    token: Mapped[str] = mapped_column(String(40), default="", index=True)
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500), default="")
    eml_path: Mapped[str] = mapped_column(String(500), default="")  # outbox/mail/…eml
    state: Mapped[str] = mapped_column(String(20), default=DispatchState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (one_of("state", DispatchState),)


class InboundMessage(Base):
    """Every message we take in, archived before processing; unique on Message-ID and on sha256."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(300), default="")  # folder:…, imap:host/INBOX, ews:addr
    source_uid: Mapped[str] = mapped_column(String(300), default="")
    archive_path: Mapped[str] = mapped_column(String(500))
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    date_header: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # form | decision | signoff | auto_reply | bounce | unrelated | quarantined | invalid | failed | oversize
    kind: Mapped[str] = mapped_column(String(30))
    # in_reply_to | subject_token | docx_token | sender | none
    matched_by: Mapped[str] = mapped_column(String(30), default="none")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # matched by sender only, etc.
    answers_dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatches.id"))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str] = mapped_column(Text, default="")  # what was done, in words, for the ledger
    error: Mapped[str] = mapped_column(Text, default="")
    # pass | fail | unknown (mailer/read/senders.py); "" when not checked (our own mail, policy off)
    sender_verdict: Mapped[str] = mapped_column(String(20), default="", server_default="")
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the clerk vouched for the sender


class SubmissionState(StrEnum):
    """The states of one revision of an office's returned form (``Submission.state``)."""

    INVALID = "invalid"  # the check found errors: the office got an error reply
    PENDING_APPROVAL = "pending_approval"  # valid, waiting for the supervising leader
    APPROVED = "approved"
    RETURNED = "returned"  # the leader (or the clerk) sent it back with comments
    SUPERSEDED = "superseded"  # a newer revision came in before a decision


class Submission(Base):
    """A returned form from an office for a period; each resubmission is the next revision."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    revision: Mapped[int] = mapped_column(Integer)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    state: Mapped[str] = mapped_column(String(30))
    form_path: Mapped[str] = mapped_column(String(500), default="")  # inbox/attachments/<sha>.docx
    form_sha256: Mapped[str] = mapped_column(String(64), default="")
    token: Mapped[str] = mapped_column(String(40), default="")
    filled_by: Mapped[str] = mapped_column(String(100), default="")  # 填报人
    filled_on: Mapped[str] = mapped_column(String(50), default="")  # 填报日期, as written
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    office: Mapped[Office] = relationship()
    period: Mapped[Period] = relationship()
    entries: Mapped[list[Entry]] = relationship(back_populates="submission", cascade="all, delete-orphan")
    __table_args__ = (UniqueConstraint("period_id", "office_id", "revision"), one_of("state", SubmissionState))


class Entry(Base):
    """One task's row of a returned form."""

    __tablename__ = "entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    progress: Mapped[str] = mapped_column(Text, default="")  # 进展情况
    problems: Mapped[str] = mapped_column(Text, default="")  # 存在问题和下一步工作计划
    remark: Mapped[str] = mapped_column(Text, default="")
    submission: Mapped[Submission] = relationship(back_populates="entries")
    task: Mapped[Task] = relationship()
    __table_args__ = (UniqueConstraint("submission_id", "task_id"),)


class Approval(Base):
    """A decision by reply: a leader on a submission, or the signer on an assembled notice."""

    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # review | signoff
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    decision: Mapped[str] = mapped_column(String(20))  # approved | returned | not_understood
    comment: Mapped[str] = mapped_column(Text, default="")
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    # The request (approval_request / approval_reminder / signoff_request …) the decision answers: the mail
    # the leader replied to, or the one their fresh mail was taken to answer (migration 0003).
    request_dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatches.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    person: Mapped[Person] = relationship()


class Document(Base):
    """Every file duban produced: forms, drafts, published notices, ledgers."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # form | draft | published | ledger
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    path: Mapped[str] = mapped_column(String(500))  # relative to the home
    pdf_path: Mapped[str] = mapped_column(String(500), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    token: Mapped[str] = mapped_column(String(40), default="", index=True)  # forms: the form token
    state: Mapped[str] = mapped_column(String(30), default="current")  # current | superseded | returned | signed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The audit trail: every step the service took, in words (shown by status and the ledger), and every
    action a clerk took (``actor`` says who, ``reason`` why; both empty for the service's own steps)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="", server_default="")
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class OfficeDeadline(Base):
    """One office's own due date in one period (`duban extend`), with the reminder, escalation and
    assembly dates that follow from it; without a row the period's dates hold."""

    __tablename__ = "office_deadlines"
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    remind_on: Mapped[dt.date | None] = mapped_column(Date)
    escalate_on: Mapped[dt.date | None] = mapped_column(Date)
    assemble_after: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(100), default="")
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("period_id", "office_id"),)


class RegistryMeta(Base):
    """Facts about the registry itself: ``home_id`` ties it to the home that `duban init` made, so that a
    registry that was lost, emptied or swapped is noticed instead of being silently replaced."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class RobotPostState(StrEnum):
    """The states of a group-robot post (``RobotPost.state``, mailer.service.robots)."""

    PENDING = "pending"  # queued with its mail; not tried yet (or held back by the rate limit)
    POSTING = "posting"  # committed just before the webhook is called; found later = interrupted
    POSTED = "posted"  # the platform answered errcode/code 0: never posted again
    FAILED = "failed"  # refused or unreachable; tried again after ``next_at`` up to robots.MAX_ATTEMPTS
    GAVE_UP = "gave_up"  # failed MAX_ATTEMPTS times: shown by `duban check`, not tried again
    UNCERTAIN = "uncertain"  # interrupted or timed out after the request went: not re-posted (no doubles)


class RobotPost(Base):
    """One message to one group robot, queued in the transaction that queues the mail it tells of and
    posted after the tick's mail (mailer.service.robots). A failing webhook is recorded here, never in the mail's
    dispatch row, so it can neither block nor repeat a mail."""

    __tablename__ = "robot_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # event:period:robot:first dispatch id
    robot: Mapped[str] = mapped_column(String(200))  # RobotSettings.name in duban.toml
    platform: Mapped[str] = mapped_column(String(20))  # wecom | dingtalk | feishu
    event: Mapped[str] = mapped_column(String(20))  # forms | reminders | escalations | publication
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    title: Mapped[str] = mapped_column(String(300), default="")  # first line: the clerk's lists show it
    text: Mapped[str] = mapped_column(Text, default="")  # the plain-text rendering
    markdown: Mapped[str] = mapped_column(Text, default="")  # the markdown rendering
    state: Mapped[str] = mapped_column(String(20), default=RobotPostState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")  # the last failure, in Chinese, key masked
    next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # a failed post waits until then
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (one_of("state", RobotPostState),)


# --- the web console's accounts (mailer.web) -------------------------------------------------------------

USER_ROLES = ("office", "leader", "viewer")  # 办公室 (everything), 分管领导 (sees all, reviews his), 查看


class User(Base):
    """A local account of the web console. ``leader_email`` ties a 分管领导 to his Person (the offices he
    supervises are those whose leader that Person is); the password is an argon2 hash, never the text."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # one of USER_ROLES
    leader_email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("role IN ('office', 'leader', 'viewer')", name="role"),)
