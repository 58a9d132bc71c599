"""The 版记 (抄送, 印发机关 and 印发日期) and the 公开方式 of the consolidated notice, as GB/T 9704-2012 words
them (7.3.6 附注, 7.4 版记), from the bureau's ``[notice]`` settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mailer.common.config import NoticeSettings
from mailer.common.text import clean


@dataclass(frozen=True)
class NoticeRecord:
    cc: tuple[str, ...] = ()  # 抄送机关
    issuer: str = ""  # 印发机关; empty: the 发文机关署名
    disclosure: str = ""  # 公开方式, e.g. 此件主动公开; empty: no 附注

    @classmethod
    def from_settings(cls, n: NoticeSettings) -> NoticeRecord:
        return cls(cc=n.cc, issuer=n.issuer, disclosure=n.disclosure)


def _date(d: dt.date) -> str:
    # 印发日期 in Arabic numerals, 年 月 日 in full, no leading zeros (GB/T 9704-2012 7.4.3).
    return f"{d.year}年{d.month}月{d.day}日"


def record_context(record: NoticeRecord, *, issuer: str, issued_on: dt.date) -> dict[str, str]:
    """The template variables: ``cc_text`` ("A，B。", empty for none), ``print_issuer``, ``print_date``
    (the 成文日期 given, i.e. the day the notice was signed off) and ``disclosure_note`` ("（此件主动公开）")."""
    names = [clean(n).strip("，,。 ") for n in record.cc]
    names = [n for n in names if n]
    return {
        "cc_text": "，".join(names) + "。" if names else "",
        "print_issuer": clean(record.issuer) or issuer,
        "print_date": _date(issued_on),
        "disclosure_note": f"（{clean(record.disclosure)}）" if record.disclosure else "",
    }
