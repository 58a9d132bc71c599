"""What `duban holidays` prints: one year's source, days off by holiday and make-up working days, in Chinese.

The clerk reads it after entering holidays.toml to compare with the State Council's notice line by line, so
it groups the days as the notice does ("2月16日（星期二）至2月22日（星期一）放假，共7天") and names the file and
the package version it used.
"""

from __future__ import annotations

import datetime as dt

from mailer.common.config import Settings
from mailer.common.holidays import HOLIDAYS_NAME
from mailer.common.workdays import NO_SOURCE_CN, date_ranges, package_name, package_years

_WEEKDAYS_CN = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def _day(d: dt.date) -> str:
    return f"{d.month}月{d.day}日（{_WEEKDAYS_CN[d.weekday()]}）"


def year_lines(settings: Settings, year: int) -> list[str]:
    """The lines `duban holidays --year YEAR` prints for this home."""
    cal = settings.calendar
    view = cal.year_view(year)
    if view.source == HOLIDAYS_NAME:
        source = f"{HOLIDAYS_NAME}（{cal.file.path}）" + (f"，依据{view.note}" if view.note else "")
    elif view.source:
        source = f"{view.source}（随 duban 安装的节假日数据）"
    else:
        source = NO_SOURCE_CN
    out = [f"{year}年节假日安排　来源：{source}"]
    if not settings.cycle.workdays_only:
        out.append("  注意：duban.toml 中 cycle.workdays_only = false，提醒和截止日期按自然日计算，不看以下安排。")
    if not view.source:
        known_from, known_to = package_years()
        out.append(
            f"  {HOLIDAYS_NAME} 中没有 [{year}]，{package_name()} 只含{known_from}—{known_to}年："
            f"{year}年按周一至周五上班、周六周日休息计算，节假日照常发送提醒。"
        )
        out.append(
            f"  国务院办公厅公布{year}年节假日安排后，请在 duban 目录的 {HOLIDAYS_NAME} 中写入 [{year}]"
            "（格式见 duban holidays --example），或升级 chinese-calendar。"
        )
        return out
    ranges = date_ranges(view.off)
    out.append(f"放假（{len(ranges)}段，共{len(view.off)}天）：")
    for first, last, name in ranges:
        days = f"{_day(first)}至{_day(last)}" if last != first else _day(first)
        out.append(f"  {name or '（未写名称）'}：{days}，共{(last - first).days + 1}天")
    if view.work:
        out.append(f"调休上班（{len(view.work)}天）：")
        out += [f"  {_day(d)}" + (f"　{name}" if name else "") for d, name in view.work]
    else:
        out.append("调休上班：无")
    out.append("其余日期：星期一至星期五上班，星期六、星期日休息。")
    return out
