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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from docx.oxml.ns import qn

from mailer.word.symbols import PUA_SYMBOLS, symbol_chars, symbol_text

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
_WRAPPERS = {
    qn("w:sdt"),
    qn("w:sdtContent"),
    qn("w:customXml"),
    qn("w:smartTag"),
    qn("w:ins"),
    qn("w:hyperlink"),
    qn("w:fldSimple"),
    qn("w:moveTo"),
    qn("w:dir"),
    qn("w:bdo"),
}

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


def is_deleted(el: Any, stop: Any) -> bool:
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
        if _owner(n, (W_P,)) is not p or is_deleted(n, p):
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
            out.append(symbol_chars(text, n.getparent()) if PUA_SYMBOLS.search(text) else text)
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
    return [el for el in tc.iter(W_P, W_TBL) if _owner(el, (W_TC,)) is tc and not is_deleted(el, tc)]


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
    tr_pr, gb, gs, vm, tc_pr = (
        qn("w:trPr"),
        qn("w:gridBefore"),
        qn("w:gridSpan"),
        qn("w:vMerge"),
        qn("w:tcPr"),
    )
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
            if (
                h_merge is not None
                and h_merge.get(W_VAL, "continue") == "continue"
                and left is not None
                and left.row == r
            ):
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
        if not is_deleted(tbl, body):
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
        key = (
            rstyle.get(W_VAL, "") if rstyle is not None else "",
            pstyle.get(W_VAL, "") if pstyle is not None else "",
        )
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
            if _owner(r, (W_P,)) is not p or is_deleted(r, p):
                continue
            text = "".join((t.text or "") if t.tag == W_T else "\n" for t in r if t.tag in (W_T, W_BR, W_CR))
            if not text:
                continue
            # Whitespace carries no underline meaning (Word underlines spaces between names at will).
            add(text, resolver.underlined(r, p) and bool(text.strip()))
    return pieces
