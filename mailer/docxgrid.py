"""Read the tables of a .docx the way people really leave them, without python-docx's blind spots.

python-docx misses text in content controls (``w:sdt``) and tracked insertions (``w:ins``), shifts cells
when a row has ``w:gridBefore`` or sdt-wrapped cells, and ``Table.cell()`` is quadratic. This module works on
the XML: every table of the body in document order (nested and sdt-wrapped ones included), each as a
rectangular grid honouring gridBefore, gridSpan and vMerge, tracked deletions dropped, tracked insertions
kept, and cell text with its paragraphs and line breaks. It also resolves underline through run,
character-style, paragraph-style and document defaults (the notice underlines the lead office).
Used by the notice import and by the returned-form parser.

Cell text is what Word shows, whatever Word, WPS or LibreOffice wrote around it: a complex field's result
without its instructions (w:instrText, nested fields' results inside them), symbols (w:sym) as characters,
one branch of each mc:AlternateContent (the Choice when we understand what it requires, else the
Fallback: a text box is read once, an emoji from its Fallback), text boxes drawn in a cell as that cell's
text, a table pasted into a cell as tab-separated lines, a paragraph whose mark was deleted (tracked)
joined to the next, the legacy w:hMerge as a horizontal merge. Not text: hidden text (w:vanish), a
content control still showing its placeholder, ruby (拼音) annotations, comments and footnotes (other
parts; their reference marks carry no text), soft hyphens, page and column breaks. List numbers (w:numPr)
are not text in the XML but are what the office typed ("1." turned into a list by AutoFormat):
:class:`Numbering` computes them as Word does, and they start their paragraph; bullets are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from docx.oxml.ns import qn

W_P, W_T, W_TAB, W_BR, W_CR = qn("w:p"), qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")
W_TC, W_TBL, W_TR, W_R = qn("w:tc"), qn("w:tbl"), qn("w:tr"), qn("w:r")
W_DEL, W_MOVEFROM, W_TXBX = qn("w:del"), qn("w:moveFrom"), qn("w:txbxContent")
W_NOBREAKHYPHEN, W_SOFTHYPHEN, W_SYM = qn("w:noBreakHyphen"), qn("w:softHyphen"), qn("w:sym")
W_PTAB, W_FLDCHAR, W_RT = qn("w:ptab"), qn("w:fldChar"), qn("w:rt")
W_SDTCONTENT, W_SDTPR = qn("w:sdtContent"), qn("w:sdtPr")
W_PPR, W_RPR, W_VANISH, W_NUMPR = qn("w:pPr"), qn("w:rPr"), qn("w:vanish"), qn("w:numPr")
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
MC_FALLBACK, MC_CHOICE, MC_ALTERNATE = f"{{{_MC}}}Fallback", f"{{{_MC}}}Choice", f"{{{_MC}}}AlternateContent"
W_VAL = qn("w:val")
_OFF = {"0", "false", "off", "none"}

# Containers that may wrap rows, cells, paragraphs or runs without changing what they hold.
_WRAPPERS = {qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml"), qn("w:smartTag"), qn("w:ins"), qn("w:hyperlink"),
             qn("w:fldSimple"), qn("w:moveTo"), qn("w:dir"), qn("w:bdo")}

# Markup-compatibility namespaces whose mc:Choice we can read as text: the choice is taken when it requires
# only these (Word's text boxes, shapes, groups, 2010/2013 additions); any other (w16se emoji symbols…)
# means the consumer must read the mc:Fallback, as Word 2007 would.
_UNDERSTOOD = {
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://schemas.microsoft.com/office/word/2010/wordml",
    "http://schemas.microsoft.com/office/word/2012/wordml",
    "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    "http://schemas.microsoft.com/office/word/2010/wordprocessingGroup",
    "http://schemas.microsoft.com/office/word/2010/wordprocessingCanvas",
    "http://schemas.microsoft.com/office/word/2010/wordprocessingInk",
    "http://schemas.microsoft.com/office/word/2010/wordprocessingDrawing",
    "http://schemas.microsoft.com/office/drawing/2010/main",
    "urn:schemas-microsoft-com:vml",
}


def _children(el: Any, tag: str) -> Iterator[Any]:
    """Children with ``tag``, looking through sdt/customXml/ins wrappers (and skipping deletions)."""
    for child in el:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)
        elif child.tag == MC_ALTERNATE:
            chosen = _chosen_branch(child)
            if chosen is not None:
                yield from _children(chosen, tag)


def _chosen_branch(ac: Any) -> Any | None:
    """The branch of an mc:AlternateContent a consumer reads: the first mc:Choice requiring only
    namespaces we understand, else the mc:Fallback."""
    for branch in ac:
        if branch.tag == MC_CHOICE:
            prefixes = (branch.get("Requires") or "").split()
            if prefixes and all(branch.nsmap.get(p) in _UNDERSTOOD for p in prefixes):
                return branch
        elif branch.tag == MC_FALLBACK:
            return branch
    return None


def _on(el: Any | None) -> bool:
    """A toggle property (w:vanish, w:showingPlcHdr…) that is present and not switched off."""
    return el is not None and (el.get(W_VAL) or "true").lower() not in _OFF


def _placeholder(sdt_content: Any) -> bool:
    """True for the content of a content control still showing its placeholder ("单击或点击此处输入文字。")."""
    sdt = sdt_content.getparent()
    pr = sdt.find(W_SDTPR) if sdt is not None else None
    return pr is not None and _on(pr.find(qn("w:showingPlcHdr")))


def _deleted(el: Any, stop: Any) -> bool:
    """True when ``el`` is not shown: inside a tracked deletion or move source, an mc branch not read,
    ruby (phonetic guide) text, or a content control's placeholder — looking up to ``stop``."""
    for anc in el.iterancestors():
        if anc is stop:
            return False
        tag = anc.tag
        if tag in (W_DEL, W_MOVEFROM, W_RT):
            return True
        if tag in (MC_CHOICE, MC_FALLBACK):
            parent = anc.getparent()
            if parent is None or _chosen_branch(parent) is not anc:
                return True
        elif tag == W_SDTCONTENT and _placeholder(anc):
            return True
    return False


def _owner(el: Any, tags: tuple[str, ...]) -> Any:
    for anc in el.iterancestors():
        if anc.tag in tags:
            return anc
    return None


def _vanished(r: Any) -> bool:
    """A run formatted as hidden text (w:vanish): Word neither shows nor prints it."""
    rpr = r.find(W_RPR) if r is not None and r.tag == W_R else None
    return rpr is not None and _on(rpr.find(W_VANISH))


def mark_removed(p: Any) -> bool:
    """True when the paragraph mark itself is deleted or moved away (tracked) or hidden: Word then shows
    the paragraph joined to the next one."""
    rpr = p.find(f"{W_PPR}/{W_RPR}")
    if rpr is None:
        return False
    return rpr.find(W_DEL) is not None or rpr.find(W_MOVEFROM) is not None or _on(rpr.find(W_VANISH))


# --- symbols (w:sym) -------------------------------------------------------------------------------------

# Insert → Symbol from a symbol font stores the font's own code (F0xx); these are the characters people
# pick from the three symbol fonts of every Chinese Windows (Adobe Symbol encoding; the check marks and
# ballot boxes of Wingdings and Wingdings 2 that forms are ticked with).
_SYMBOL = dict(zip(range(0x41, 0x5B), "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ", strict=True)) | dict(
    zip(range(0x61, 0x7B), "αβχδεφγηιϕκλμνοπθρστυϖωξψζ", strict=True)
) | {
    0x22: "∀", 0x24: "∃", 0x27: "∋", 0x2A: "∗", 0x2D: "−", 0x40: "≅", 0x5C: "∴", 0x5E: "⊥", 0x7E: "∼",
    0xA2: "′", 0xA3: "≤", 0xA5: "∞", 0xAB: "↔", 0xAC: "←", 0xAD: "↑", 0xAE: "→", 0xAF: "↓", 0xB0: "°",
    0xB1: "±", 0xB2: "″", 0xB3: "≥", 0xB4: "×", 0xB5: "∝", 0xB6: "∂", 0xB7: "•", 0xB8: "÷", 0xB9: "≠",
    0xBA: "≡", 0xBB: "≈", 0xBC: "…", 0xC6: "∅", 0xC7: "∩", 0xC8: "∪", 0xD6: "√", 0xD7: "⋅", 0xDE: "⇒",
    0xE5: "∑", 0xF2: "∫",
}
_SYMBOL_FONTS = {
    "symbol": _SYMBOL,
    "wingdings": {0x46: "☞", 0x4A: "☺", 0x6C: "●", 0x6E: "■", 0x6F: "□", 0x71: "❑", 0x76: "❖", 0xA1: "○",
                  0xA7: "▪", 0xAB: "★", 0xD8: "➢", 0xE8: "➔", 0xFB: "✗", 0xFC: "✓", 0xFD: "☒", 0xFE: "☑"},
    "wingdings 2": {0x4F: "✗", 0x50: "✓", 0x52: "☑", 0x53: "☒", 0x54: "☒", 0xA3: "□", 0x97: "●"},
}


def _in_font(table: dict[int, str], low: int) -> str:
    if low in table:
        return table[low]
    return chr(low) if table is _SYMBOL and 0x20 <= low < 0x7F else ""


def symbol_text(sym: Any) -> str:
    """The character a ``w:sym`` shows: a code point of a Unicode font as is; a symbol font's code through
    its table (printable ASCII of the Symbol font as itself); "" for a symbol we cannot name."""
    try:
        code = int(sym.get(qn("w:char")) or "", 16)
    except ValueError:
        return ""
    table = _SYMBOL_FONTS.get((sym.get(qn("w:font")) or "").strip().lower())
    if code >= 0xF000 or (table is not None and code < 0x100):  # a symbol font's own code
        return _in_font(table, code & 0xFF) if table is not None else ""
    return chr(code) if 0x20 <= code < 0x110000 and not 0xD800 <= code < 0xE000 else ""


_PUA_SYMBOLS = re.compile("[\uf020-\uf0ff]")
_FONT_ATTRS = (qn("w:ascii"), qn("w:hAnsi"), qn("w:eastAsia"), qn("w:cs"))


def _symbol_font(r: Any) -> dict[int, str] | None:
    """The symbol table of the run's font, when it is a symbol font (direct formatting only)."""
    fonts = r.find(f"{W_RPR}/{qn('w:rFonts')}") if r is not None and r.tag == W_R else None
    if fonts is None:
        return None
    for attr in _FONT_ATTRS:
        table = _SYMBOL_FONTS.get((fonts.get(attr) or "").strip().lower())
        if table is not None:
            return table
    return None


def symbol_chars(text: str, r: Any) -> str:
    """``text`` of run ``r`` with symbol-font characters named. LibreOffice (and Word after some pastes)
    stores a symbol as text: the font's code in the private use area (U+F0FC in Wingdings is ✓)."""
    table = _symbol_font(r)
    if table is None:
        return text

    return _PUA_SYMBOLS.sub(lambda m: _in_font(table, ord(m.group(0)) & 0xFF), text)


# --- numbering (w:numPr) ----------------------------------------------------------------------------------

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
    for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                           (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
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
                    ab_id.get(W_VAL, "") if ab_id is not None else "", starts, overrides
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
            if _deleted(p, root):
                continue
            found = self.label(p)
            if found:
                out[p] = found
        return out


# --- text --------------------------------------------------------------------------------------------------

_TEXT_TAGS = (W_T, W_TAB, W_PTAB, W_BR, W_CR, W_NOBREAKHYPHEN, W_SOFTHYPHEN, W_SYM, W_FLDCHAR)


def paragraph_text(p: Any, labels: Mapping[Any, str] | None = None, fields: list[str] | None = None) -> str:
    """Visible text of one ``w:p``: tracked insertions kept, deletions dropped, tabs and breaks kept, a
    field's result without its instructions, symbols as characters, hidden text dropped, and the
    paragraph's number label when ``labels`` (:meth:`Numbering.labels`) has one.

    :param fields: the state of complex fields still open (a field may span paragraphs), updated
    """
    out: list[str] = []
    # Each open complex field: "code" until its w:fldChar separate, then "result"; text counts only when
    # no open field is in its code (a nested field's result inside an outer field's code is code too).
    stack = fields if fields is not None else []
    hidden = p.find(f".//{W_VANISH}") is not None  # most paragraphs have no hidden text: skip the lookups
    for n in p.iter(_TEXT_TAGS):
        # Text of a text box anchored in this paragraph belongs to the box, not to the paragraph.
        if _owner(n, (W_P,)) is not p or _deleted(n, p):
            continue
        tag = n.tag
        if tag == W_FLDCHAR:
            kind = n.get(qn("w:fldCharType"))
            if kind == "begin":
                stack.append("code")
            elif kind == "separate" and stack:
                stack[-1] = "result"
            elif kind == "end" and stack:
                stack.pop()
            continue
        if "code" in stack or (hidden and _vanished(n.getparent())):
            continue
        if tag == W_T:
            text = n.text or ""
            out.append(symbol_chars(text, n.getparent()) if _PUA_SYMBOLS.search(text) else text)
        elif tag in (W_TAB, W_PTAB):
            if n.getparent() is not None and n.getparent().tag == W_R:  # not a tab stop definition
                out.append("\t")
        elif tag == W_NOBREAKHYPHEN:
            out.append("-")
        elif tag == W_SYM:
            out.append(symbol_text(n))
        elif tag == W_SOFTHYPHEN or (tag == W_BR and n.get(qn("w:type")) in ("page", "column")):
            continue
        else:
            out.append("\n")
    text = "".join(out)
    # An empty list item (Enter pressed after the last one) shows its number on an empty line: no text.
    label = labels.get(p, "") if labels else ""
    return label + text if label and text.strip() else text


def cell_paragraphs(tc: Any) -> list[Any]:
    """The ``w:p`` elements that belong to this cell, in document order: its own and those of text boxes
    drawn in it (each right after the paragraph anchoring it), not those of a nested table."""
    return [p for p in cell_blocks(tc) if p.tag == W_P]


def cell_blocks(tc: Any) -> list[Any]:
    """The cell's paragraphs (as :func:`cell_paragraphs`) and the tables nested in it, in document order."""
    if _placeholder_cell(tc):
        return []
    return [el for el in tc.iter(W_P, W_TBL) if _owner(el, (W_TC,)) is tc and not _deleted(el, tc)]


def _placeholder_cell(tc: Any) -> bool:
    """A cell wrapped in a content control that still shows its placeholder."""
    parent = tc.getparent()
    while parent is not None and parent.tag != W_TR:
        if parent.tag == W_SDTCONTENT and _placeholder(parent):
            return True
        parent = parent.getparent()
    return False


def cell_text(tc: Any, labels: Mapping[Any, str] | None = None, *, tables: bool = True) -> str:
    """The cell's text, paragraphs joined by newlines (a paragraph whose mark was deleted joined to the
    next without one), trailing empty paragraphs dropped; tables nested in it included unless ``tables``
    is False (a layout table's cell holding the form is not the form's text)."""
    lines: list[str] = []
    fields: list[str] = []
    joined = False
    for p in cell_blocks(tc):
        if p.tag == W_TBL:
            if not tables:
                continue
            # A table pasted into the cell (an Excel range, a list of schools): one line per row, its cells
            # separated by tabs as Word's 表格转换成文本 does; without it the text would be lost.
            lines.extend(_nested_lines(p, labels))
            joined = False
            continue
        text = paragraph_text(p, labels, fields)
        if joined and lines:
            lines[-1] += text
        else:
            lines.append(text)
        joined = mark_removed(p)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _nested_lines(tbl: Any, labels: Mapping[Any, str] | None) -> list[str]:
    out = []
    for r, row in enumerate(build_grid(tbl, labels).rows):
        seen: set[int] = set()
        texts = []
        for cell in row:
            if cell is None or id(cell) in seen:
                continue
            seen.add(id(cell))
            if cell.row != r:  # merged down from the row above: shown once, there
                texts.append("")
                continue
            texts.append(" ".join(part.strip() for part in cell.text.split("\n") if part.strip()))
        if any(texts):
            out.append("\t".join(texts).rstrip("\t"))
    return out


@dataclass
class Cell:
    """One cell of the grid. A merged cell is the same object at every grid position it covers."""

    tc: Any
    row: int  # first grid row
    col: int  # first grid column
    span: int = 1
    labels: Mapping[Any, str] | None = field(default=None, repr=False)  # numbering labels (Numbering.labels)
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = cell_text(self.tc, self.labels)
        return self._text


@dataclass
class Grid:
    """A table as rows × columns of Cell (None where a row is short)."""

    tbl: Any
    rows: list[list[Cell | None]]
    tr: list[Any]  # the w:tr of each grid row

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def text(self, r: int, c: int) -> str:
        row = self.rows[r]
        cell = row[c] if c < len(row) else None
        return cell.text if cell is not None else ""

    def is_continuation(self, r: int, c: int) -> bool:
        """True where the cell at (r, c) started in an earlier row or column (a merge)."""
        cell = self.rows[r][c] if c < len(self.rows[r]) else None
        return cell is not None and (cell.row != r or cell.col != c)


def _int(el: Any, path: str, default: int) -> int:
    found = el.find(path)
    if found is None:
        return default
    try:
        return int(found.get(W_VAL, default))
    except ValueError:
        return default


def build_grid(tbl: Any, labels: Mapping[Any, str] | None = None) -> Grid:
    """A rectangular view of ``w:tbl``: gridBefore, gridSpan, vMerge and the legacy hMerge honoured;
    deleted rows dropped. ``labels`` (:meth:`Numbering.labels`) puts list numbers into cell texts."""
    rows: list[list[Cell | None]] = []
    trs: list[Any] = []
    tr_pr, gb, gs, vm, tc_pr = qn("w:trPr"), qn("w:gridBefore"), qn("w:gridSpan"), qn("w:vMerge"), qn("w:tcPr")
    hm = qn("w:hMerge")
    for tr in _children(tbl, W_TR):
        pr = tr.find(tr_pr)
        if pr is not None and pr.find(W_DEL) is not None:  # a tracked row deletion
            continue
        r = len(rows)
        row: list[Cell | None] = [None] * _int(tr, f"{tr_pr}/{gb}", 0)
        for tc in _children(tr, W_TC):
            span = max(1, _int(tc, f"{tc_pr}/{gs}", 1))
            c = len(row)
            h_merge = tc.find(f"{tc_pr}/{hm}")
            left = row[-1] if row else None
            if (h_merge is not None and h_merge.get(W_VAL, "continue") == "continue" and left is not None
                    and left.row == r):
                # The legacy horizontal merge (WPS and Word 97 files): this cell continues the one on its left.
                left.span += span
                row.extend([left] * span)
                continue
            merge = tc.find(f"{tc_pr}/{vm}")
            cell: Cell | None = None
            if merge is not None and merge.get(W_VAL, "continue") == "continue" and rows:
                above = rows[-1][c] if c < len(rows[-1]) else None
                cell = above
            if cell is None:
                cell = Cell(tc=tc, row=r, col=c, span=span, labels=labels)
            row.extend([cell] * span)
        rows.append(row)
        trs.append(tr)
    width = max((len(x) for x in rows), default=0)
    for row in rows:
        row.extend([None] * (width - len(row)))
    return Grid(tbl=tbl, rows=rows, tr=trs)


def iter_tables(body: Any) -> Iterator[Any]:
    """Every ``w:tbl`` under ``body`` in document order, nested and sdt-wrapped ones included (those of an
    mc:AlternateContent branch not read, the copy in a text box's fallback, left out)."""
    for tbl in body.iter(W_TBL):
        if not _deleted(tbl, body):
            yield tbl


def body_paragraphs(body: Any) -> list[str]:
    """Text of the body's top-level paragraphs (outside tables), content controls included."""
    return [paragraph_text(p) for p in body.iter(W_P) if _owner(p, (W_TC, W_TXBX)) is None]


# --- underline, resolved through inheritance ----------------------------------------------------------

_U_OFF = {"none", "0", "false", "off"}


class UnderlineResolver:
    """Whether a run is underlined, looking at the run, its character style, the paragraph style chain
    (and each style's basedOn chain), then the document defaults."""

    def __init__(self, styles_element: Any | None) -> None:
        self._styles: dict[str, Any] = {}
        self._default: bool | None = None
        self._cache: dict[tuple[str, str], bool | None] = {}
        if styles_element is None:
            return
        for st in styles_element.iter(qn("w:style")):
            sid = st.get(qn("w:styleId"))
            if sid:
                self._styles[sid] = st
        dd = styles_element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}")
        self._default = self._u_of(dd)

    @staticmethod
    def _u_of(rpr: Any | None) -> bool | None:
        if rpr is None:
            return None
        u = rpr.find(qn("w:u"))
        if u is None:
            return None
        return u.get(W_VAL, "single") not in _U_OFF

    def _style_u(self, sid: str | None, seen: int = 0) -> bool | None:
        if not sid or seen > 20:
            return None
        st = self._styles.get(sid)
        if st is None:
            return None
        u = self._u_of(st.find(qn("w:rPr")))
        if u is not None:
            return u
        based = st.find(qn("w:basedOn"))
        return self._style_u(based.get(W_VAL) if based is not None else None, seen + 1)

    def underlined(self, r: Any, p: Any) -> bool:
        rpr = r.find(qn("w:rPr"))
        u = self._u_of(rpr)
        if u is not None:
            return u
        rstyle = rpr.find(qn("w:rStyle")) if rpr is not None else None
        pstyle = p.find(f"{qn('w:pPr')}/{qn('w:pStyle')}") if p is not None else None
        key = (rstyle.get(W_VAL, "") if rstyle is not None else "", pstyle.get(W_VAL, "") if pstyle is not None else "")
        if key not in self._cache:
            found = self._style_u(key[0]) if key[0] else None
            if found is None:
                found = self._style_u(key[1]) if key[1] else None
            self._cache[key] = found
        found = self._cache[key]
        if found is not None:
            return found
        return bool(self._default)


def underlined_spans(tc: Any, resolver: UnderlineResolver) -> list[tuple[str, bool]]:
    """The cell's text as (text, underlined) pieces in order, consecutive pieces of one kind joined,
    paragraphs separated by a ("\\n", False) piece. A name Word split over several runs comes out whole."""
    pieces: list[tuple[str, bool]] = []

    def add(text: str, u: bool) -> None:  # noqa: FBT001
        if pieces and pieces[-1][1] == u and text != "\n" and pieces[-1][0] != "\n":
            pieces[-1] = (pieces[-1][0] + text, u)
        else:
            pieces.append((text, u))

    for i, p in enumerate(cell_paragraphs(tc)):
        if i:
            add("\n", False)  # noqa: FBT003
        for r in p.iter(W_R):
            if _owner(r, (W_P,)) is not p or _deleted(r, p):
                continue
            text = "".join(
                (t.text or "") if t.tag == W_T else "\n"
                for t in r
                if t.tag in (W_T, W_BR, W_CR)
            )
            if not text:
                continue
            # Whitespace carries no underline meaning (Word underlines spaces between names at will).
            add(text, resolver.underlined(r, p) and bool(text.strip()))
    return pieces
