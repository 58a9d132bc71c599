"""Periods as people write them: "2022-06", "（1—6月）", month ends."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from mailer.common.errors import DubanError


def parse_period(text: str) -> tuple[int, int]:
    """``"2022-06"`` (also ``2022/6``, ``202206``, ``2022年6月``) → (2022, 6).

    :raises DubanError: when the text is not a year and month
    """
    m = re.fullmatch(r"\s*(\d{4})\s*(?:[-/.年]\s*)?(\d{1,2})\s*月?\s*", text or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise DubanError(f"“{text}”不是报送期。请写年和月，如 2022-06。")
    return int(m.group(1)), int(m.group(2))


def period_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def span_label(month: int) -> str:
    """The cumulative span the form covers: 6 → "1—6月" (an em dash, as the notice writes it)."""
    return f"1—{month}月" if month > 1 else "1月"
