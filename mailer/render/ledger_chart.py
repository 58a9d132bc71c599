"""报送及时性: how early or late each lead office reported, month by month — the data, and a chart of it as SVG.

The same numbers make the chart sheet of the work ledger (mailer.render.ledger, an openpyxl bar chart) and the
picture the web console shows (:func:`render_svg`, plain SVG text: no plotting library, no font files —
the browser draws the Chinese labels with the fonts it has, and an air-gapped intranet needs nothing more).

Per (period, office), the value is in calendar days against the office's due date (an extension counts):
the first proper report's local date minus the due date — negative is early, 0 on the due day, positive
late; an office that has not reported is late by the days since its due date (counted no later than the end
of the period's month, as the lights are), and has no value before its due date.
Registry layer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.registry.deadlines import office_due_on
from mailer.registry.model import Period, Submission
from mailer.registry.queries import active_plan, lead_offices_with_tasks
from mailer.render.lights import as_of

if TYPE_CHECKING:
    from mailer.common.config import Settings

ON_TIME, LATE, MISSING = "按时", "逾期", "未报送"


@dataclass
class Timeliness:
    """Offices × months: signed days (negative early, positive late), and how each office stood."""

    months: list[str] = field(default_factory=list)  # "6月" (with the year when the plan spans two)
    offices: list[str] = field(default_factory=list)  # in the order of their first task
    days: dict[tuple[str, str], int | None] = field(default_factory=dict)  # (office, month) → days
    status: dict[tuple[str, str], str] = field(default_factory=dict)  # (office, month) → ON_TIME/LATE/MISSING

    def counts(self, month: str) -> dict[str, int]:
        """How many offices reported on time, late, or not at all in ``month``."""
        out = dict.fromkeys((ON_TIME, LATE, MISSING), 0)
        for office in self.offices:
            st = self.status.get((office, month))
            if st:
                out[st] += 1
        return out


def _month_label(period: Period, years: set[int]) -> str:
    return f"{period.month}月" if len(years) == 1 else f"{period.year}年{period.month}月"


def timeliness(session: Session, settings: Settings, today: dt.date) -> Timeliness:
    """The timeliness of every lead office in every period of the active plan (skipped months left out)."""
    out = Timeliness()
    plan = active_plan(session)
    if plan is None:
        return out
    zone = ZoneInfo(settings.cycle.timezone)
    periods = list(
        session.scalars(
            select(Period)
            .where(Period.plan_id == plan.id, Period.state != "skipped")
            .order_by(Period.year, Period.month)
        )
    )
    years = {p.year for p in periods}
    for period in periods:
        month = _month_label(period, years)
        out.months.append(month)
        day = as_of(period, today)
        for office, _ in lead_offices_with_tasks(session, plan.id, period.key):
            if office.name not in out.offices:
                out.offices.append(office.name)
            due = office_due_on(session, period, office.id)
            first = session.scalars(
                select(Submission)
                .where(
                    Submission.period_id == period.id,
                    Submission.office_id == office.id,
                    Submission.state != "invalid",
                )
                .order_by(Submission.revision)
            ).first()
            key = (office.name, month)
            if first is not None:
                days = (first.received_at.astimezone(zone).date() - due).days
                out.days[key] = days
                out.status[key] = LATE if days > 0 or first.late else ON_TIME
            elif day > due:
                out.days[key] = (day - due).days
                out.status[key] = MISSING
            else:
                out.days[key] = None
    return out


# --- SVG -------------------------------------------------------------------------------------------------

# Colours a colour-blind reader can tell apart (Okabe–Ito), one per month, repeating after eight.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def render_svg(t: Timeliness, *, title: str = "各股室报送及时性（天，负数为提前，正数为逾期）") -> str:
    """A grouped bar chart as SVG text: one group per office, one bar per month, a zero line at the due date.

    Self-contained (no script, no external reference), so the console can inline it or serve it as a file.
    """
    bar_w, gap, left, top, plot_h, bottom = 12, 18, 56, 48, 240, 96
    n_months = max(1, len(t.months))
    group_w = bar_w * n_months + gap
    width = max(480, left + group_w * max(1, len(t.offices)) + 24)
    height = top + plot_h + bottom + 16 * ((len(t.months) + 5) // 6)
    values = [v for v in t.days.values() if v is not None]
    hi = max([1, *values])
    lo = min([0, *values])
    span = hi - lo or 1

    def y(v: float) -> float:
        return top + (hi - v) / span * plot_h

    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        "font-family=\"'Noto Sans CJK SC','Microsoft YaHei','SimHei',sans-serif\" font-size=\"12\">"
    )
    parts = [
        head,
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2:.0f}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    # Grid lines at a few round values, and the zero (due date) line drawn darker.
    step = max(1, round(span / 5))
    v = (lo // step) * step
    while v <= hi:
        parts.append(
            f'<line x1="{left}" x2="{width - 16}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="{"#333" if v == 0 else "#ddd"}" stroke-width="{1.2 if v == 0 else 0.6}"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{v}</text>'
        )
        v += step
    for i, office in enumerate(t.offices):
        x0 = left + gap / 2 + i * group_w
        for j, month in enumerate(t.months):
            days = t.days.get((office, month))
            if days is None:
                continue
            top_y, bottom_y = sorted((y(days), y(0)))
            status = t.status.get((office, month), "")
            label = (
                f"{office} {month}：{status} {days:+d}天"
                if days
                else f"{office} {month}：{status}（截止当日）"
            )
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{top_y:.1f}" width="{bar_w - 1}" '
                f'height="{max(bottom_y - top_y, 1.5):.1f}" fill="{_PALETTE[j % len(_PALETTE)]}">'
                f"<title>{escape(label)}</title></rect>"
            )
        cx = x0 + bar_w * n_months / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {top + plot_h + 14})">{escape(office)}</text>'
        )
    legend_y = top + plot_h + bottom - 8
    for j, month in enumerate(t.months):
        lx = left + (j % 6) * 80
        ly = legend_y + (j // 6) * 16
        parts.append(
            f'<rect x="{lx}" y="{ly - 10}" width="10" height="10" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="{ly}">{escape(month)}</text>'
        )
    if not t.offices:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{top + plot_h / 2}" text-anchor="middle">尚无报送数据</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def timeliness_svg(session: Session, settings: Settings, today: dt.date) -> str:
    """:func:`render_svg` of :func:`timeliness`: what the web console shows."""
    return render_svg(timeliness(session, settings, today))
