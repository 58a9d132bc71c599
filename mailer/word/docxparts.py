"""Split a .docx into part documents at marked page breaks, for converting a long document in parallel.

LibreOffice lays out and exports one document on one CPU, and its cost per page grows with the document's
length (the 20,000-row notice: ~9 ms of CPU per annex row; 5,000 rows: ~5.6 ms). A document that marks
where a new part may start (:func:`mark_part_start`: a paragraph starting a new page, with a hidden
bookmark) can be cut there into part documents that print the same pages: each part is a copy of the package
(styles, numbering, settings, footers, the same relationships) whose body holds a run of the original body's
elements. A page break at every cut makes the parts' pages the original's pages: the only thing LibreOffice
cannot know in a part is the number of the pages before it, which :mod:`mailer.word.pdfparallel` sets
through the first paragraph's page number offset once the parts before it are laid out.

Section properties follow the body: a part ends with the properties of the section its last element is in,
and every ``w:sectPr`` of a part names its header and footer parts explicitly (a section without a
``w:headerReference`` / ``w:footerReference`` of a kind inherits the previous section's, which a part
starting in the middle of the document would not have).
"""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_DOCUMENT = "word/document.xml"
PART_MARK = "_dubanPart"  # a hidden bookmark (Word hides names starting with "_")
_REFS = (_W + "headerReference", _W + "footerReference")


class PartsError(Exception):
    """The document could not be split (no marks, or a mark not directly in the body)."""


def mark_part_start(p: Any, number: int) -> None:
    """Make the body paragraph ``p`` start a page, and mark it as where part ``number`` may start."""
    ppr = p.find(_W + "pPr")
    if ppr is None:
        ppr = p.makeelement(_W + "pPr", {})
        p.insert(0, ppr)
    brk = ppr.makeelement(_W + "pageBreakBefore", {})
    # CT_PPrBase is a sequence: pageBreakBefore comes after pStyle, keepNext, keepLines.
    after = [c for c in ppr if c.tag in (_W + "pStyle", _W + "keepNext", _W + "keepLines")]
    if after:
        after[-1].addnext(brk)
    else:
        ppr.insert(0, brk)
    start = p.makeelement(_W + "bookmarkStart", {_W + "id": str(900000 + number), _W + "name": f"{PART_MARK}{number}"})
    end = p.makeelement(_W + "bookmarkEnd", {_W + "id": str(900000 + number)})
    ppr.addnext(start)
    start.addnext(end)


def _is_mark(el: Any) -> bool:
    if el.tag != _W + "p":
        return False
    return any((b.get(_W + "name") or "").startswith(PART_MARK) for b in el.iterchildren(_W + "bookmarkStart"))


def part_starts(document_xml: bytes) -> int:
    """How many marked part starts the document has (0: it cannot be split)."""
    root = etree.fromstring(document_xml)
    body = root.find(_W + "body")
    return 0 if body is None else sum(1 for el in body if _is_mark(el))


def _sect_pr(el: Any) -> Any | None:
    if el.tag == _W + "sectPr":
        return el
    if el.tag == _W + "p":
        ppr = el.find(_W + "pPr")
        if ppr is not None:
            return ppr.find(_W + "sectPr")
    return None


def _resolved(sections: list[Any]) -> list[Any]:
    """Copies of ``sections`` (in document order) naming every header and footer they inherit."""
    current: dict[tuple[str, str], str] = {}
    out = []
    for sect in sections:
        for ref in sect:
            if ref.tag in _REFS:
                current[(ref.tag, ref.get(_W + "type", "default"))] = ref.get(_R_ID, "")
        new = copy.deepcopy(sect)
        for ref in [r for r in new if r.tag in _REFS]:
            new.remove(ref)
        # References come first in CT_SectPr: headers, then footers, in a stable order.
        for i, ((tag, kind), rid) in enumerate(sorted(current.items())):
            new.insert(i, new.makeelement(tag, {_W + "type": kind, _R_ID: rid}))
        out.append(new)
    return out


def split(src: Path, out_dir: Path, parts: int) -> list[Path]:
    """Write ``parts`` (or fewer, when the document has fewer marks) part documents of ``src`` into
    ``out_dir`` as ``part-<i>.docx``; each part starts at a marked paragraph (the first at the document's
    start), and the parts hold about the same number of marked runs each.

    :raises PartsError: when the document has no mark
    """
    with zipfile.ZipFile(src) as z:
        infos = z.infolist()
        xml = z.read(_DOCUMENT)
        others = {i.filename: z.read(i.filename) for i in infos if i.filename != _DOCUMENT}
    # What a part could not continue from the parts before it: footnote numbers, restarted page numbers.
    for what in (b"footnoteReference", b"endnoteReference"):
        if what in xml:
            raise PartsError(f"the document has {what.decode()} elements: their numbers would restart")
    root = etree.fromstring(xml)
    body = root.find(_W + "body")
    if body is None:
        raise PartsError("no body")
    els = list(body)
    marks = [i for i, el in enumerate(els) if _is_mark(el)]
    if not marks:
        raise PartsError("the document has no part marks")
    # The sections: each element's section is the next sectPr at or after it.
    sect_at: list[int] = [0] * len(els)
    sections: list[Any] = []
    pending: list[int] = []
    for i, el in enumerate(els):
        pending.append(i)
        sp = _sect_pr(el)
        if sp is not None:
            for j in pending:
                sect_at[j] = len(sections)
            sections.append(sp)
            pending = []
    if pending or not sections or els[-1].tag != _W + "sectPr":
        raise PartsError("the body does not end with its section properties")
    if any(sect.find(f"{_W}pgNumType[@{_W}start]") is not None for sect in sections[1:]):
        raise PartsError("a section restarts the page numbers")
    resolved = _resolved(sections)
    index = {id(sect): i for i, sect in enumerate(sections)}
    runs = len(marks) + 1  # runs of elements between marks: the first one before the first mark
    parts = max(1, min(parts, runs))
    # Part boundaries: mark indices spread evenly over the runs (the first part also holds the text before
    # the first mark, usually short beside a run).
    cut_runs = [round(k * runs / parts) for k in range(1, parts)]
    starts = [0, *(marks[r - 1] for r in cut_runs)]
    ends = [*starts[1:], len(els) - 1]  # the body's own sectPr is added to every part
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        # The root's attributes and namespace declarations (removing the children of a copy instead cost
        # lxml seconds per table).
        doc = etree.Element(root.tag, dict(root.attrib), nsmap=root.nsmap)
        new_body = doc.makeelement(_W + "body", dict(body.attrib))
        doc.append(new_body)
        last = copy.deepcopy(resolved[sect_at[b - 1]])
        for el in els[a:b]:
            new = copy.deepcopy(el)
            sp = _sect_pr(new)
            if sp is not None:  # an inner section break: its inherited headers and footers spelled out
                sp.getparent().replace(sp, copy.deepcopy(resolved[index[id(_sect_pr(el))]]))
            new_body.append(new)
        if _sect_pr(els[b - 1]) is not None:  # the part ends with a section: no empty one after it
            inner = _sect_pr(new_body[-1])
            assert inner is not None
            inner.getparent().remove(inner)
        new_body.append(last)
        if k:  # the part's first page is not its section's first: no first-page header or footer
            first = next(sp for el in new_body if (sp := _sect_pr(el)) is not None)
            for title_pg in first.findall(_W + "titlePg"):
                first.remove(title_pg)
        path = out_dir / f"part-{k}.docx"
        xml_k = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", standalone=True)
        # Fast compression: the parts live only for the conversion.
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for info in infos:
                z.writestr(info.filename, xml_k if info.filename == _DOCUMENT else others[info.filename])
        paths.append(path)
    return paths

