"""holidays.toml: the days off and make-up working days the bureau enters itself, year by year.

``chinese_calendar`` only knows the years whose arrangement the State Council had published when it was
released, and that notice comes out late in the year before (usually November–December). A home may hold
``holidays.toml`` next to ``duban.toml``; a year written there is defined by it alone (weekends off, the
listed days off off, the listed make-up days on), whatever the package says. The format, for a clerk::

    [2027]
    source = "国办发明电〔2026〕X号"                      # optional: the notice it was copied from
    off = [
      { date = "2027-01-01", name = "元旦" },
      { date = "2027-02-16..2027-02-22", name = "春节" },   # a range, both ends included
      "2027-05-03",                                         # a plain date, no name
    ]
    work = ["2027-02-14", { date = "2027-02-27", name = "春节调休" }]   # 调休上班日

A date is ``YYYY-MM-DD`` (quoted, or a TOML date unquoted) or ``2027年2月16日``; a range is two dates
joined by ``..`` (or ``至``, ``~``, ``—``).
The file is checked strictly and as a whole: any mistake (a date outside its year, a day both off and on,
a weekday given as a make-up day, a typo) raises one ConfigError listing every problem with its line, so a
bad file stops `duban check` and the service rather than being half used. Leaf module: no chinese_calendar
here (the CLI loads settings on every start; the package is imported only when a day is looked up).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailer.common.errors import ConfigError

HOLIDAYS_NAME = "holidays.toml"
EXAMPLE_MARK = "示例"  # in the shipped example's ``source``: refused until the clerk replaces it
_KEYS = ("off", "work", "source")
_ENTRY_KEYS = ("date", "name")
# 2027-02-16, or as the notice writes it, 2027年2月16日; a range joined by "..", "至", "~" or a dash "—".
_DATE = re.compile(r"(\d{4})(?:-|年)(\d{1,2})(?:-|月)(\d{1,2})日?")
_RANGE = re.compile(r"\s*(\S+?)\s*(?:\.\.|至|~|～|—|－)\s*(\S+)\s*")
_WEEKDAYS_CN = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_FORMAT_HINT = '请写成 "2027-02-16"，或范围 "2027-02-16..2027-02-22"，或 { date = "2027-02-16", name = "春节" }'


@dataclass(frozen=True)
class HolidayYear:
    """One year as holidays.toml defines it."""

    year: int
    off: dict[dt.date, str]  # day off → its holiday's name ("" when none was given)
    work: dict[dt.date, str]  # make-up working day (a Saturday or Sunday) → name or ""
    source: str = ""  # the notice it was copied from, as the clerk wrote it


@dataclass(frozen=True)
class HolidayFile:
    """A home's holidays.toml, read and checked (``years`` is empty when the home has none)."""

    path: Path | None = None
    years: dict[int, HolidayYear] = field(default_factory=dict)
    mtime_ns: int = 0  # the file's when read: a running service notices an edited file (file_mtime)

    def get(self, year: int) -> HolidayYear | None:
        return self.years.get(year)


class _Problems:
    """Every mistake in the file, each with its line where the text shows it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.found: list[tuple[int, str]] = []

    def line_of(self, year: str, needle: str, key: str = "") -> int | None:
        """The first line holding ``needle`` after the ``[year]`` header (and after ``key =`` there, when
        given: a day written under both off and work is found where work lists it), 1-based."""
        header = re.compile(rf'^\s*\[\s*["\']?{re.escape(year)}["\']?\s*\]')
        start = next((i for i, line in enumerate(self.lines) if header.match(line)), 0)
        if key:
            assign = re.compile(rf"^\s*{re.escape(key)}\s*=")
            start = next((i for i in range(start, len(self.lines)) if assign.match(self.lines[i])), start)
        for i in range(start, len(self.lines)):
            if needle in self.lines[i].split("#", 1)[0]:
                return i + 1
        return None

    def add(self, year: str, needle: str, message: str, key: str = "") -> None:
        n = self.line_of(year, needle, key) if needle else None
        where = f"第{n}行" if n else f"[{year}]"
        self.found.append((n or 0, f"{where}：{message}"))

    def lines_cn(self) -> list[str]:
        return [text for _, text in sorted(self.found, key=lambda f: f[0])]


def _cn(d: dt.date) -> str:
    return f"{d.isoformat()}（{_WEEKDAYS_CN[d.weekday()]}）"


def _one_date(text: str) -> dt.date | None:
    m = _DATE.fullmatch(text.strip())
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _dates(value: Any) -> tuple[list[dt.date], str] | str:
    """The days an entry's date stands for and the text to find it by, or the Chinese reason it is wrong."""
    if isinstance(value, dt.datetime):
        return f"{value} 带有时刻，只写日期即可，如 {value.date().isoformat()}"
    if isinstance(value, dt.date):
        return [value], value.isoformat()
    if not isinstance(value, str):
        return f"{value!r} 不是日期。{_FORMAT_HINT}"
    day = _one_date(value)
    if day is not None:
        return [day], f'"{value}"'
    m = _RANGE.fullmatch(value)
    if m:
        first, last = _one_date(m[1]), _one_date(m[2])
        if first is None or last is None:
            bad = m[1] if first is None else m[2]
            return f"范围“{value}”中的“{bad}”不是有效日期。{_FORMAT_HINT}"
        if last < first:
            return f"范围“{value}”的结束日期早于开始日期。"
        if (last - first).days > 31:
            return f"范围“{value}”长达 {(last - first).days + 1} 天，不像一个假期，请核对。"
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)], f'"{value}"'
    return f"“{value}”不是有效日期。{_FORMAT_HINT}"


def _entries(
    p: _Problems, year: int, kind: str, items: Any
) -> list[tuple[dt.date, str, str]]:
    """(day, name, text to find it by) for every day of every entry of ``off`` or ``work``."""
    y = str(year)
    if not isinstance(items, list):
        p.add(y, f"{kind}", f'{kind} 应为列表，如 {kind} = ["{year}-01-01"]。')
        return []
    out: list[tuple[dt.date, str, str]] = []
    for item in items:
        name = ""
        value = item
        if isinstance(item, dict):
            unknown = [k for k in item if k not in _ENTRY_KEYS]
            if unknown or "date" not in item:
                what = f"不认识“{'、'.join(unknown)}”" if unknown else "缺少 date"
                p.add(y, "{", f"{kind} 中的 {item!r} {what}；只能写 date（日期或范围）和 name（名称）。", kind)
                continue
            value, name = item["date"], item.get("name", "")
            if not isinstance(name, str) or not name.strip():
                p.add(y, str(value), f"{kind} 中 {value} 的 name 应为文字，如 name = \"春节\"。", kind)
                continue
        got = _dates(value)
        if isinstance(got, str):
            needle = value.isoformat() if isinstance(value, dt.date) else str(value)
            p.add(y, needle, got, kind)
            continue
        days, needle = got
        outside = [d for d in days if d.year != year]
        if outside:
            p.add(
                y,
                needle,
                f"{kind} 中的 {needle.strip(chr(34))} 不在{year}年内。[{year}] 下只写{year}年的日子"
                "（跨年的元旦假期，上一年年底那几天是周末，本就休息，不必写）。",
                kind,
            )
            continue
        out += [(d, name.strip(), needle) for d in days]
    return out


def _year(p: _Problems, key: str, table: Any) -> HolidayYear | None:
    if not re.fullmatch(r"\d{4}", key) or not 2000 <= int(key) <= 2100:
        p.add(
            key,
            "",
            f"“{key}”不是年份。放假安排按年份写在 [2027] 这样的标题下，标题下写 off（放假）和 work（调休上班）。",
        )
        return None
    year = int(key)
    if not isinstance(table, dict):
        p.add(key, key, f"{key} 应为一节 [{key}]，下面写 off = [...] 和 work = [...]。")
        return None
    unknown = [k for k in table if k not in _KEYS]
    for k in unknown:
        p.add(key, k, f"[{key}] 中的“{k}”不认识；只能写 off（放假日期）、work（调休上班日）和 source（依据的通知）。")
    source = table.get("source", "")
    if not isinstance(source, str):
        p.add(key, "source", f'[{key}] 的 source 应为文字，如 source = "国办发明电〔2026〕X号"。')
        source = ""
    if EXAMPLE_MARK in source:
        # The shipped example's dates are made up; a copy used as it is would move real deadlines.
        p.add(
            key,
            "source",
            f"[{key}] 还是示例（source 含“{EXAMPLE_MARK}”），其中日期不是官方安排。请按国务院办公厅的通知改写全部"
            "日期，再把 source 改为通知的文号（如 \"国办发明电〔2026〕X号\"）。",
        )
    if not table.get("off"):
        p.add(key, key, f"[{key}] 没有 off（放假日期）。请按国务院办公厅的通知写入该年全部放假日期。")
    off: dict[dt.date, str] = {}
    work: dict[dt.date, str] = {}
    seen: dict[dt.date, tuple[str, str]] = {}
    for kind, into in (("off", off), ("work", work)):
        for day, name, needle in _entries(p, year, kind, table.get(kind, [])):
            if day in seen:
                before_kind, before = seen[day]
                if before_kind == kind:
                    p.add(key, needle, f"{_cn(day)} 在 {kind} 中写了两次（另见 {before}），请删去重复的一处。", kind)
                else:
                    p.add(
                        key,
                        needle,
                        f"{_cn(day)} 既写在 off（放假）中（{before}），又写在 work（调休上班）中。请按通知改正其一。",
                        kind,
                    )
                continue
            seen[day] = (kind, needle)
            if kind == "work" and day.weekday() < 5:
                p.add(
                    key,
                    needle,
                    f"work 中的 {_cn(day)} 本来就是工作日。调休上班日应是星期六或星期日，请核对日期。",
                    kind,
                )
                continue
            into[day] = name
    return HolidayYear(year, off, work, source.strip())


def parse_holidays(text: str, path: Path | None = None) -> dict[int, HolidayYear]:
    """The years of a holidays.toml text, checked as a whole.

    :raises ConfigError: listing every problem (line, value, what to write instead), in Chinese
    """
    shown = str(path) if path else HOLIDAYS_NAME
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"at line (\d+)", str(e))
        where = f"第{m[1]}行" if m else ""
        raise ConfigError(
            f"节假日文件 {shown} {where}格式有误（不是有效的 TOML：{e}），未使用。"
            "日期请加英文引号，如 off = [\"2027-01-01\"]；格式见 duban holidays --example。"
        ) from e
    p = _Problems(text)
    years: dict[int, HolidayYear] = {}
    for key, table in data.items():
        got = _year(p, key, table)
        if got is not None:
            years[got.year] = got
    if p.found:
        raise ConfigError(
            f"节假日文件 {shown} 有误，整份未使用（改正后再运行；duban 不会只用其中正确的部分）：\n"
            + "\n".join(f"  {line}" for line in p.lines_cn())
        )
    return years


def load_holidays(home: Path) -> HolidayFile:
    """The home's holidays.toml, or an empty HolidayFile when there is none.

    :raises ConfigError: when the file cannot be read or has any mistake (see :func:`parse_holidays`)
    """
    path = home / HOLIDAYS_NAME
    try:
        stat = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError:
        return HolidayFile()
    except OSError as e:
        raise ConfigError(f"节假日文件 {path} 无法读取：{e}") from e
    try:
        text = raw.decode("utf-8-sig")  # Notepad on Windows saves UTF-8 with a BOM
    except UnicodeDecodeError as e:
        raise ConfigError(f"节假日文件 {path} 不是 UTF-8 编码，请用“UTF-8”另存后再试。") from e
    return HolidayFile(path, parse_holidays(text, path), stat.st_mtime_ns)


def file_mtime(home: Path) -> int:
    """The home's holidays.toml modification time (ns), 0 when there is none: how a running service sees
    that the clerk added, edited or removed it."""
    try:
        return (home / HOLIDAYS_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        return 0
