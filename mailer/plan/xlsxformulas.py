"""Formula cells without a computed value in an .xlsx: the workbook was written by a program that never
calculated it.

Workbooks are read with ``data_only=True`` (values, never formulas), and a formula cell whose file holds no
cached value reads as empty: an office's addresses written as ``=B5&"@jyj.gov.cn"`` by a script would
silently vanish. Reading the sheet's XML tells the two apart: ``<c><f>…</f></c>`` with no ``<v>``, or an
empty one (what openpyxl writes), was never calculated; only a text result (``t="str"``) may be empty.
"""

from __future__ import annotations

from typing import Any

from defusedxml.ElementTree import iterparse

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def uncached_formulas(ws: Any) -> list[str]:
    """The cells of worksheet ``ws`` (openpyxl, read-only) holding a formula with no cached value, as
    ``sheet!C5``. Empty for a worksheet not read from a file (nothing to look into)."""
    parent = getattr(ws, "parent", None)
    archive = getattr(parent, "_archive", None)
    path = getattr(ws, "_worksheet_path", None)
    if archive is None or not path:
        return []
    out: list[str] = []
    with archive.open(path) as src:
        for _, el in iterparse(src, events=("end",)):
            if el.tag != f"{_NS}c":
                continue
            if el.find(f"{_NS}f") is not None and not _cached(el):
                out.append(f"{ws.title}!{el.get('r') or '?'}")
            el.clear()
    return out


def _cached(cell: Any) -> bool:
    v = cell.find(f"{_NS}v")
    if v is None:
        return False
    return bool(v.text) or cell.get("t") == "str"  # a formula may well compute to the empty text
