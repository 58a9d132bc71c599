"""Characters Word stores by font code: Insert → Symbol (w:sym) from the symbol fonts every Chinese Windows
has, and LibreOffice's private-use re-encoding of the same symbols."""

from __future__ import annotations

import re
from typing import Any

from docx.oxml.ns import qn

W_R, W_RPR = qn("w:r"), qn("w:rPr")


# Insert → Symbol from a symbol font stores the font's own code (F0xx); these are the characters people
# pick from the three symbol fonts of every Chinese Windows (Adobe Symbol encoding; the check marks and
# ballot boxes of Wingdings and Wingdings 2 that forms are ticked with).
_SYMBOL = (
    dict(zip(range(0x41, 0x5B), "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ", strict=True))
    | dict(zip(range(0x61, 0x7B), "αβχδεφγηιϕκλμνοπθρστυϖωξψζ", strict=True))
    | {
        0x22: "∀",
        0x24: "∃",
        0x27: "∋",
        0x2A: "∗",
        0x2D: "−",
        0x40: "≅",
        0x5C: "∴",
        0x5E: "⊥",
        0x7E: "∼",
        0xA2: "′",
        0xA3: "≤",
        0xA5: "∞",
        0xAB: "↔",
        0xAC: "←",
        0xAD: "↑",
        0xAE: "→",
        0xAF: "↓",
        0xB0: "°",
        0xB1: "±",
        0xB2: "″",
        0xB3: "≥",
        0xB4: "×",
        0xB5: "∝",
        0xB6: "∂",
        0xB7: "•",
        0xB8: "÷",
        0xB9: "≠",
        0xBA: "≡",
        0xBB: "≈",
        0xBC: "…",
        0xC6: "∅",
        0xC7: "∩",
        0xC8: "∪",
        0xD6: "√",
        0xD7: "⋅",
        0xDE: "⇒",
        0xE5: "∑",
        0xF2: "∫",
    }
)
_SYMBOL_FONTS = {
    "symbol": _SYMBOL,
    "wingdings": {
        0x46: "☞",
        0x4A: "☺",
        0x6C: "●",
        0x6E: "■",
        0x6F: "□",
        0x71: "❑",
        0x76: "❖",
        0xA1: "○",
        0xA7: "▪",
        0xAB: "★",
        0xD8: "➢",
        0xE8: "➔",
        0xFB: "✗",
        0xFC: "✓",
        0xFD: "☒",
        0xFE: "☑",
    },
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


PUA_SYMBOLS = re.compile("[\uf020-\uf0ff]")
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

    return PUA_SYMBOLS.sub(lambda m: _in_font(table, ord(m.group(0)) & 0xFF), text)
