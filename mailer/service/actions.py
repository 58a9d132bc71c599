"""The clerk's own actions, one implementation each, shared by the CLI and (later) the web console.

Each action names who acts (``by``) and, where it matters, why (``reason``); checks its input and changes
nothing when it is wrong; does its work in one ``atomic()`` transaction together with its audit row
(mailer.registry.audit.record); and queues whatever mail it calls for — the caller sends it (``send_pending``).
Taking a form in by hand and resending one are in mailer.service.handforms; the rest is here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.common.periods import parse_period, period_key
from mailer.common.text import key
from mailer.registry.audit import record
from mailer.registry.deadlines import extension
from mailer.registry.listings import NO_PLAN_FOR_PERIOD, period_not_open
from mailer.registry.model import (
    Approval,
    Event,
    Office,
    OfficeAddress,
    OfficeDeadline,
    Period,
    PeriodState,
    Person,
    Submission,
    SubmissionState,
    Task,
    utcnow,
)
from mailer.registry.offices import find_office, normalize_address
from mailer.registry.periodfacts import date_cn, latest_submission, local_date, period_label
from mailer.registry.queries import active_plan, lead_offices
from mailer.registry.store import atomic

# Periods in which nothing may be changed any more, or nothing happens at all.
FINISHED = (PeriodState.PUBLISHED, PeriodState.SKIPPED)
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


class ActionRefused(DubanError):
    """A clerk's action that cannot be done as asked; nothing was changed."""


@dataclass
class ActionResult:
    """What an action did, in words for the clerk, and as data for scripts (``--json``)."""

    message: str
    data: dict[str, object] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


# --- lookups every action shares ------------------------------------------------------------------------


def need_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ActionRefused(f"{what}须说明理由：请加 --reason \"…\"（记入审计记录）。")
    return text


def get_office(session: Session, name: str) -> Office:
    office = find_office(session, name)
    if office is None:
        raise ActionRefused(f"没有名为“{name}”的股室。请用 duban offices 查看股室名称（别名也可）。")
    return office


def find_period(session: Session, text: str) -> Period | None:
    year, month = parse_period(text)
    plan = active_plan(session)
    if plan is None:
        raise ActionRefused(NO_PLAN_FOR_PERIOD)
    return session.scalars(
        select(Period).where(Period.plan_id == plan.id, Period.year == year, Period.month == month)
    ).first()


def get_period(session: Session, text: str) -> Period:
    period = find_period(session, text)
    if period is None:
        year, month = parse_period(text)
        raise ActionRefused(period_not_open(year, month))
    return period


def _open_for_offices(period: Period, what: str) -> None:
    if period.state not in (PeriodState.OPEN, PeriodState.COLLECTING):
        raise ActionRefused(
            f"{period.key} 期次已进入“{period.state}”阶段，不能再{what}。"
            "如需重新汇总，请用 duban assemble。"
        )


def _lead(session: Session, period: Period, office: Office) -> None:
    if office.id not in {o.id for o in lead_offices(session, period.plan, period.key)}:
        raise ActionRefused(f"{office.name} 在 {period.key} 期次没有牵头任务，无需报送。")


# --- a leader's decision given in person ------------------------------------------------------------------


def decide(
    settings: Settings,
    engine: Engine,
    *,
    office: str,
    period: str,
    approve: bool,
    leader: str,
    reason: str,
    by: str,
    now: dt.datetime | None = None,
) -> ActionResult:
    """Record a leader's 同意/退回 given in person or by phone, on the office's report awaiting review.

    :param leader: the leader who decided (name or address); must be the office's supervising leader
    :param by: the clerk who records it
    :param reason: why it is recorded by hand; on a return, also the leader's comments sent to the office
    """
    now = now or utcnow()
    reason = need_reason(reason, "录入当面审定")
    with atomic(engine) as s:
        o, p = get_office(s, office), get_period(s, period)
        the_leader = o.leader
        if the_leader is None:
            raise ActionRefused(f"名录中没有 {o.name} 的分管负责同志，无法录入其审定意见。请先导入名录。")
        if key(leader) not in (key(the_leader.name), key(the_leader.email)):
            raise ActionRefused(
                f"{o.name} 的分管负责同志是 {the_leader.name}，不是“{leader}”。"
                f"请用 --by {the_leader.name}。"
            )
        sub = latest_submission(s, p, o, "pending_approval")
        if sub is None:
            newest = latest_submission(s, p, o)
            state = f"最新一版（第{newest.revision}版）状态为 {newest.state}" if newest else "尚未报送"
            raise ActionRefused(f"{o.name} 在 {p.key} 没有待审定的报告（{state}），无可审定。")
        return _review(settings, s, sub, the_leader, approve=approve, comment=reason, reason=reason, by=by,
                       kind="decision_in_person", now=now)


def _review(
    settings: Settings,
    s: Session,
    sub: Submission,
    leader: Person,
    *,
    approve: bool,
    comment: str,
    reason: str,
    by: str,
    kind: str,
    now: dt.datetime,
) -> ActionResult:
    """The decision on ``sub`` recorded (Approval), applied as a mailed one is (decisions.apply_review) and
    audited, in the caller's transaction."""
    o, p = sub.office, sub.period
    s.add(
        Approval(
            kind="review",
            submission_id=sub.id,
            person_id=leader.id,
            decision="approved" if approve else "returned",
            comment=comment[:2000],
            inbound_message_id=None,
            decided_at=now,
        )
    )
    from mailer.service.decisions import (
        apply_review,  # mail parsing and queueing: not for lookups like `duban audit`
    )

    outcome = apply_review(settings, s, leader, sub, approved=approve, comment=comment, at=now)
    verb = "同意" if approve else "退回"
    how = "当面" if kind == "decision_in_person" else "在网页上"
    record(
        s,
        kind,
        f"{leader.name} {how}{verb} {o.name} 第{sub.revision}版报告（{period_label(p)}）",
        actor=by,
        reason=reason,
        period_id=p.id,
        office_id=o.id,
        at=now,
    )
    done = "已录入" if kind == "decision_in_person" else "已审定"
    return ActionResult(
        f"{done}：{outcome}。已通知 {o.name}。",
        {"office": o.name, "period": p.key, "revision": sub.revision, "decision": sub.state},
    )


def decide_revision(
    settings: Settings,
    engine: Engine,
    *,
    submission_id: int,
    approve: bool,
    leader_email: str,
    comment: str,
    by: str,
    in_person: bool = False,
    now: dt.datetime | None = None,
) -> ActionResult:
    """A leader's 同意/退回 on exactly the revision he read (the web console's report page): refused when
    that revision is no longer awaiting review, e.g. the office sent a newer one meanwhile.

    :param leader_email: the deciding leader; must be the office's supervising leader
    :param in_person: recorded by the clerk (as `duban decide`), not given by the leader himself
    """
    now = now or utcnow()
    comment = comment.strip()
    if not approve and not comment:
        raise ActionRefused("退回须写明意见（将发给该股室）。")
    if in_person:
        comment = need_reason(comment, "录入当面审定")
    with atomic(engine) as s:
        sub = s.get(Submission, submission_id)
        if sub is None:
            raise ActionRefused(f"没有编号为 {submission_id} 的报告。")
        o = sub.office
        leader = o.leader
        if leader is None or key(leader.email) != key(leader_email):
            raise ActionRefused(f"{o.name} 的报告须由其分管负责同志审定，您不是该股室的分管负责同志。")
        if sub.state != SubmissionState.PENDING_APPROVAL:
            raise ActionRefused(
                f"{o.name} 第{sub.revision}版报告当前不是待审定状态（{sub.state}），无需再审定；请刷新页面查看最新一版。"
            )
        return _review(settings, s, sub, leader, approve=approve, comment=comment or "同意",
                       reason=comment if in_person else "", by=by,
                       kind="decision_in_person" if in_person else "decision_web", now=now)


# --- an office's own deadline --------------------------------------------------------------------------


def _dates_for(settings: Settings, period: Period, due_on: dt.date) -> dict[str, dt.date]:
    """Reminder, escalation and assembly dates that follow from an office's own due date, by the same rules
    as the period's (cycle.period_dates)."""
    c, cal = settings.cycle, settings.calendar
    if c.workdays_only:
        remind_on = cal.workdays_before(due_on, c.remind_days_before)
        escalate_on = cal.next_workday(due_on)
        assemble_after = cal.add_workdays(escalate_on, c.grace_days)
    else:
        remind_on = due_on - dt.timedelta(days=c.remind_days_before)
        escalate_on = due_on + dt.timedelta(days=1)
        assemble_after = escalate_on + dt.timedelta(days=c.grace_days)
    if period.remind_on is not None:
        remind_on = max(remind_on, period.remind_on)
    return {"remind_on": remind_on, "escalate_on": escalate_on, "assemble_after": assemble_after}


def extend(
    settings: Settings,
    engine: Engine,
    *,
    office: str,
    period: str,
    to: dt.date,
    reason: str,
    by: str,
    now: dt.datetime | None = None,
) -> ActionResult:
    """Give one office its own due date in a period: its reminder, escalation, lateness (also of a report
    already in) and the notice's 按时/逾期 follow it, and assembly waits for it."""
    now = now or utcnow()
    reason = need_reason(reason, "延长截止日")
    with atomic(engine) as s:
        o, p = get_office(s, office), get_period(s, period)
        _open_for_offices(p, "延长截止日")
        _lead(s, p, o)
        if to <= p.due_on:
            raise ActionRefused(
                f"延期后的截止日 {to.isoformat()} 须晚于 {p.key} 的截止日 {p.due_on.isoformat()}。"
            )
        if to > p.due_on + dt.timedelta(days=92):
            raise ActionRefused(f"延期后的截止日 {to.isoformat()} 过远（超过原截止日三个月），请检查日期。")
        ext = extension(s, p, o.id)
        before = ext.due_on if ext is not None else p.due_on
        if ext is None:
            ext = OfficeDeadline(period_id=p.id, office_id=o.id, due_on=to)
            s.add(ext)
        ext.due_on, ext.reason, ext.set_by, ext.set_at = to, reason, by, now
        for name, value in _dates_for(settings, p, to).items():
            setattr(ext, name, value)
        # A report that came in after the old date but by the new one is on time now.
        for sub in s.scalars(select(Submission).where(Submission.period_id == p.id, Submission.office_id == o.id)):
            sub.late = local_date(settings, sub.received_at) > to
        record(
            s,
            "deadline_extended",
            f"{o.name} {period_label(p)} 截止日由 {date_cn(before)} 延至 {date_cn(to)}",
            actor=by,
            reason=reason,
            period_id=p.id,
            office_id=o.id,
            at=now,
        )
        return ActionResult(
            f"已将 {o.name} {period_label(p)} 的截止日延至 {date_cn(to)}"
            f"（提醒 {date_cn(ext.remind_on or to)}，逾期督办 {date_cn(ext.escalate_on or to)}）。",
            {"office": o.name, "period": p.key, "due_on": to.isoformat(), "was": before.isoformat()},
        )


# --- a period: skip it, or stop chasing and assemble ------------------------------------------------------


def skip_period(
    settings: Settings, engine: Engine, period: str, *, reason: str, by: str, now: dt.datetime | None = None
) -> ActionResult:
    """No forms for that month (a holiday month): a period not yet open is recorded as skipped, so the
    service never opens it; one that is open or collecting stops (no reminders, no notice)."""
    now = now or utcnow()
    reason = need_reason(reason, "本月不报")
    year, month = parse_period(period)
    with atomic(engine) as s:
        p = find_period(s, period)
        plan = active_plan(s)
        assert plan is not None  # find_period refused otherwise
        if p is None:
            first = plan.first_month or settings.cycle.first_month
            if year != plan.year or not first <= month <= settings.cycle.last_month:
                raise ActionRefused(
                    f"{period_key(year, month)} 不是当前任务计划的报送月份"
                    f"（{plan.year}年{first}—{settings.cycle.last_month}月），无需设为不报。"
                )
            from mailer.service.cycle import period_dates  # the documents' code: not for `duban audit`

            dates = period_dates(settings, year, month, plan.due_day or settings.cycle.due_day)
            p = Period(plan_id=plan.id, year=year, month=month, state=PeriodState.SKIPPED, **dates)
            s.add(p)
            s.flush()
        elif p.state not in (PeriodState.OPEN, PeriodState.COLLECTING):
            raise ActionRefused(f"{p.key} 期次已处于“{p.state}”阶段，不能再设为本月不报。")
        else:
            p.state = PeriodState.SKIPPED
        record(
            s, "period_skipped", f"{period_label(p)} 本月不报送", actor=by, reason=reason, period_id=p.id, at=now
        )
        return ActionResult(f"{p.key} 已设为本月不报：不发表格、不提醒、不汇总。", {"period": p.key})


def close_period(
    settings: Settings, engine: Engine, period: str, *, reason: str, by: str, now: dt.datetime | None = None
) -> ActionResult:
    """Stop chasing: assemble the notice now with the reports approved so far (the rest 未报送) and send it
    for sign-off, without waiting for the grace days."""
    now = now or utcnow()
    reason = (reason or "").strip()
    with atomic(engine) as s:
        p = get_period(s, period)
        if p.state != PeriodState.COLLECTING:
            raise ActionRefused(
                f"{p.key} 期次处于“{p.state}”阶段，只有正在收集报告的期次才能截止收集。"
            )
        period_id = p.id
        audit = Event(
            kind="period_closed",
            detail=f"{period_label(p)} 截止收集，按现有报告汇总送签发",
            actor=by[:100],
            reason=reason,
            period_id=period_id,
            at=now,
        )
    from mailer.service.cycle import assemble_period

    doc = assemble_period(settings, engine, period_id, audit=audit)
    with atomic(engine) as s:
        closed = s.get(Period, period_id)
        assert closed is not None
        return ActionResult(
            f"{closed.key} 已截止收集：第{doc.version}稿已按现有报告汇总并送签发，未报送的股室在通报中列为未报送。",
            {"period": closed.key, "draft_version": doc.version, "draft": doc.path},
        )


# --- a task done (办结) --------------------------------------------------------------------------------


def mark_task_done(
    settings: Settings, engine: Engine, seq: int, *, reason: str, by: str, now: dt.datetime | None = None
) -> ActionResult:
    """办结: the task leaves the forms from the period after the newest one on, and the notice shows it as
    已办结."""
    now = now or utcnow()
    reason = need_reason(reason, "任务办结")
    with atomic(engine) as s:
        plan = active_plan(s)
        if plan is None:
            raise ActionRefused(NO_PLAN_FOR_PERIOD)
        task = s.scalars(select(Task).where(Task.plan_id == plan.id, Task.seq == seq)).first()
        if task is None or task.removed:
            raise ActionRefused(f"当前计划中没有编号为 {seq} 的任务。请用 duban tasks 查看任务编号。")
        if task.done_after:
            raise ActionRefused(f"任务 {seq}「{task.name}」已于 {task.done_after} 期后办结，无需再办结。")
        newest = s.scalars(
            select(Period)
            .where(Period.plan_id == plan.id, Period.state != "skipped")
            .order_by(Period.year.desc(), Period.month.desc())
        ).first()
        task.done_after = newest.key if newest is not None else period_key(plan.year, 0)
        nxt = "下一期" if newest is not None else "第一期"
        record(
            s,
            "task_done",
            f"任务 {seq}「{task.name}」办结（{task.done_after} 之后的表格不再列出）",
            actor=by,
            reason=reason,
            period_id=newest.id if newest is not None else None,
            at=now,
        )
        return ActionResult(
            f"任务 {seq}「{task.name}」已办结：从{nxt}起不再出现在表格中，通报中显示为已办结。",
            {"seq": seq, "done_after": task.done_after},
        )


# --- an office's address ------------------------------------------------------------------------------


def set_address(
    settings: Settings,
    engine: Engine,
    office: str,
    address: str,
    *,
    add: bool,
    by: str,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ActionResult:
    """Replace the office's addresses by ``address`` (forms go there from now on), or add it as another
    address from which its forms are accepted."""
    now = now or utcnow()
    email = normalize_address(address)
    if not _EMAIL.fullmatch(email):
        raise ActionRefused(f"“{address}”不是有效的邮箱地址，请写成如 jicai@example.gov.cn。")
    with atomic(engine) as s:
        o = get_office(s, office)
        old = [a.email for a in o.addresses]
        if add:
            if email in old:
                raise ActionRefused(f"{email} 已是 {o.name} 的邮箱，无需添加。")
            o.addresses.append(OfficeAddress(email=email, position=len(old)))
            new = [*old, email]
        else:
            if old == [email]:
                raise ActionRefused(f"{o.name} 的邮箱已经是 {email}，无需修改。")
            o.addresses.clear()
            s.flush()  # the old rows go before the new one (unique on office and address)
            o.addresses.append(OfficeAddress(email=email, position=0))
            new = [email]
        s.flush()
        record(
            s,
            "address_changed",
            f"{o.name} 邮箱：{'、'.join(old) or '（无）'} → {'、'.join(new)}",
            actor=by,
            reason=reason,
            office_id=o.id,
            at=now,
        )
        verb = "已添加" if add else "已改为"
        return ActionResult(
            f"{o.name} 的邮箱{verb} {email}。现有邮箱：{'、'.join(new)}（表格发往 {new[0]}）。",
            {"office": o.name, "addresses": new, "was": old},
        )
