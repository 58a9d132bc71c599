"""Cleaning text at the boundary: control characters, full-width digits, spacing, office-name keys."""

from __future__ import annotations

import re
import unicodedata

# XML 1.0 cannot hold these; docxtpl silently mangles nearby text and openpyxl raises on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def clean(value: object) -> str:
    """A string safe for Word XML and Excel: NFC, control characters removed, newlines normalised."""
    s = "" if value is None else str(value)
    s = unicodedata.normalize("NFC", s).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", s)


def squash(s: str) -> str:
    """Collapse runs of spaces (ASCII, no-break, ideographic) to one ASCII space and strip."""
    return _SPACES.sub(" ", s).strip()


def halfwidth(s: str) -> str:
    """Full-width ASCII (digits, letters, punctuation) to half-width; CJK punctuation kept."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in s)


def key(s: str) -> str:
    """A comparison key for names typed by people: width-folded, without spaces or punctuation."""
    s = halfwidth(unicodedata.normalize("NFKC", s or ""))
    return "".join(c for c in s if c.isalnum()).lower()
