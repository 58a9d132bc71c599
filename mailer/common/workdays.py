"""The working-day calendar for reminders and escalations: Chinese public holidays and make-up days.

Dates are counted in working days as the bureau counts them: public holidays (春节, 国庆 …) are off and
make-up working days (调休上班日, usually a Saturday or Sunday next to a holiday) are on, as published
each year by the State Council. Each year comes from one source, in this order:

1. the home's ``holidays.toml`` (mailer.common.holidays), where the clerk enters a year the package does not know
   yet (the notice comes out in the late autumn of the year before) — a year there is defined by it alone;
2. ``chinese_calendar``, which ships every year published when it was released;
3. neither: Monday–Friday, with a warning once per year, so a service running into a new year keeps
   working (a little wrong around holidays) instead of stopping, and the log says why a reminder came on a
   holiday.

Why a :class:`Calendar` object carried by the Settings (``settings.calendar``) and not a module-level
override installed when settings load: every caller already holds the home's Settings, so asking it for
its calendar costs one word per call, and nothing can leak from one home to another — tests open many
homes in one process, and `duban` run with --home in a long-lived process (tests, the demo) would otherwise
keep the last home's holidays for the next one. A module-level function would also make it easy to count
without the home's holidays by mistake; there is none.

Leaf module (config.py builds the calendar); ``chinese_calendar`` is imported on the first lookup, not when
the CLI starts.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from dataclasses import dataclass
from types import ModuleType

from mailer.common.holidays import HOLIDAYS_NAME, HolidayFile, HolidayYear

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

NO_SOURCE_CN = "无（仅按周一至周五）"


@functools.cache
def _package() -> ModuleType:
    import chinese_calendar

    return chinese_calendar


@functools.cache
def package_years() -> tuple[int, int]:
    """The first and last year ``chinese_calendar`` has an arrangement for."""
    years = [d.year for d in _package().holidays]
    return min(years), max(years)


def package_name() -> str:
    """``chinese-calendar 1.11.0``: the package and version, as `duban holidays` and `duban check` show it."""
    return f"chinese-calendar {getattr(_package(), '__version__', '?')}"


def _as_date(d: dt.date) -> dt.date:
    # A datetime is a date subclass; mixing the two would make results compare unequal to plain dates.
    return d.date() if isinstance(d, dt.datetime) else d


def _with_holiday(name: str) -> str:
    return name if name.endswith(("假期", "节假日")) else f"{name}假期"


@dataclass(frozen=True)
class YearView:
    """One year as the calendar uses it: where it comes from and its special days (`duban holidays`)."""

    year: int
    source: str  # "holidays.toml" | "chinese-calendar x.y" | "" (none: Monday–Friday)
    off: list[tuple[dt.date, str]]  # days off other than ordinary weekends, with the holiday's name
    work: list[tuple[dt.date, str]]  # make-up working days (Saturdays/Sundays that are worked)
    note: str = ""  # holidays.toml's ``source``: the notice the clerk copied it from

    @property
    def source_cn(self) -> str:
        return self.source or NO_SOURCE_CN


class Calendar:
    """The working days of one home: its holidays.toml over chinese_calendar over Monday–Friday.

    Build it with ``Calendar(load_holidays(home))``; ``Calendar()`` is the package alone.
    """

    def __init__(self, holidays: HolidayFile | None = None) -> None:
        self.file = holidays or HolidayFile()
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Calendar({self.file.path or 'chinese_calendar'}, years={sorted(self.file.years)})"

    # --- where a year comes from ---------------------------------------------------------------------

    def entered(self, year: int) -> HolidayYear | None:
        """The year as holidays.toml gives it, or None."""
        return self.file.get(year)

    def source(self, year: int) -> str:
        """``holidays.toml``, ``chinese-calendar x.y``, or "" when neither knows ``year``."""
        if self.entered(year) is not None:
            return HOLIDAYS_NAME
        first, last = package_years()
        return package_name() if first <= year <= last else ""

    def covers(self, year: int) -> bool:
        return self.source(year) != ""

    def _warn_unknown_year(self, year: int) -> None:
        with self._lock:
            if year in self._warned:
                return
            self._warned.add(year)
        log.warning(
            "Neither %s nor %s has the holiday arrangement for %d; counting Monday-Friday as working days "
            "for that year. Enter %d's holidays in holidays.toml (or upgrade chinese-calendar) once the State "
            "Council has published them.",
            self.file.path or HOLIDAYS_NAME,
            package_name(),
            year,
            year,
        )

    def _day(self, day: dt.date) -> tuple[bool, str]:
        """(working day?, name of the holiday or make-up day, "" if none) for ``day``."""
        entered = self.entered(day.year)
        if entered is not None:
            if day in entered.work:
                return True, entered.work[day]
            if day in entered.off:
                return False, entered.off[day] or "节假日"
            return day.weekday() < 5, ""
        first, last = package_years()
        if first <= day.year <= last:
            cc = _package()
            _, name = cc.get_holiday_detail(day)
            name = _HOLIDAY_NAMES_CN.get(name, name) if name else ""
            return bool(cc.is_workday(day)), name
        self._warn_unknown_year(day.year)
        return day.weekday() < 5, ""

    # --- counting -------------------------------------------------------------------------------------

    def is_workday(self, d: dt.date) -> bool:
        """Whether ``d`` is a working day for this home.

        Public holidays are off, make-up working days (调休) are on. For a year neither holidays.toml nor
        ``chinese_calendar`` knows, Monday–Friday are working days and a warning is logged once for that year.

        :param d: the day (a ``datetime`` counts as its date)
        """
        return self._day(_as_date(d))[0]

    def next_workday(self, d: dt.date) -> dt.date:
        """The first working day strictly after ``d`` (use ``add_workdays(d, 0)`` for "``d`` or later")."""
        day = _as_date(d) + dt.timedelta(days=1)
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    def _previous_workday(self, d: dt.date) -> dt.date:
        day = _as_date(d) - dt.timedelta(days=1)
        while not self.is_workday(day):
            day -= dt.timedelta(days=1)
        return day

    def add_workdays(self, d: dt.date, n: int) -> dt.date:
        """The date ``n`` working days after ``d`` (before it when ``n`` is negative).

        Counting starts from ``d`` itself whether or not it is a working day: ``n=1`` is the first working
        day after ``d``, ``n=-1`` the last working day before ``d``. ``n=0`` is ``d`` if it is a working day,
        else the next working day (a due date that falls on a holiday moves forward, as offices expect).

        :param d: the starting day
        :param n: how many working days to move; negative moves back
        """
        day = _as_date(d)
        if n == 0:
            return day if self.is_workday(day) else self.next_workday(day)
        for _ in range(abs(n)):
            day = self.next_workday(day) if n > 0 else self._previous_workday(day)
        return day

    def workdays_before(self, d: dt.date, n: int) -> dt.date:
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
            return day if self.is_workday(day) else self._previous_workday(day)
        return self.add_workdays(d, -n)

    def describe(self, d: dt.date) -> str:
        """The date as a Chinese letter writes it, with the weekday and a note on special days.

        ``2022-06-17`` → ``"2022年6月17日（星期五）"``; a make-up working day →
        ``"2022年10月8日（星期六，调休上班日）"``; a public holiday → ``"2022年6月3日（星期五，端午节假期）"``.
        Years neither source knows get no note.

        :param d: the day to describe
        """
        day = _as_date(d)
        working, name = self._day(day)
        note = ""
        if working and day.weekday() >= 5:
            note = "，调休上班日"
        elif not working and name:
            note = f"，{_with_holiday(name)}"
        return f"{day.year}年{day.month}月{day.day}日（{_WEEKDAYS_CN[day.weekday()]}{note}）"

    # --- what `duban holidays` shows ----------------------------------------------------------------------

    def year_view(self, year: int) -> YearView:
        """``year``'s source and special days, in date order."""
        entered = self.entered(year)
        if entered is not None:
            return YearView(
                year, HOLIDAYS_NAME, sorted(entered.off.items()), sorted(entered.work.items()), entered.source
            )
        source = self.source(year)
        if not source:
            return YearView(year, "", [], [])
        off, work = [], []
        day = dt.date(year, 1, 1)
        while day.year == year:
            working, name = self._day(day)
            if not working and name:
                off.append((day, name))
            elif working and day.weekday() >= 5:
                work.append((day, name))
            day += dt.timedelta(days=1)
        return YearView(year, source, off, work)


def date_ranges(days: list[tuple[dt.date, str]]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days of the same name joined: ``[(first, last, name), …]`` for listing a year."""
    out: list[tuple[dt.date, dt.date, str]] = []
    for day, name in days:
        if out and out[-1][2] == name and out[-1][1] + dt.timedelta(days=1) == day:
            out[-1] = (out[-1][0], day, name)
        else:
            out.append((day, day, name))
    return out
