"""The working-day calendar for reminders and escalations: Chinese public holidays and make-up days.

Dates are counted in working days as the bureau counts them: public holidays (春节, 国庆 …) are off and
make-up working days (调休上班日, usually a Saturday or Sunday next to a holiday) are on, as published
each year by the State Council and shipped in ``chinese_calendar``. That package only knows the years
whose arrangement has been published; for any other year we fall back to Monday–Friday and warn once
per year, so a service running into a new year keeps working (a little wrong around holidays) instead of
stopping, and the log says why a reminder came on a holiday.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import chinese_calendar

log = logging.getLogger(__name__)

_WEEKDAYS_CN = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

# chinese_calendar names holidays in English; people read Chinese.
_HOLIDAY_NAMES_CN = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}

_warned_years: set[int] = set()
_warned_lock = threading.Lock()


def _warn_unknown_year(year: int) -> None:
    with _warned_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    log.warning(
        "chinese_calendar %s has no holiday arrangement for %d; counting Monday-Friday as working days "
        "for that year. Upgrade chinese-calendar once the State Council has published %d's holidays.",
        getattr(chinese_calendar, "__version__", "?"),
        year,
        year,
    )


def _as_date(d: dt.date) -> dt.date:
    # A datetime is a date subclass; mixing the two would make results compare unequal to plain dates.
    return d.date() if isinstance(d, dt.datetime) else d


def _known(d: dt.date) -> bool:
    """Whether chinese_calendar has the arrangement for ``d``'s year (warning once if not)."""
    try:
        chinese_calendar.is_workday(d)
    except NotImplementedError:
        _warn_unknown_year(d.year)
        return False
    return True


def is_workday(d: dt.date) -> bool:
    """Whether ``d`` is a working day in mainland China.

    Public holidays are off, make-up working days (调休) are on. For a year ``chinese_calendar`` does
    not know, Monday–Friday are working days and a warning is logged once for that year.

    :param d: the day (a ``datetime`` counts as its date)
    """
    day = _as_date(d)
    if _known(day):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def next_workday(d: dt.date) -> dt.date:
    """The first working day strictly after ``d`` (use ``add_workdays(d, 0)`` for "``d`` or later")."""
    day = _as_date(d) + dt.timedelta(days=1)
    while not is_workday(day):
        day += dt.timedelta(days=1)
    return day


def _previous_workday(d: dt.date) -> dt.date:
    day = _as_date(d) - dt.timedelta(days=1)
    while not is_workday(day):
        day -= dt.timedelta(days=1)
    return day


def add_workdays(d: dt.date, n: int) -> dt.date:
    """The date ``n`` working days after ``d`` (before it when ``n`` is negative).

    Counting starts from ``d`` itself whether or not it is a working day: ``n=1`` is the first working
    day after ``d``, ``n=-1`` the last working day before ``d``. ``n=0`` is ``d`` if it is a working day,
    else the next working day (a due date that falls on a holiday moves forward, as offices expect).

    :param d: the starting day
    :param n: how many working days to move; negative moves back
    """
    day = _as_date(d)
    if n == 0:
        return day if is_workday(day) else next_workday(day)
    for _ in range(abs(n)):
        day = next_workday(day) if n > 0 else _previous_workday(day)
    return day


def workdays_before(d: dt.date, n: int) -> dt.date:
    """The date ``n`` working days before ``d``, e.g. the reminder day 3 working days before the due date.

    ``n=0`` is ``d`` if it is a working day, else the last working day before it (a reminder must not
    slip past the day it warns about).

    :param d: the reference day (e.g. the due date)
    :param n: how many working days earlier, ``>= 0``
    :raises ValueError: when ``n`` is negative
    """
    if n < 0:
        raise ValueError(f"workdays_before(n={n}): n must be 0 or more; use add_workdays({d}, {-n}) instead")
    day = _as_date(d)
    if n == 0:
        return day if is_workday(day) else _previous_workday(day)
    return add_workdays(d, -n)


def describe(d: dt.date) -> str:
    """The date as a Chinese letter writes it, with the weekday and a note on special days.

    ``2022-06-17`` → ``"2022年6月17日（星期五）"``; a make-up working day →
    ``"2022年10月8日（星期六，调休上班日）"``; a public holiday → ``"2022年6月3日（星期五，端午节假期）"``.
    Years ``chinese_calendar`` does not know get no note.

    :param d: the day to describe
    """
    day = _as_date(d)
    weekday = _WEEKDAYS_CN[day.weekday()]
    note = ""
    if _known(day):
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if chinese_calendar.is_workday(day) and day.weekday() >= 5:
            note = "，调休上班日"
        elif on_holiday and name:
            note = f"，{_HOLIDAY_NAMES_CN.get(name, name)}假期"
    return f"{day.year}年{day.month}月{day.day}日（{weekday}{note}）"
