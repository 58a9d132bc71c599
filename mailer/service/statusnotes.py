"""What `duban status` and `duban check` say about the service itself: sending held by the start gate
(mailer.service.startgate), periods held because nobody reported, and group-robot posts that did not go out
(mailer.service.robots).

Read as plain rows (mailer.registry.rows), so `duban status` says it without SQLAlchemy; the modules that
hold and post import their ORM at module level and are not imported here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.common.config import Settings
from mailer.registry.periodfacts import local_time
from mailer.registry.rows import Rows, as_rows, utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


# --- the start gate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateView:
    """The start gate as stored (mailer.registry.model.ServiceGate, one row or none)."""

    held: bool
    since: dt.datetime | None
    reason: str
    waiting: list[str]  # one line per message that waits
    last_tick_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    confirmed_by: str


def gate_view(db: Session | Rows) -> GateView:
    """The gate's state as stored (no preview)."""
    found = as_rows(db).all(
        "SELECT held_since, held_reason, held_summary, last_tick_at, confirmed_at, confirmed_by"
        " FROM service_gate WHERE id = 1"
    )
    if not found:
        return GateView(
            held=False, since=None, reason="", waiting=[], last_tick_at=None, confirmed_at=None, confirmed_by=""
        )
    (r,) = found
    return GateView(
        held=r.held_since is not None,
        since=utc(r.held_since),
        reason=r.held_reason,
        waiting=[line for line in r.held_summary.splitlines() if line],
        last_tick_at=utc(r.last_tick_at),
        confirmed_at=utc(r.confirmed_at),
        confirmed_by=r.confirmed_by,
    )


def gate_lines(settings: Settings, db: Session | Rows) -> list[str]:
    """Held sending and periods held for lack of reports, in Chinese ([] if none)."""
    rows = as_rows(db)
    out = []
    g = gate_view(rows)
    if g.held and g.since is not None:
        out.append(
            f"等待确认：自{local_time(settings, g.since)}起暂停发送计划内邮件（{g.reason}），待发{len(g.waiting)}封。"
            "请用 duban plan 查看，确认无误后运行 duban confirm --by 姓名。"
        )
    for p in rows.all("SELECT year, month FROM periods WHERE state = 'nothing_reported' ORDER BY id"):
        key = f"{p.year:04d}-{p.month:02d}"
        out.append(
            f"{key} 期无人报送：截止后没有任何股室的报告获审定，暂不送签。"
            f"股室报告审定后将自动汇总；如需按全部未报送汇总，请运行 duban assemble --period {key} --force。"
        )
    return out


# --- group robots --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TroubledPost:
    """A robot post that failed, was given up or may not have gone (mailer.registry.model.RobotPost)."""

    id: int
    robot: str
    state: str  # failed | gave_up | uncertain (mailer.registry.model.RobotPostState)
    attempts: int
    next_at: dt.datetime | None
    title: str
    error: str


def troubled_posts(db: Session | Rows) -> list[TroubledPost]:
    """The posts that need the clerk's eye, oldest first."""
    found = as_rows(db).all(
        "SELECT id, robot, state, attempts, next_at, title, error FROM robot_posts"
        " WHERE state IN ('failed', 'gave_up', 'uncertain') ORDER BY id"
    )
    return [TroubledPost(r.id, r.robot, r.state, r.attempts, utc(r.next_at), r.title, r.error) for r in found]


def post_line(settings: Settings, p: TroubledPost) -> str:
    """One troubled post (:func:`troubled_posts`) as the clerk reads it."""
    robot = next((r for r in settings.robots if r.name == p.robot), None)
    who = robot.label if robot else f"机器人“{p.robot}”"
    if p.state == "failed":
        when = local_time(settings, p.next_at) if p.next_at else "下次运行时"
        what = f"第{p.attempts}次未能发出，将于 {when} 后重试"
    elif p.state == "gave_up":
        what = f"{p.attempts}次未能发出，已放弃（邮件不受影响；修好后可在群里手动告知）"
    else:
        what = "不确定是否已发出，不会自动重发"
    return f"{who}：“{p.title}”{what}：{p.error[:200]}"


def robot_lines(settings: Settings, db: Session | Rows) -> list[str]:
    """One line for `duban status` when robot posts need the clerk's eye (none when all is well)."""
    if not settings.robots:
        return []
    bad = troubled_posts(db)
    if not bad:
        return []
    last = post_line(settings, bad[-1])
    return [f"群机器人消息 {len(bad)} 条未能发出或不确定是否发出（最近一条：{last}）。详见 duban check。"]
