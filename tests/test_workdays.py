"""The working-day calendar of the package alone (a home without holidays.toml), checked against the 2022
arrangement (国办发明电〔2021〕11号). holidays.toml is tested in test_holidays.py."""

from __future__ import annotations

import datetime as dt
import logging

import chinese_calendar
import pytest

from mailer.common.workdays import Calendar

D = dt.date
# The package's calendar as a home without holidays.toml has it; a new one per test, since the
# once-per-year warning is the calendar's state and each test starts as a fresh process would.
cal = Calendar()


@pytest.fixture(autouse=True)
def _fresh_calendar() -> None:
    global cal
    cal = Calendar()


def is_workday(d: dt.date) -> bool:
    return cal.is_workday(d)


def add_workdays(d: dt.date, n: int) -> dt.date:
    return cal.add_workdays(d, n)


def next_workday(d: dt.date) -> dt.date:
    return cal.next_workday(d)


def workdays_before(d: dt.date, n: int) -> dt.date:
    return cal.workdays_before(d, n)


def describe(d: dt.date) -> str:
    return cal.describe(d)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2022, 6, 3), False),  # 端午节, a Friday
        (D(2022, 6, 2), True),
        (D(2022, 6, 6), True),
        (D(2022, 6, 4), False),  # Saturday in the 端午 break
        (D(2022, 10, 1), False),
        (D(2022, 10, 3), False),  # Monday in 国庆
        (D(2022, 10, 7), False),  # Friday in 国庆
        (D(2022, 10, 8), True),  # Saturday, make-up workday
        (D(2022, 10, 9), True),  # Sunday, make-up workday
        (D(2022, 1, 29), True),  # Saturday before 春节, make-up
        (D(2022, 1, 30), True),  # Sunday before 春节, make-up
        (D(2022, 2, 1), False),  # 春节
        (D(2022, 6, 18), False),  # an ordinary Saturday
    ],
)
def test_is_workday_2022(day: dt.date, expected: bool) -> None:
    assert is_workday(day) is expected


def test_is_workday_accepts_a_datetime() -> None:
    assert is_workday(dt.datetime(2022, 10, 8, 9, 30)) is True


def test_add_workdays_over_national_day() -> None:
    # Friday 30 Sep + 1 working day: 1-7 Oct are off, Saturday 8 Oct is a make-up workday.
    assert add_workdays(D(2022, 9, 30), 1) == D(2022, 10, 8)
    assert add_workdays(D(2022, 9, 30), 2) == D(2022, 10, 9)
    assert add_workdays(D(2022, 9, 30), 3) == D(2022, 10, 10)
    assert add_workdays(D(2022, 10, 8), -1) == D(2022, 9, 30)


def test_add_workdays_over_dragon_boat() -> None:
    assert add_workdays(D(2022, 6, 2), 1) == D(2022, 6, 6)
    assert add_workdays(D(2022, 6, 6), -1) == D(2022, 6, 2)
    assert add_workdays(D(2022, 6, 3), -1) == D(2022, 6, 2)  # from a holiday
    assert add_workdays(D(2022, 6, 3), 1) == D(2022, 6, 6)


def test_add_workdays_zero() -> None:
    assert add_workdays(D(2022, 6, 17), 0) == D(2022, 6, 17)
    assert add_workdays(D(2022, 6, 3), 0) == D(2022, 6, 6)  # holiday → next workday
    assert add_workdays(D(2022, 10, 1), 0) == D(2022, 10, 8)
    assert add_workdays(D(2022, 10, 9), 0) == D(2022, 10, 9)  # make-up Sunday counts


def test_add_workdays_returns_a_date_for_a_datetime() -> None:
    assert add_workdays(dt.datetime(2022, 6, 2, 18, 0), 1) == D(2022, 6, 6)
    assert type(add_workdays(dt.datetime(2022, 6, 2, 18, 0), 1)) is dt.date


def test_workdays_before() -> None:
    # Due Monday 10 Oct: 3 working days before are Sat 8, Sun 9 (make-up) … and Fri 30 Sep.
    assert workdays_before(D(2022, 10, 10), 1) == D(2022, 10, 9)
    assert workdays_before(D(2022, 10, 10), 3) == D(2022, 9, 30)
    # Due Monday 20 June 2022: reminder 3 working days before is Wednesday 15 June.
    assert workdays_before(D(2022, 6, 20), 3) == D(2022, 6, 15)
    assert workdays_before(D(2022, 6, 20), 0) == D(2022, 6, 20)
    assert workdays_before(D(2022, 6, 3), 0) == D(2022, 6, 2)  # never later than the day itself
    # 春节 2022: 31 Jan - 6 Feb off, 29/30 Jan make-up.
    assert workdays_before(D(2022, 2, 7), 2) == D(2022, 1, 29)


def test_workdays_before_rejects_negative() -> None:
    with pytest.raises(ValueError, match="n must be 0 or more"):
        workdays_before(D(2022, 6, 20), -1)


def test_next_workday() -> None:
    assert next_workday(D(2022, 6, 17)) == D(2022, 6, 20)  # Friday → Monday
    assert next_workday(D(2022, 6, 2)) == D(2022, 6, 6)  # over 端午
    assert next_workday(D(2022, 9, 30)) == D(2022, 10, 8)  # over 国庆 to the make-up Saturday
    assert next_workday(D(2022, 1, 28)) == D(2022, 1, 29)  # Friday → make-up Saturday


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (D(2022, 6, 17), "2022年6月17日（星期五）"),
        (D(2022, 6, 20), "2022年6月20日（星期一）"),
        (D(2022, 10, 8), "2022年10月8日（星期六，调休上班日）"),
        (D(2022, 1, 30), "2022年1月30日（星期日，调休上班日）"),
        (D(2022, 6, 3), "2022年6月3日（星期五，端午节假期）"),
        (D(2022, 10, 1), "2022年10月1日（星期六，国庆节假期）"),
        (D(2022, 6, 18), "2022年6月18日（星期六）"),
        (D(2100, 1, 4), "2100年1月4日（星期一）"),
    ],
)
def test_describe(day: dt.date, text: str) -> None:
    assert describe(day) == text


def test_unknown_year_falls_back_to_monday_to_friday_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mailer.common.workdays"):
        assert is_workday(D(2100, 1, 1)) is True  # a Friday; no holiday data for 2100
        assert is_workday(D(2100, 1, 2)) is False  # Saturday
        assert add_workdays(D(2100, 1, 1), 1) == D(2100, 1, 4)
        assert workdays_before(D(2100, 1, 4), 1) == D(2100, 1, 1)
        describe(D(2100, 1, 5))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2100" in warnings[0].getMessage()
    assert "Monday-Friday" in warnings[0].getMessage()
    assert "holidays.toml" in warnings[0].getMessage()  # says what to do


def test_each_unknown_year_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mailer.common.workdays"):
        is_workday(D(2100, 3, 1))
        is_workday(D(2101, 3, 1))
        is_workday(D(2100, 3, 2))
    assert [r.args[2] for r in caplog.records] == [2100, 2101]  # type: ignore[index]


def test_counting_crosses_into_an_unknown_year() -> None:
    # The last known year's end: counting on must not stop, it falls back for the next year.
    last = max(d.year for d in chinese_calendar.holidays)
    assert add_workdays(D(last, 12, 31), 1) > D(last, 12, 31)
