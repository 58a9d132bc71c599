"""holidays.toml: the bureau enters a year chinese-calendar does not know, and the cycle counts with it.

Every 2027 date here is MADE UP for the test (the real 2027 arrangement is not assumed): June 2027 gets a
"端午节" on Thursday–Friday 10–11 June (the send day), a make-up Saturday on the 12th, and a "测试假期" on
Friday–Monday 18–21 June around the due day (Sunday the 20th). A control home defines 2027 in
holidays.toml with only New Year's Day, so both sides stay independent of the installed chinese-calendar.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.common.config import Settings, load_settings
from mailer.common.errors import ConfigError
from mailer.common.holidays import parse_holidays
from mailer.common.workdays import package_years
from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Period, Plan
from mailer.registry.store import atomic, open_registry
from mailer.service.cycle import period_dates, tick
from mailer.service.demo import EXAMPLES

D = dt.date
TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent

JUNE_2027 = """\
# made-up dates for the test, not the State Council's 2027 arrangement
[2027]
source = "测试用，非官方"
off = [
  "2027-01-01",
  { date = "2027-06-10..2027-06-11", name = "端午节" },
  { date = "2027-06-18至2027-06-21", name = "测试假期" },
]
work = [2027-06-12]   # a TOML date, unquoted: a Saturday worked
"""
ONLY_NEW_YEAR = '[2027]\noff = ["2027-01-01"]\n'


def _with_holidays(home: Settings, text: str) -> Settings:
    (home.home / "holidays.toml").write_text(text, encoding="utf-8")
    return load_settings(home.home)


def test_a_year_in_holidays_toml_moves_the_period_calendar(home):
    """
    GIVEN holidays.toml for 2027 with the send day off, a make-up Saturday and days off around the due day
    WHEN  June 2027's calendar is planned by the cycle
    THEN  the forms go out on the make-up Saturday, the reminder comes a working day earlier, escalation
          and assembly skip the Monday off — where the control home keeps Monday–Friday dates
    """
    control = _with_holidays(home, ONLY_NEW_YEAR)
    plain = period_dates(control, 2027, 6, 20)
    assert (plain["send_on"], plain["remind_on"], plain["escalate_on"], plain["assemble_after"]) == (
        D(2027, 6, 10), D(2027, 6, 16), D(2027, 6, 21), D(2027, 6, 22)
    )
    settings = _with_holidays(home, JUNE_2027)
    d = period_dates(settings, 2027, 6, 20)
    assert d["send_on"] == D(2027, 6, 12)  # Thu/Fri off, the Saturday is worked
    assert d["due_on"] == D(2027, 6, 20)
    assert d["remind_on"] == D(2027, 6, 15)  # 3 working days before: 17, 16, 15 (the 18th is off)
    assert d["escalate_on"] == D(2027, 6, 22)  # Monday the 21st is off
    assert d["assemble_after"] == D(2027, 6, 23)
    cal = settings.calendar
    assert cal.describe(D(2027, 6, 12)) == "2027年6月12日（星期六，调休上班日）"
    assert cal.describe(D(2027, 6, 20)) == "2027年6月20日（星期日，测试假期）"
    assert cal.describe(D(2027, 1, 1)) == "2027年1月1日（星期五，节假日）"
    # The control settings' calendar was not touched by the other file (no state between homes).
    assert control.calendar.is_workday(D(2027, 6, 10)) is True
    # A year absent from the file still comes from the package.
    assert cal.describe(D(2022, 6, 3)) == "2022年6月3日（星期五，端午节假期）"


def test_the_tick_opens_on_the_make_up_saturday_and_a_late_start_moves_the_due_date(home):
    """Through the real tick: nothing goes out on the listed day off; the period opens on the make-up
    Saturday; a late start on Monday the 14th gets due = 5 working days on, skipping the days off (the
    23rd, where Monday–Friday would give the 21st), and the form mail says so in words."""
    settings = _with_holidays(home, JUNE_2027)
    engine = open_registry(settings.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    with atomic(engine) as s:
        s.scalars(select(Plan)).one().year = 2027  # the 2022 notice's tasks, run in the made-up 2027

    assert tick(settings, engine, None, dt.datetime(2027, 6, 10, 9, tzinfo=TZ)).opened == []
    late = replace(settings, cycle=replace(settings.cycle, late_due_workdays=5))
    tick(late, engine, None, dt.datetime(2027, 6, 14, 9, tzinfo=TZ))
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert (period.send_on, period.due_moved_from) == (D(2027, 6, 12), D(2027, 6, 20))
        assert period.due_on == D(2027, 6, 23)  # 14 + 5 working days: 15, 16, 17, 22, 23 (18–21 off)
        assert period.remind_on == D(2027, 6, 16)  # 3 working days before the 23rd: 22, 17, 16
        forms = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()
        assert forms
        raw = settings.path(forms[0].eml_path).read_bytes()
    from mailer.read.mailread import read_message

    body = read_message(raw, max_attachment_bytes=10**8).text
    assert "2027年6月23日（星期三）" in body


def test_a_bad_holidays_toml_stops_with_every_mistake_and_changes_nothing(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    bad = (
        "[2027]\n"
        'off = ["2027-02-30", "2027-06-10..2027-06-11", "2028-01-01"]\n'
        'work = ["2027-06-11", "2027-06-14"]\n'
    )
    (home.home / "holidays.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(home.home)
    text = str(e.value)
    assert "整份未使用" in text
    assert "第2行：“2027-02-30”不是有效日期" in text
    assert "第2行：off 中的 2028-01-01 不在2027年内" in text
    assert "第3行：2027-06-11（星期五） 既写在 off（放假）中" in text
    assert "第3行：work 中的 2027-06-14（星期一） 本来就是工作日" in text

    for args in (["check", "--no-mail"], ["run", "--once", "--now", "2022-06-10T09:00"], ["holidays"]):
        result = CliRunner().invoke(cli, ["--home", str(home.home), *args])
        assert result.exit_code == 1, (args, result.output)
        assert "节假日文件" in result.output and "第2行" in result.output
    with atomic(engine) as s:  # the run above refused before opening June 2022
        assert s.scalars(select(Period)).all() == []
        assert s.scalars(select(Dispatch)).all() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('off = ["2027-01-01"]\n', "“off”不是年份"),
        ('[2027]\nwork = ["2027-01-02"]\n', "没有 off"),
        ('[2027]\noff = ["2027-01-01", "2027-01-01"]\n', "写了两次"),
        ('[2027]\noff = [{ day = "2027-01-01" }]\n', "不认识“day”"),
        ('[2027]\noff = ["1/1/2027"]\n', "第2行：“1/1/2027”不是有效日期"),
        ('[2027]\noff = "2027-01-01"\n', "off 应为列表"),
        ("[2027]\noff = [2027-01-01\n", "不是有效的 TOML"),
    ],
)
def test_each_kind_of_mistake_is_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_holidays(text)


def test_dates_as_the_notice_writes_them_are_accepted() -> None:
    year = parse_holidays('[2027]\noff = ["2027年10月1日至2027年10月3日", "2027-5-1~2027-05-02"]\n')[2027]
    assert sorted(year.off) == [D(2027, 5, 1), D(2027, 5, 2), D(2027, 10, 1), D(2027, 10, 2), D(2027, 10, 3)]


def test_the_shipped_example_says_its_dates_are_not_official_and_is_refused_until_edited(home) -> None:
    result = CliRunner().invoke(cli, ["--home", str(home.home), "holidays", "--example"])
    text = (ROOT / "examples" / "holidays-2027.toml").read_text(encoding="utf-8")
    assert result.exit_code == 0 and result.output == text
    assert "不是国务院办公厅公布的 2027 年节假日安排" in text
    with pytest.raises(ConfigError, match="还是示例"):
        parse_holidays(text)  # copied as it is, its made-up dates would move real deadlines
    edited = text.replace('source = "示例（非官方日期），请改为国办发明电〔2026〕号文"', 'source = "国办发明电〔2026〕X号"')
    year = parse_holidays(edited)[2027]
    assert D(2027, 10, 1) in year.off and year.off[D(2027, 10, 1)] == "国庆节"
    assert all(d.weekday() >= 5 for d in year.work)


def _check(home: Settings, now: str) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home.home), "check", "--no-mail", "--now", now])
    return result.output


def test_check_warns_in_december_when_next_year_is_not_covered(home):
    """The last year chinese-calendar knows (2026 with 1.11): from its December, check warns that the next
    year has no holidays, says what to do, and stops warning once holidays.toml covers it."""
    last = package_years()[1]
    nxt = last + 1
    november = _check(home, f"{last}-11-30T09:00")
    assert f"节假日来源：{last}年 chinese-calendar" in november
    assert f"{nxt}年 无（仅按周一至周五）" in november
    assert "尚未录入" not in november
    december = _check(home, f"{last}-12-01T09:00")
    assert f"[提醒] {nxt}年的节假日安排尚未录入：holidays.toml 中没有 [{nxt}]" in december
    assert "国务院办公厅" in december and "pip install -U chinese-calendar" in december
    (home.home / "holidays.toml").write_text(f'[{nxt}]\noff = ["{nxt}-01-01"]\n', encoding="utf-8")
    covered = _check(home, f"{last}-12-01T09:00")
    assert "尚未录入" not in covered
    assert f"{nxt}年 holidays.toml" in covered


def test_duban_holidays_shows_source_days_off_and_make_up_days(home):
    _with_holidays(home, JUNE_2027)
    out = CliRunner().invoke(cli, ["--home", str(home.home), "holidays", "--year", "2027", "--year", "2100"]).output
    assert f"2027年节假日安排　来源：holidays.toml（{home.home / 'holidays.toml'}），依据测试用，非官方" in out
    assert "放假（3段，共7天）：" in out
    assert "  端午节：6月10日（星期四）至6月11日（星期五），共2天" in out
    assert "  测试假期：6月18日（星期五）至6月21日（星期一），共4天" in out
    assert "  （未写名称）：1月1日（星期五），共1天" in out
    assert "调休上班（1天）：\n  6月12日（星期六）\n" in out
    assert "2100年节假日安排　来源：无（仅按周一至周五）" in out
    assert "holidays.toml 中没有 [2100]" in out
    package = CliRunner().invoke(cli, ["--home", str(home.home), "holidays", "--year", "2022"]).output
    assert "2022年节假日安排　来源：chinese-calendar" in package
    assert "  端午节：6月3日（星期五）至6月5日（星期日），共3天" in package
    assert "  10月8日（星期六）　国庆节" in package


def test_the_service_rereads_an_edited_holidays_toml_and_keeps_the_old_one_when_wrong(home):
    from mailer.service.daemon import Service

    svc = Service(home)
    assert svc.settings.calendar.is_workday(D(2027, 6, 10)) is True
    (home.home / "holidays.toml").write_text(JUNE_2027, encoding="utf-8")
    svc._fresh_holidays()
    assert svc.settings.calendar.is_workday(D(2027, 6, 10)) is False
    (home.home / "holidays.toml").write_text(JUNE_2027 + "oops = 1\n", encoding="utf-8")
    os.utime(home.home / "holidays.toml", ns=(1, 1))  # a different mtime even on a coarse clock
    svc._fresh_holidays()
    assert svc.settings.calendar.is_workday(D(2027, 6, 10)) is False  # the whole previous file, still
    assert svc.settings.calendar.is_workday(D(2027, 6, 12)) is True
