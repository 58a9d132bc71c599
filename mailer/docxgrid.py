"""Read the tables of a .docx the way people really leave them, without python-docx's blind spots.

python-docx misses text in content controls (``w:sdt``) and tracked insertions (``w:ins``), shifts cells
when a row has ``w:gridBefore`` or sdt-wrapped cells, and ``Table.cell()`` is quadratic. This module works on
the XML: every table of the body in document order (nested and sdt-wrapped ones included), each as a
rectangular grid honouring gridBefore, gridSpan and vMerge, tracked deletions dropped, tracked insertions
kept, and cell text with its paragraphs and line breaks. It also resolves underline through run,
character-style, paragraph-style and document defaults (the notice underlines the lead office).
Used by the notice import and by the returned-form parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from docx.oxml.ns import qn

W_P, W_T, W_TAB, W_BR, W_CR = qn("w:p"), qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")
W_TC, W_TBL, W_TR, W_R = qn("w:tc"), qn("w:tbl"), qn("w:tr"), qn("w:r")
W_DEL, W_MOVEFROM, W_TXBX = qn("w:del"), qn("w:moveFrom"), qn("w:txbxContent")
W_NOBREAKHYPHEN, W_SOFTHYPHEN, W_SYM = qn("w:noBreakHyphen"), qn("w:softHyphen"), qn("w:sym")
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
W_VAL = qn("w:val")

# Containers that may wrap rows, cells, paragraphs or runs without changing what they hold.
_WRAPPERS = {qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml"), qn("w:smartTag"), qn("w:ins"), qn("w:hyperlink"),
             qn("w:fldSimple"), qn("w:moveTo"), qn("w:dir"), qn("w:bdo")}


def _children(el: Any, tag: str) -> Iterator[Any]:
    """Children with ``tag``, looking through sdt/customXml/ins wrappers (and skipping deletions)."""
    for child in el:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)


def _deleted(el: Any, stop: Any) -> bool:
    for anc in el.iterancestors():
        if anc is stop:
            return False
        if anc.tag in (W_DEL, W_MOVEFROM, MC_FALLBACK):
            return True
    return False


def _owner(el: Any, tags: tuple[str, ...]) -> Any:
    for anc in el.iterancestors():
        if anc.tag in tags:
            return anc
    return None


def paragraph_text(p: Any) -> str:
    """Visible text of one ``w:p``: tracked insertions kept, deletions dropped, tabs and breaks kept."""
    out: list[str] = []
    for n in p.iter(W_T, W_TAB, W_BR, W_CR, W_NOBREAKHYPHEN, W_SOFTHYPHEN):
        # Text of a text box anchored in this paragraph belongs to the box, not to the paragraph.
        if _owner(n, (W_P,)) is not p or _deleted(n, p):
            continue
        if n.tag == W_T:
            out.append(n.text or "")
        elif n.tag == W_TAB:
            if n.getparent() is not None and n.getparent().tag == W_R:  # not a tab stop definition
                out.append("\t")
        elif n.tag == W_NOBREAKHYPHEN:
            out.append("-")
        elif n.tag == W_SOFTHYPHEN or (n.tag == W_BR and n.get(qn("w:type")) == "page"):
            continue
        else:
            out.append("\n")
    return "".join(out)


def cell_paragraphs(tc: Any) -> list[Any]:
    """The ``w:p`` elements that belong to this cell (not to a nested table or a text box)."""
    return [p for p in tc.iter(W_P) if _owner(p, (W_TC, W_TXBX)) is tc and not _deleted(p, tc)]


def cell_text(tc: Any) -> str:
    """The cell's text, paragraphs joined by newlines, trailing empty paragraphs dropped."""
    lines = [paragraph_text(p) for p in cell_paragraphs(tc)]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


@dataclass
class Cell:
    """One cell of the grid. A merged cell is the same object at every grid position it covers."""

    tc: Any
    row: int  # first grid row
    col: int  # first grid column
    span: int = 1
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = cell_text(self.tc)
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


def build_grid(tbl: Any) -> Grid:
    """A rectangular view of ``w:tbl``: gridBefore, gridSpan, vMerge honoured; deleted rows dropped."""
    rows: list[list[Cell | None]] = []
    trs: list[Any] = []
    tr_pr, gb, gs, vm, tc_pr = qn("w:trPr"), qn("w:gridBefore"), qn("w:gridSpan"), qn("w:vMerge"), qn("w:tcPr")
    for tr in _children(tbl, W_TR):
        pr = tr.find(tr_pr)
        if pr is not None and pr.find(W_DEL) is not None:  # a tracked row deletion
            continue
        r = len(rows)
        row: list[Cell | None] = [None] * _int(tr, f"{tr_pr}/{gb}", 0)
        for tc in _children(tr, W_TC):
            span = max(1, _int(tc, f"{tc_pr}/{gs}", 1))
            c = len(row)
            merge = tc.find(f"{tc_pr}/{vm}")
            cell: Cell | None = None
            if merge is not None and merge.get(W_VAL, "continue") == "continue" and rows:
                above = rows[-1][c] if c < len(rows[-1]) else None
                cell = above
            if cell is None:
                cell = Cell(tc=tc, row=r, col=c, span=span)
            row.extend([cell] * span)
        rows.append(row)
        trs.append(tr)
    width = max((len(x) for x in rows), default=0)
    for row in rows:
        row.extend([None] * (width - len(row)))
    return Grid(tbl=tbl, rows=rows, tr=trs)


def iter_tables(body: Any) -> Iterator[Any]:
    """Every ``w:tbl`` under ``body`` in document order, nested and sdt-wrapped ones included."""
    yield from body.iter(W_TBL)


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
