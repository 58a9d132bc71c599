"""Milestones (关键时间节点) read from a task's plan text.

The notice writes them as "关键节点及解决难点：" followed by "一是3月底前完成…", "二是 6 月底前…", in any
spacing and in full- or half-width digits, sometimes several in one paragraph ("一是…；二是…"), sometimes
with the date inside the sentence ("二是加强合作，9月底前完成…") or with none at all ("年内…"). Each becomes
(label, due, text): due is the last day of the month named (in the plan's year unless the text names
another), None when the text names no date.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from mailer.common.periods import month_end
from mailer.common.text import cn_number

_CN = "一二三四五六七八九十"

# "关键节点及解决难点：", "关键节点和解决难点", "关键时间节点：" – the heading that opens the milestone list.
_HEADING = re.compile(
    r"^\s*关键\s*(?:时间\s*)?节点(?:\s*[及和与、]?\s*(?:解决\s*)?(?:的\s*)?难点)?\s*[:：]?\s*"
)
# A label starts a line or follows punctuation/space: "一是", "十二是"; never inside a word ("统一是").
_LABEL = re.compile(rf"(?:^|(?<=[\s；;。，,：:]))([{_CN}]{{1,3}}是)")
_MONTH = r"(?P<m>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_DATE = re.compile(
    r"(?:(?P<y>\d{4})\s*年\s*)?" + _MONTH + r"\s*月\s*(?:(?P<d>[0-3]?\d)\s*[日号])?"
    r"\s*(?P<part>底|末|份|上旬|中旬|下旬)?\s*(?P<before>之前|以前|前)?"
)
_YEAR_END = re.compile(r"(?:(?P<y>\d{4})\s*)?年\s*(?:底|末)\s*(?:之前|以前|前)?|(?P<half>上半年|下半年)")
_UNDATED = re.compile(r"^(?:年内|全年|长期|持续)")


@dataclass(frozen=True)
class ParsedMilestone:
    """One milestone: label ("一是", or "" when unlabelled), due date (None: no date given), text."""

    label: str
    due: dt.date | None
    text: str


def tidy(s: str) -> str:
    """Fold full-width digits and letters, drop the spaces a PDF or careless typing leaves beside CJK text
    ("一是 3 月底前" → "一是3月底前"), collapse the rest. Chinese punctuation is kept as it is."""
    s = unicodedata.normalize("NFC", s or "")
    s = "".join(
        chr(ord(c) - 0xFEE0) if ("０" <= c <= "９" or "Ａ" <= c <= "Ｚ" or "ａ" <= c <= "ｚ") else c
        for c in s
    )
    out: list[str] = []
    chars = list(s)
    for i, c in enumerate(chars):
        if c.isspace():
            prev = out[-1] if out else ""
            nxt = next((x for x in chars[i + 1 :] if not x.isspace()), "")
            if not prev or not nxt or prev == " " or _wide(prev) or _wide(nxt):
                continue
            out.append(" ")
        else:
            out.append(c)
    return "".join(out).strip()


def _wide(c: str) -> bool:
    return unicodedata.east_asian_width(c) in ("W", "F")


def _month(text: str) -> int:
    n = int(text) if text.isdigit() else cn_number(text)
    assert n is not None  # _MONTH admits only month numbers
    return n


def find_due(text: str, year: int) -> dt.date | None:
    """The first deadline named in ``text``: "3月底前" → 31 March of ``year``; "6月15日前" → that day;
    "上旬/中旬" → the 10th/20th; "年底前"/"下半年" → 31 December; "上半年" → 30 June. None if there is none.

    A month with "底/末/前/日" wins over a bare "6月" further on, which may be a mere mention.
    """
    best: tuple[int, dt.date] | None = None
    for m in _DATE.finditer(text):
        month = _month(m["m"])
        y = int(m["y"]) if m["y"] else year
        strong = bool(m["part"] or m["before"] or m["d"])
        try:
            if m["d"]:
                due = dt.date(y, month, int(m["d"]))
            elif m["part"] == "上旬":
                due = dt.date(y, month, 10)
            elif m["part"] == "中旬":
                due = dt.date(y, month, 20)
            else:
                due = month_end(y, month)
        except ValueError:
            continue
        if strong:
            best = (m.start(), due) if best is None or m.start() < best[0] else best
            break
        if best is None:
            best = (10**6 + m.start(), due)  # a bare month: used only if nothing stronger is found
    for m in _YEAR_END.finditer(text):
        if best is not None and best[0] < m.start():
            break
        y = int(m["y"]) if m["y"] else year
        due = dt.date(y, 6, 30) if m["half"] == "上半年" else dt.date(y, 12, 31)
        best = (m.start(), due)
        break
    return best[1] if best else None


def _split_labels(line: str) -> list[tuple[str, str]]:
    """ "一是…；二是…" → [("一是", "…"), ("二是", "…")]; text before the first label gets label ""."""
    marks = list(_LABEL.finditer(line))
    if not marks:
        return [("", line)]
    pieces = []
    if line[: marks[0].start()].strip():
        pieces.append(("", line[: marks[0].start()]))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        pieces.append((m.group(1), line[m.end() : end]))
    return pieces


split_labels = _split_labels  # public: mailer.render.lights reads the reported text by the same ordinals


def _clean_piece(text: str) -> str:
    # A piece cut out of "一是…；二是…" keeps its sentence but not the separator before the next label.
    return text.strip().rstrip("；;，,、 ").strip()


def parse_milestones(content: str, year: int) -> list[ParsedMilestone]:
    """The milestones of a task's "主要内容和关键时间节点计划" text, in order.

    After a heading "关键节点及解决难点" / "关键节点和解决难点" (any spacing, with or without a colon) every
    paragraph counts; without a heading only paragraphs that start with a label ("一是"), a date ("12月底前")
    or "年内" do, so a description paragraph that merely mentions a month is not taken for a milestone.

    :param content: the cell's paragraphs joined by newlines
    :param year: the plan's year, for dates that name only a month
    :returns: ParsedMilestone(label, due, text) with ``text`` tidied (digits half-width, stray spaces gone)
    """
    lines = [tidy(p) for p in (content or "").split("\n")]
    start = next((i for i, p in enumerate(lines) if _HEADING.match(p)), None)
    if start is not None:
        lines = [_HEADING.sub("", lines[start], count=1), *lines[start + 1 :]]
    out: list[ParsedMilestone] = []
    for line in lines:
        if not line:
            continue
        pieces = _split_labels(line)
        for label, raw in pieces:
            text = _clean_piece(raw)
            if not text:
                continue
            due = find_due(text, year)
            if not label:
                if len(pieces) > 1 and due is None:
                    continue  # an introduction such as "重点推进：" before the labelled items
                if start is None and not (_starts_with_date(text) or _UNDATED.match(text)):
                    continue
            out.append(ParsedMilestone(label=label, due=due, text=text))
    return out


def _starts_with_date(text: str) -> bool:
    m = _DATE.match(text) or _YEAR_END.match(text)
    return bool(m and m.group(0).strip())
