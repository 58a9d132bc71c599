"""The labels Word draws in front of numbered paragraphs ("1." "（2）" "一、" "①"), computed from
numbering.xml as Word counts them, since they are not in the document's text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from docx.oxml.ns import qn

from mailer.word.grid import W_NUMPR, W_P, W_PPR, W_VAL, is_deleted

_CN = "〇一二三四五六七八九"
_CN_LEGAL = "零壹贰叁肆伍陆柒捌玖"
_TIANGAN = "甲乙丙丁戊己庚辛壬癸"
_DIZHI = "子丑寅卯辰巳午未申酉戌亥"


def _cn_count(n: int, digits: str = _CN, ten: str = "十") -> str:
    if n < 10:
        return digits[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return (digits[tens] if tens > 1 else "") + ten + (digits[ones] if ones else "")
    return str(n)


def _roman(n: int) -> str:
    out = ""
    for value, numeral in (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ):
        while n >= value:
            out, n = out + numeral, n - value
    return out


def format_number(n: int, fmt: str) -> str:
    """``n`` in a w:numFmt as Word draws it (the formats Chinese documents use; decimal otherwise)."""
    if n < 0:
        return str(n)
    if fmt in ("chineseCounting", "chineseCountingThousand", "japaneseCounting", "taiwaneseCounting"):
        return _cn_count(n)
    if fmt in ("chineseLegalSimplified", "ideographLegalTraditional"):
        return _cn_count(n, _CN_LEGAL, "拾")
    if fmt in ("ideographDigital", "taiwaneseDigital", "japaneseDigitalTenThousand"):
        return "".join(_CN[int(d)] for d in str(n))
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt == "decimalEnclosedParen" and 1 <= n <= 20:
        return chr(0x2474 + n - 1)
    if fmt == "decimalEnclosedFullstop" and 1 <= n <= 20:
        return chr(0x2488 + n - 1)
    if fmt == "ideographTraditional" and 1 <= n <= 10:
        return _TIANGAN[n - 1]
    if fmt == "ideographZodiac" and 1 <= n <= 12:
        return _DIZHI[n - 1]
    if fmt == "decimalFullWidth":
        return "".join(chr(ord(d) + 0xFEE0) for d in str(n))
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt in ("upperRoman", "lowerRoman"):
        return _roman(n) if fmt == "upperRoman" else _roman(n).lower()
    if fmt in ("upperLetter", "lowerLetter") and n >= 1:
        letter = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in ("bullet", "none"):
        return ""
    return str(n)


@dataclass
class _Level:
    start: int = 1
    fmt: str = "decimal"
    text: str = ""
    suffix: str = "tab"


def _levels(abstract: Any) -> dict[int, _Level]:
    out: dict[int, _Level] = {}
    for lvl in abstract.iter(qn("w:lvl")):
        level = _Level()
        for tag, attr in (("start", "start"), ("numFmt", "fmt"), ("lvlText", "text"), ("suff", "suffix")):
            el = lvl.find(qn(f"w:{tag}"))
            if el is not None and el.get(W_VAL) is not None:
                value = el.get(W_VAL, "")
                setattr(level, attr, _as_int(value, 1) if attr == "start" else value)
        out[_as_int(lvl.get(qn("w:ilvl"), "0"), 0)] = level
    return out


def _as_int(s: str, default: int) -> int:
    try:
        return int(s)
    except ValueError:
        return default


class Numbering:
    """The labels Word draws in front of numbered paragraphs ("1." "（2）" "一、" "①"), which are not in
    the document's text. An office that types "1.已完成…" in Word gets an automatic list (AutoFormat), so
    without them the numbers it typed would be lost. Counted as Word counts: in document order, per list
    (paragraphs of the w:num instances of one abstract list continue one sequence; a startOverride restarts
    it), a level restarting after a higher level. Bullets carry no information and are left out."""

    def __init__(self, numbering: Any | None, styles: Any | None) -> None:
        self._abstract: dict[str, dict[int, _Level]] = {}
        self._nums: dict[str, tuple[str, dict[int, int], dict[int, _Level]]] = {}
        self._style_num: dict[str, tuple[str | None, str | None]] = {}
        self._based: dict[str, str] = {}
        if numbering is not None:
            for ab in numbering.iter(qn("w:abstractNum")):
                self._abstract[ab.get(qn("w:abstractNumId"), "")] = _levels(ab)
            for num in numbering.iter(qn("w:num")):
                ab_id = num.find(qn("w:abstractNumId"))
                starts: dict[int, int] = {}
                overrides: dict[int, _Level] = {}
                for ov in num.iter(qn("w:lvlOverride")):
                    ilvl = _as_int(ov.get(qn("w:ilvl"), "0"), 0)
                    so = ov.find(qn("w:startOverride"))
                    if so is not None:
                        starts[ilvl] = _as_int(so.get(W_VAL, "1"), 1)
                    overrides.update(_levels(ov))
                self._nums[num.get(qn("w:numId"), "")] = (
                    ab_id.get(W_VAL, "") if ab_id is not None else "",
                    starts,
                    overrides,
                )
        if styles is not None:
            for st in styles.iter(qn("w:style")):
                sid = st.get(qn("w:styleId")) or ""
                npr = st.find(f"{W_PPR}/{W_NUMPR}")
                if npr is not None:
                    self._style_num[sid] = self._num_of(npr)
                based = st.find(qn("w:basedOn"))
                if based is not None:
                    self._based[sid] = based.get(W_VAL, "")
        self._counts: dict[str, list[int | None]] = {}
        self._started: set[str] = set()

    @staticmethod
    def _num_of(npr: Any) -> tuple[str | None, str | None]:
        num, ilvl = npr.find(qn("w:numId")), npr.find(qn("w:ilvl"))
        return (num.get(W_VAL) if num is not None else None, ilvl.get(W_VAL) if ilvl is not None else None)

    def _paragraph_num(self, p: Any) -> tuple[str, int] | None:
        ppr = p.find(W_PPR)
        num_id: str | None = None
        ilvl: str | None = None
        npr = ppr.find(W_NUMPR) if ppr is not None else None
        if npr is not None:
            num_id, ilvl = self._num_of(npr)
        style = ppr.find(qn("w:pStyle")) if ppr is not None else None
        sid = style.get(W_VAL, "") if style is not None else ""
        for _ in range(20):  # the style's numbering fills in what the paragraph leaves out
            if (num_id is not None and ilvl is not None) or not sid:
                break
            s_num, s_ilvl = self._style_num.get(sid, (None, None))
            num_id = num_id if num_id is not None else s_num
            ilvl = ilvl if ilvl is not None else s_ilvl
            sid = self._based.get(sid, "")
        if not num_id or num_id == "0" or num_id not in self._nums:
            return None
        return num_id, _as_int(ilvl or "0", 0)

    def label(self, p: Any) -> str:
        """The label of paragraph ``p`` (with the space Word puts after it), "" if none; call once per
        paragraph, in document order, since it counts."""
        found = self._paragraph_num(p)
        if found is None:
            return ""
        num_id, ilvl = found
        ab_id, starts, overrides = self._nums[num_id]
        levels = {**self._abstract.get(ab_id, {}), **overrides}
        if ilvl not in levels:
            return ""
        counts = self._counts.setdefault(ab_id, [None] * 10)
        if num_id not in self._started:
            self._started.add(num_id)
            for lv, start in starts.items():  # "restart numbering" / "set numbering value", once
                if 0 <= lv < 10:
                    counts[lv] = start - 1
                    for deeper in range(lv + 1, 10):
                        counts[deeper] = None
        level = levels[ilvl]
        if 0 <= ilvl < 10:
            current = counts[ilvl]
            counts[ilvl] = level.start if current is None else current + 1
            for deeper in range(ilvl + 1, 10):
                counts[deeper] = None
        if level.fmt == "bullet":
            return ""

        def value(m: re.Match[str]) -> str:
            lv = int(m.group(1)) - 1
            spec = levels.get(lv, _Level())
            n = counts[lv] if 0 <= lv < 10 and counts[lv] is not None else spec.start
            return format_number(n or 0, spec.fmt)

        text = re.sub(r"%([1-9])", value, level.text).strip()
        if not text:
            return ""
        # After the number Word puts a tab (default), a space or nothing; in text a tab after "1." or
        # "一、" reads as nothing, after a bare number as a space.
        if level.suffix == "nothing" or (level.suffix != "space" and text[-1] in ".、．。:：)）]】"):
            return text
        return text + " "

    def labels(self, root: Any) -> dict[Any, str]:
        """Paragraph → label for every numbered paragraph under ``root``, counted in document order."""
        out: dict[Any, str] = {}
        if not self._nums:
            return out
        for p in root.iter(W_P):
            if is_deleted(p, root):
                continue
            found = self.label(p)
            if found:
                out[p] = found
        return out
