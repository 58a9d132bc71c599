"""Group robots beside the mail: queued with the mail they tell of, posted after the tick's mail is sent.

``queue_robot_posts`` runs inside the cycle's transaction that queues the forms, reminders, escalations or
the published notice, so a post exists exactly when its mail does (and a crash loses or doubles neither).
``post_pending`` runs after ``send_pending``: the mail is already out (or recorded as failed) by then, so a
robot that is down, refuses the signature or answers errcode ≠ 0 can neither block nor repeat a mail. Each
post is marked *posting* and committed before the webhook is called and *posted* once the platform answers
0; a post found *posting* later, or whose answer was lost, becomes *uncertain* and is not posted again. A
refused post is retried on later ticks with growing waits, MAX_ATTEMPTS times, then given up; both show in
`duban check` and `duban status` (read by mailer.service.statusnotes).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import ConfigError, TemplateError
from mailer.common.homelock import AlreadyLocked, exclusive_lock
from mailer.common.robotconfig import RobotSettings, masked_url
from mailer.registry.model import Dispatch, Document, Event, Office, Period, RobotPost, RobotPostState, utcnow
from mailer.registry.periodfacts import period_label
from mailer.registry.store import atomic
from mailer.render.robottext import render_robot, robot_template_problems, short_date
from mailer.service.statusnotes import post_line, troubled_posts

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# Waits after the 1st, 2nd, … failure: a robot fixed within the hour still gets the day's news.
BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2), dt.timedelta(hours=6))
# Posts per robot per window, under the documented limits: DingTalk and WeCom 20 a minute (DingTalk then
# throttles the robot for 10 minutes); Feishu 5 a second (its 100 a minute is beyond a tick's few posts).
RATES = {"dingtalk": (20, 60.0), "wecom": (20, 60.0), "feishu": (5, 1.0)}


@dataclass
class OfficeFact:
    """One office in a robot message: its name, its own due date, days late, its leader."""

    name: str
    due: str  # "6月20日（星期一）"
    days_late: int = 0
    leader: str = ""
    due_day: str = ""  # "6月20日", where a weekday in brackets would nest brackets


class RateLimiter:
    """A sliding window per robot, on a monotonic clock, kept for the life of the process (the service);
    a post over the limit waits, pending, for the next tick instead of being refused by the platform."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.sent: dict[str, collections.deque[float]] = {}

    def allow(self, robot: RobotSettings) -> bool:
        limit, window = RATES[robot.platform]
        now = self.clock()
        times = self.sent.setdefault(robot.name, collections.deque())
        while times and now - times[0] >= window:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True


LIMITER = RateLimiter()


def _robots_for(settings: Settings, event: str) -> list[RobotSettings]:
    return [r for r in settings.robots if event in r.events]


def queue_robot_posts(
    session: Session,
    settings: Settings,
    event: str,
    period: Period,
    key: str,
    offices: Sequence[OfficeFact] = (),
    **extra: Any,
) -> int:
    """Queue ``event``'s message for each robot subscribed to it, in the caller's transaction.

    An office robot hears only of its own offices (and gets nothing when none of ``offices`` is its own);
    the bureau's robot (``all = true``) hears of all. ``publication`` goes to every subscribed robot.
    ``key`` names the occasion (e.g. "reminders:2022-06:41", the first reminder's dispatch id) and makes the
    call idempotent. Returns how many posts were queued.

    A robot template that cannot be rendered skips that post (logged; `duban check` names the template):
    the mail in the same transaction must go out all the same.
    """
    queued = 0
    for robot in _robots_for(settings, event):
        row_key = f"{key}:{robot.name}"
        if session.scalar(select(RobotPost.id).where(RobotPost.key == row_key)) is not None:
            continue
        mine = [o for o in offices if robot.covers(o.name)]
        if event != "publication" and not mine:
            continue
        due = short_date(period.due_on)
        context = {
            "month_label": f"{period.year}年{period.month}月",
            "period_label": period_label(period),
            "plan_title": period.plan.title,
            "bureau": robot.all,
            "count": len(mine),
            "offices": [o.__dict__ for o in mine],
            "due": mine[0].due if mine else due,
            **extra,
        }
        try:
            message = render_robot(settings, event, context)
        except TemplateError as e:
            # A broken robot template must not undo the mail queued in this transaction; check shows it.
            log.warning("Robot %s: %s message not queued: %s", robot.name, event, e)
            continue
        session.add(
            RobotPost(
                key=row_key,
                robot=robot.name,
                platform=robot.platform,
                event=event,
                period_id=period.id,
                title=message.title[:300],
                text=message.text,
                markdown=message.markdown,
                state=RobotPostState.PENDING,
                attempts=0,
                error="",
            )
        )
        queued += 1
    return queued


def office_fact(session: Session, period: Period, office: Office, today: dt.date | None = None) -> OfficeFact:
    """The facts the mail to ``office`` used: its own due date (after an extension too), days late."""
    from mailer.registry.deadlines import office_dates

    due_on = office_dates(session, period, office.id).due_on
    late = max(0, (today - due_on).days) if today is not None else 0
    leader = office.leader.name if office.leader else ""
    return OfficeFact(office.name, short_date(due_on), late, leader, f"{due_on.month}月{due_on.day}日")


# The mail kinds a robot tells of, and the event each one is.
EVENT_OF = {"form": "forms", "reminder": "reminders", "escalation": "escalations", "published": "publication"}


def last_dispatch_id(session: Session) -> int:
    """The newest dispatch so far: ``tell_robots`` tells of the ones queued after it."""
    return session.scalar(select(func.max(Dispatch.id))) or 0


def tell_robots(
    session: Session,
    settings: Settings,
    period: Period,
    since_id: int,
    kinds: Sequence[str],
    *,
    today: dt.date | None = None,
) -> int:
    """Queue the robot posts for the mails of ``kinds`` queued for ``period`` after dispatch ``since_id``,
    in the caller's (the cycle's) transaction; one post per robot and kind. Returns how many were queued.

    Built from the rows the mails were built from (offices, their own due dates, the published file), so
    the group hears what the mail says.
    """
    if not settings.robots:
        return 0
    queued = 0
    for kind in kinds:
        rows = list(
            session.scalars(
                select(Dispatch)
                .where(Dispatch.period_id == period.id, Dispatch.kind == kind, Dispatch.id > since_id)
                .order_by(Dispatch.id)
            )
        )
        if not rows:
            continue
        event = EVENT_OF[kind]
        # forms: one post per period (the offices' forms are queued in transactions of their own);
        # the others: per batch, named by its first mail.
        key = f"{event}:{period.key}" + ("" if kind == "form" else f":{rows[0].id}")
        if kind == "published":
            queued += queue_robot_posts(
                session, settings, event, period, key, **_published(settings, session, period)
            )
            continue
        offices = [session.get(Office, d.office_id) for d in rows if d.office_id is not None]
        facts = [
            office_fact(session, period, o, today) for o in dict.fromkeys(o for o in offices if o is not None)
        ]
        queued += queue_robot_posts(session, settings, event, period, key, facts)
    return queued


def _published(settings: Settings, session: Session, period: Period) -> dict[str, Any]:
    from pathlib import Path

    from mailer.registry.periodfacts import date_cn, local_date

    doc = session.scalars(
        select(Document)
        .where(Document.kind == "published", Document.period_id == period.id)
        .order_by(Document.id.desc())
    ).first()
    title = Path(doc.path).stem if doc is not None else f"{period_label(period)}重点工作任务进展情况的通报"
    when = local_date(settings, period.signed_off_at or period.published_at or utcnow())
    return {"title": title, "date": date_cn(when), "has_pdf": bool(doc is not None and doc.pdf_path)}


@dataclass
class PostReport:
    posted: int = 0
    failed: int = 0
    deferred: int = 0  # held back by the rate limit for a later tick
    lines: list[str] = field(default_factory=list)


def post_pending(
    settings: Settings,
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    limiter: RateLimiter | None = None,
) -> PostReport:
    """Post every pending robot message (and every failed one whose wait is over), oldest first.

    Never raises for a robot's failure: each is recorded on its row. ``now`` is the service clock (the
    wait between retries runs on it); the rate limit runs on the real clock.
    """
    report = PostReport()
    if not settings.robots:
        return report
    now = now or utcnow()
    limiter = limiter or LIMITER
    try:
        with exclusive_lock(settings.registry, "robots.lock"):
            _settle_interrupted(engine)
            with atomic(engine) as s:
                ids = list(
                    s.scalars(
                        select(RobotPost.id)
                        .where(
                            (RobotPost.state == RobotPostState.PENDING)
                            | ((RobotPost.state == RobotPostState.FAILED) & (RobotPost.next_at <= now))
                        )
                        .order_by(RobotPost.id)
                    )
                )
            robots = {r.name: r for r in settings.robots}
            for pid in ids:
                _post_one(settings, engine, pid, robots, now, limiter, report)
    except AlreadyLocked:
        log.info("Another duban process is posting to the group robots; pending posts wait")
    return report


def _settle_interrupted(engine: Engine) -> None:
    with atomic(engine) as s:
        for row in s.scalars(select(RobotPost).where(RobotPost.state == RobotPostState.POSTING)):
            row.state = RobotPostState.UNCERTAIN
            row.error = "发送时程序中断，无法确定是否已发到群里；为免重复，不再自动重发"


def _post_one(
    settings: Settings,
    engine: Engine,
    pid: int,
    robots: dict[str, RobotSettings],
    now: dt.datetime,
    limiter: RateLimiter,
    report: PostReport,
) -> None:
    from mailer.transport import webhook  # the HTTP client: only when posting, not for `duban status`

    with atomic(engine) as s:
        row = s.get(RobotPost, pid)
        assert row is not None
        robot = robots.get(row.robot)
        if robot is None:
            row.state, row.error = RobotPostState.GAVE_UP, f"duban.toml 中已没有机器人“{row.robot}”，不再发送"
            return
        if not limiter.allow(robot):
            report.deferred += 1
            return
        try:
            url, secret = robot.url(settings.home), robot.secret(settings.home)
        except ConfigError as e:
            _failed(s, row, robot, str(e), now, report)
            return
        # Committed before the webhook is called: a kill from here on leaves "posting", never a re-post.
        row.state = RobotPostState.POSTING
        row.attempts += 1
        message = webhook.Message(row.title, row.text, row.markdown)
    try:
        webhook.post(
            robot.platform, url, message, fmt=robot.format, secret=secret, at_mobiles=robot.at_mobiles
        )
    except webhook.RobotError as e:
        log.warning("Robot %s (%s) did not take post %d: %s", robot.name, masked_url(url), pid, e)
        with atomic(engine) as s:
            row = s.get(RobotPost, pid)
            assert row is not None
            if e.uncertain:
                row.state, row.error = RobotPostState.UNCERTAIN, f"{e}；可能已发到群里，为免重复不再自动重发"
                report.failed += 1
            else:
                _failed(s, row, robot, str(e), now, report, counted=True)
        return
    except Exception as e:  # a bug must not stop the other posts or the tick: record it loudly
        log.exception("Robot %s: unexpected error on post %d", robot.name, pid)
        with atomic(engine) as s:
            row = s.get(RobotPost, pid)
            assert row is not None
            _failed(s, row, robot, f"程序错误：{type(e).__name__}", now, report, counted=True)
        return
    log.info("Posted %s message %d to robot %s (%s)", row.event, pid, robot.name, masked_url(url))
    with atomic(engine) as s:
        row = s.get(RobotPost, pid)
        assert row is not None
        row.state, row.posted_at, row.error, row.next_at = RobotPostState.POSTED, now, "", None
    report.posted += 1


def _failed(
    s: Session,
    row: RobotPost,
    robot: RobotSettings,
    error: str,
    now: dt.datetime,
    report: PostReport,
    *,
    counted: bool = False,
) -> None:
    if not counted:
        row.attempts += 1
    row.error = error[:1000]
    report.failed += 1
    if row.attempts >= MAX_ATTEMPTS:
        row.state, row.next_at = RobotPostState.GAVE_UP, None
        s.add(
            Event(
                kind="robot_gave_up",
                period_id=row.period_id,
                detail=f"{robot.label}：“{row.title}”{row.attempts}次未能发出，已放弃：{row.error}"[:2000],
            )
        )
        report.lines.append(f"{robot.label}：“{row.title}”未能发出，已放弃")
    else:
        row.state = RobotPostState.FAILED
        row.next_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]


# -- what the clerk sees -----------------------------------------------------------------------------------


def post_problems(settings: Settings, engine: Engine) -> list[tuple[str, str]]:
    """(level, message) for `duban check`: robots whose address or secret is missing, offices no directory
    knows, broken robot templates, and posts that failed, were given up or are in doubt."""
    if not settings.robots:
        return []
    from mailer.common.robotconfig import EVENTS

    out: list[tuple[str, str]] = []
    for robot in settings.robots:
        whom = "所有股室" if robot.all else "、".join(robot.offices)
        told = "、".join(EVENTS[e] for e in robot.events)
        out.append(("info", f"{robot.label}：{whom}的{told}（`duban robots test` 可发测试消息）。"))
        try:
            robot.url(settings.home)
            robot.secret(settings.home)
        except ConfigError as e:
            out.append(("error", str(e)))
    out += [("error", m) for m in robot_template_problems(settings)]
    with atomic(engine) as s:
        known = set(s.scalars(select(Office.name)))
        for robot in settings.robots:
            unknown = [o for o in robot.offices if o not in known]
            if unknown and known:
                out.append(
                    (
                        "warning",
                        f"{robot.label}的 offices 中“{'、'.join(unknown)}”不在名录中，这些股室的消息不会发到该群。",
                    )
                )
        out += [("warning", post_line(settings, p)) for p in troubled_posts(s)]
    return out


def test_post(settings: Settings, name: str | None = None) -> list[tuple[RobotSettings, str]]:
    """Post a short test message to each robot (or the one named), now, not queued: `duban robots test`,
    for the clerk who has just set a robot up. Returns each robot with "" (posted) or the error in Chinese.

    :raises ConfigError: when ``name`` names no robot in duban.toml
    """
    from mailer.common.robotconfig import EVENTS
    from mailer.transport import webhook

    robots = [r for r in settings.robots if name is None or r.name == name]
    if not robots:
        known = "、".join(r.name for r in settings.robots) or "（无）"
        raise ConfigError(
            f"duban.toml 中没有机器人“{name}”。已设置的机器人：{known}。"
            if name
            else "duban.toml 中没有设置群机器人（[[robots]]）。"
        )
    out = []
    for robot in robots:
        told = "、".join(EVENTS[e] for e in robot.events)
        whom = "所有牵头股室" if robot.all else "、".join(robot.offices)
        text = f"【督办】测试消息：督办系统已连接本群（{robot.name}）\n今后{whom}的{told}消息会同步发到本群。"
        message = webhook.Message(text.split("\n", 1)[0], text, text.replace("\n", "\n\n", 1))
        try:
            url, secret = robot.url(settings.home), robot.secret(settings.home)
            webhook.post(
                robot.platform, url, message, fmt=robot.format, secret=secret, at_mobiles=robot.at_mobiles
            )
        except (ConfigError, webhook.RobotError) as e:
            out.append((robot, str(e)))
            continue
        out.append((robot, ""))
    return out
