"""Assemble the consolidated notice (通报): render ``templates/consolidated_notice.docx`` with the period's
data into ``outbox/drafts/<yyyy-mm>/``, convert it to PDF, and publish the signed-off files.

The template is the bureau's (design principle 7): the body is rendered by docxtpl with autoescape. The
annex table's rows are different for speed: docxtpl renders the ``{%tr for t in tasks %}`` loop once with
marker values, and the marked row is then cloned with lxml for every task. Through Jinja, 20,000 rows
(a 34 MB document.xml) took 5.8 s, little of it Jinja itself: docxtpl runs regular expressions over every
paragraph and run (resolve_listing, 1.7 s), re-parses the whole string with a recovering parser and
walks every row (fix_tables, 1.1 s), then moves the new body into the old document (map_tree, 2.6 s,
lxml re-homes every node). Cloning a parsed row takes 1.3 s for the same 20,000 (bench/bench_notice.py).
Templates whose row does more than print ``{{ t.field }}`` (filters, conditions) go through Jinja as usual.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from lxml import etree
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.common.errors import ConversionError, TemplateError
from mailer.common.filenames import fit_name
from mailer.common.files import atomic_target, private_dir
from mailer.common.templatecheck import word_template_error
from mailer.common.templates import template_path
from mailer.common.text import clean
from mailer.registry.model import Period
from mailer.render.lights import Light, as_of, lights_by_seq
from mailer.render.notice_data import (
    NoticeData,
    annex_note_text,
    milestone_offices_text,
    milestone_overview_text,
    notice_data,
    opening_text,
    overview_text,
    reporting_items,
    with_lights,
    ymd,
)
from mailer.render.notice_record import NoticeRecord, record_context
from mailer.word.docxparts import mark_part_start
from mailer.word.pdfparallel import convert_long

log = logging.getLogger(__name__)

TEMPLATE_NAME = "consolidated_notice.docx"
DEFAULT_ADDRESSEE = "局机关各股室、各直属单位"
ROW_FIELDS = ("seq", "name", "leads", "progress", "problems", "status", "milestones")
_MARK = "DUBANROWMARK"  # no character that autoescape or docxtpl would change
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DRAFT_SUFFIX = re.compile(r"（第\d+稿）$")
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class AssembledNotice:
    """The files of one draft of a period's notice."""

    docx: Path
    pdf: Path | None  # None when LibreOffice is missing or failed; see pdf_error
    pdf_error: str | None
    data: NoticeData
    sha256: str  # of the .docx


# --- context ---------------------------------------------------------------------------------------------


def _fix_core_properties_namespace() -> None:
    # Importing docxtpl/docxcompose rebinds python-docx's nsmap["cp"] to the custom-properties namespace,
    # after which core properties are written to the wrong namespace (libraries.md §2).
    from docx.oxml.ns import nsmap

    nsmap["cp"] = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"


def row_values(data: NoticeData) -> list[dict[str, str]]:
    """The annex rows as the template sees them (``t.seq`` … ``t.milestones``), all strings, cleaned."""
    return [
        {
            "seq": str(r.seq),
            "name": clean(r.name),
            "leads": clean(r.leads_text),
            "progress": clean(r.progress),
            "problems": clean(r.problems),
            "status": clean(r.status_cell),
            "milestones": clean(r.milestones_text),
        }
        for r in data.rows
    ]


def notice_context(
    data: NoticeData,
    *,
    issuer: str,
    issued_on: dt.date,
    addressee: str,
    record: NoticeRecord | None = None,
) -> dict[str, Any]:
    """Every variable of the template except ``tasks``; values are cleaned text (user data is data)."""
    record = record or NoticeRecord()
    ctx: dict[str, Any] = {
        "org_name": data.org_name,
        "year": str(data.year),
        "month": str(data.month),
        "span": data.span,
        "title": data.title,
        "annex_title": data.annex_title,
        "addressee": addressee,
        "opening": opening_text(data),
        "overview": overview_text(data),
        "milestone_overview": milestone_overview_text(data),
        "milestone_offices": milestone_offices_text(data),
        "annex_note": annex_note_text(data),
        "due_day": str(data.due_day),
        "due_on": ymd(data.due_on),
        "issuer": issuer,
        "issued_on": ymd(issued_on),
        "plan_title": data.plan_title,
        **record_context(record, issuer=issuer, issued_on=issued_on),
    }
    ctx = {k: clean(v) for k, v in ctx.items()}
    ctx["reporting"] = [{k: clean(v) for k, v in item.items()} for item in reporting_items(data)]
    return ctx


# --- rendering -------------------------------------------------------------------------------------------


def _plain_row_loop(raw: str, patched: str) -> str | None:
    """The loop variable when the template has a ``{%tr for VAR in tasks %}`` row loop whose row only
    prints ``{{ VAR.field }}`` values (the shape the row cloning reproduces exactly), else None.

    :param raw: the template's body XML; :param patched: the same after docxtpl's tag clean-up
    """
    m = re.search(r"\{%-?\s*tr\s+for\s+(\w+)\s+in\s+tasks\s*-?%\}", re.sub(r"<[^>]+>", "", raw))
    if m is None:
        return None
    var = m.group(1)
    mentions = re.compile(r"\b" + var + r"\b")
    allowed = (
        re.compile(r"\{\{-?\s*" + var + r"\.(?:" + "|".join(ROW_FIELDS) + r")\s*-?\}\}"),
        re.compile(r"\{%-?\s*for\s+" + var + r"\s+in\s+tasks\s*-?%\}"),
    )
    for tag in re.findall(r"\{\{.*?\}\}|\{%.*?%\}", patched, flags=re.DOTALL):
        if mentions.search(tag) and not any(a.fullmatch(tag) for a in allowed):
            return None
    return var


def _marker_row() -> dict[str, str]:
    return {f: f"{_MARK}{f}{_MARK}" for f in ROW_FIELDS}


_MARK_RE = re.compile(_MARK + "(" + "|".join(ROW_FIELDS) + ")" + _MARK)
# Row height estimate for keeping a row on one page: 五号 characters (210 twips wide) on 16 pt lines, cell
# margins 108 twips each side. A row estimated taller than _MAX_UNSPLIT_PT may split across pages, since a
# row that cannot split and does not fit on a page is cut off by some word processors.
_CHAR_TWIPS, _CELL_MARGIN_TWIPS, _LINE_PT, _MAX_UNSPLIT_PT = 210, 216, 16, 280


def _lines(text: str, per_line: int) -> int:
    """Lines a cell's text takes; ASCII characters count half a CJK character."""
    total = 0
    for line in text.split("\n"):
        width = len(line) - len(line.encode("ascii", "ignore")) / 2
        total += max(1, -(-int(width) // per_line))
    return total


def _too_tall(values: Mapping[str, str], capacity: Mapping[str, int]) -> bool:
    limit = _MAX_UNSPLIT_PT // _LINE_PT
    for name, per_line in capacity.items():
        text = values.get(name, "")
        # A cheap upper bound first: most rows are a few lines, far below the limit.
        if len(text) // per_line + text.count("\n") + 1 > limit and _lines(text, per_line) > limit:
            return True
    return False


def _capacity(proto: Any) -> dict[str, int]:
    """Characters per line of each marked cell of the prototype row, from its cell width."""
    out: dict[str, int] = {}
    for tc in proto.iter(_W + "tc"):
        w = tc.find(f"{_W}tcPr/{_W}tcW")
        text = "".join(t.text or "" for t in tc.iter(_W + "t"))
        m = _MARK_RE.search(text)
        if m and w is not None and (w.get(_W + "type") in (None, "dxa")):
            out[m.group(1)] = max(1, (int(w.get(_W + "w", "0")) - _CELL_MARGIN_TWIPS) // _CHAR_TWIPS)
    return out


def _fill_rows(body: Any, rows: Sequence[Mapping[str, str]]) -> bool:
    """Replace the marked prototype row by one row per task. False when no single marked row is found.

    The rows are written as XML text from the serialized prototype and parsed a table at a time: deep-copying
    the prototype and setting each cell's text through lxml cost ~200 µs a row (4 s at 20,000 rows, more than
    docxtpl's own loop took before the annex was split), building the text and parsing it ~20 µs.
    """
    marked = [t for t in body.iter(_W + "t") if t.text and _MARK in t.text]
    trs = {id(tr): tr for t in marked for tr in t.iterancestors(_W + "tr")}
    if len(trs) != 1:
        return False
    proto = next(iter(trs.values()))
    capacity = _capacity(proto)
    keep_whole = proto.find(f"{_W}trPr/{_W}cantSplit") is not None
    whole = _RowText(proto)
    if keep_whole:  # the variant for a row too tall to keep on one page
        loose = copy.deepcopy(proto)
        cant = loose.find(f"{_W}trPr/{_W}cantSplit")
        tr_pr = cant.getparent()
        tr_pr.remove(cant)
        if len(tr_pr) == 0:  # an empty w:trPr breaks the schema (its choice needs one child)
            loose.remove(tr_pr)
        splittable = _RowText(loose)
    tbl = proto.getparent()
    siblings = list(tbl.iterchildren(_W + "tr"))
    head, tail = siblings[: siblings.index(proto)], siblings[siblings.index(proto) + 1 :]
    # A new table: the first one's properties and grid, and a copy of its header row(s), as text.
    table_start = "".join(whole.text_of(el) for el in tbl if el.tag != _W + "tr") + "".join(
        whole.text_of(tr) for tr in head
    )
    current = tbl
    for start in range(0, len(rows), ANNEX_CHUNK):
        text = "".join(
            (splittable if keep_whole and _too_tall(values, capacity) else whole).fill(values)
            for values in rows[start : start + ANNEX_CHUNK]
        )
        if start == 0:  # the first chunk's rows take the prototype's place in the template's table
            anchor = proto
            for tr in whole.parse_rows(text):
                anchor.addnext(tr)
                anchor = tr
        else:
            new = whole.parse_table(table_start + text)
            gap = _gap_paragraph(current)
            current.addnext(gap)
            if len(rows) > PARTS_MIN_ROWS and start % PART_ROWS == 0:
                # Where the PDF conversion may cut the document into parts converted in parallel
                # (mailer/word/pdfparallel.py): a new page, so that the parts print the same pages.
                mark = _gap_paragraph(current)
                mark_part_start(mark, start // PART_ROWS)
                gap.addnext(mark)
                gap = mark
            gap.addnext(new)
            current = new
    for tr in tail:  # rows below the task row (none in the shipped template) stay below the last task
        current.append(tr)
    tbl.remove(proto)
    return True


_SLOT = "DUBANSLOT"


class _RowText:
    """The prototype row as XML text, cut at its marked ``w:t`` elements, and the namespace declarations to
    parse rows made from it."""

    def __init__(self, proto: Any) -> None:
        probe = copy.deepcopy(proto)
        self.slots: list[str] = []  # each marked w:t's text, e.g. "DUBANROWMARKseqDUBANROWMARK"
        for t in probe.iter(_W + "t"):
            if t.text and _MARK in t.text:
                self.slots.append(t.text)
                t.text = f"{_SLOT}{len(self.slots) - 1}{_SLOT}"
        xml = self.text_of(probe)
        # The declarations of the prefixes the row uses (lxml puts every one in scope on a serialized
        # subtree's root): the rows are parsed under them.
        used = set(re.findall(r"</?(\w+):", xml)) | set(re.findall(r"\s(\w+):\w+=", xml))
        self.decls = " ".join(f'xmlns:{p}="{u}"' for p, u in probe.nsmap.items() if p in used and p != "xml")
        self.prefix = (probe.prefix + ":") if probe.prefix else ""
        pieces = re.split(r"<" + re.escape(self.prefix) + r"t(?:\s[^>]*)?>" + _SLOT + r"\d+" + _SLOT + "</"
                          + re.escape(self.prefix) + "t>", xml)
        if len(pieces) != len(self.slots) + 1:
            raise TemplateError("the notice template's task row could not be cut at its fields")
        self.pieces = pieces
        self.fields = [m.group(1) if (m := _MARK_RE.fullmatch(text)) else None for text in self.slots]
        self._t_open = f'<{self.prefix}t xml:space="preserve">'
        self._t_close = f"</{self.prefix}t>"
        self._br, self._tab = f"<{self.prefix}br/>", f"<{self.prefix}tab/>"

    def text_of(self, el: Any) -> str:
        """An element of the table as text, without the namespace declarations lxml adds to it."""
        xml = etree.tostring(el, encoding="unicode")
        first = xml.index(">")
        return re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", xml[:first]) + xml[first:]

    def run_text(self, text: str) -> str:
        """``text`` as the run's content: line breaks as ``w:br``, tabs as ``w:tab`` (what docxtpl does)."""
        if "\n" not in text and "\t" not in text:
            return self._t_open + _escape(text) + self._t_close
        parts = re.split(r"(\n|\t)", text)
        out = [self._t_open, _escape(parts[0]), self._t_close]
        for part in parts[1:]:
            if part == "\n":
                out.append(self._br)
            elif part == "\t":
                out.append(self._tab)
            else:
                out += [self._t_open, _escape(part), self._t_close]
        return "".join(out)

    def fill(self, values: Mapping[str, str]) -> str:
        def value(m: re.Match[str]) -> str:
            return values[m.group(1)]

        out = [self.pieces[0]]
        for template_text, field, piece in zip(self.slots, self.fields, self.pieces[1:], strict=True):
            # A w:t holding one field and nothing else (as the shipped template has them) needs no regex.
            out.append(self.run_text(values[field] if field else _MARK_RE.sub(value, template_text)))
            out.append(piece)
        return "".join(out)

    def parse_rows(self, text: str) -> list[Any]:
        """The rows in ``text`` (python-docx's element classes), parsed under the row's declarations."""
        from docx.oxml.parser import oxml_parser

        return list(etree.fromstring(f"<duban {self.decls}>{text}</duban>", oxml_parser))

    def parse_table(self, content: str) -> Any:
        """A ``w:tbl`` of ``content`` that declares the namespaces it uses: moved into the document, an
        element whose namespaces are declared above it (as in parse_rows) has every node's namespace
        reconciled by lxml, 35 ms for a table of 100 rows, against 0.5 ms."""
        from docx.oxml.parser import oxml_parser

        return etree.fromstring(f"<{self.prefix}tbl {self.decls}>{content}</{self.prefix}tbl>", oxml_parser)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Rows per annex table. LibreOffice lays out one long table in time growing with its length (a 478-page
# table: 94 ms a page; in tables of 100 rows: 19 ms a page), which made the 20,000-row PDF miss the
# conversion timeout. So the task rows go into tables of ANNEX_CHUNK rows, each starting with a copy of the
# header row(s) above the task row (w:tblHeader: it still repeats on every page), one after the other with
# only a paragraph of a twentieth of a point between them (_gap_paragraph): no visible gap, and the 编号
# column carries the numbering on. Each table is parsed from text whole (_fill_rows): moving 20,000 rows
# one by one between tables cost lxml a namespace reconciliation each.
ANNEX_CHUNK = 100
# An annex longer than PARTS_MIN_ROWS starts a new page every PART_ROWS rows, marked as where the PDF
# conversion may cut the document into parts converted at the same time (mailer/word/pdfparallel.py).
# LibreOffice's CPU per row grows with the document's length: the 20,000-row notice took ~190 s of CPU
# whole, ~140–190 s in parts of 2,500 rows, ~120–170 s in parts of 600–1,200. Parts of 2,500 rows, though:
# converted in 20 parts of 1,000 rows, 11 of 4,764 pages placed text in a few vertically centred cells
# differently from the whole conversion (LibreOffice's layout of such a cell depends on the document around
# it); in 8 parts of 2,500, every page was the same (docs/readme/pdf2.md). A multiple of ANNEX_CHUNK: the
# cuts fall between tables. Below PARTS_MIN_ROWS a whole conversion takes well under the timeout (3,000
# rows: ~20 s), and the annex has no half-filled page.
PART_ROWS = 2500
PARTS_MIN_ROWS = 3000


def _gap_paragraph(el: Any) -> Any:
    """A paragraph one twentieth of a point high: two tables next to each other are merged into one by
    LibreOffice's import (losing the speed of the split), and a normal paragraph would show as a gap."""
    p = el.makeelement(_W + "p", {})
    ppr = p.makeelement(_W + "pPr", {})
    ppr.append(ppr.makeelement(_W + "spacing", {_W + "before": "0", _W + "after": "0", _W + "line": "20",
                                               _W + "lineRule": "exact"}))
    rpr = ppr.makeelement(_W + "rPr", {})
    rpr.append(rpr.makeelement(_W + "sz", {_W + "val": "2"}))
    rpr.append(rpr.makeelement(_W + "szCs", {_W + "val": "2"}))
    ppr.append(rpr)
    p.append(ppr)
    return p


_LIGHT_MARKS = {light.text: light for light in Light}
_LIGHT_FIND = etree.XPath(
    ".//w:t[" + " or ".join(f"text()='{mark}'" for mark in _LIGHT_MARKS) + "]", namespaces={"w": _W[1:-1]}
)
# Word's colours for the dot: the cell's text stays black (仿宋), only "●" is coloured, as a printed 公文
# table in black and white still reads "●红".
_DOT_COLOURS = {Light.GREEN: "00B050", Light.YELLOW: "FFC000", Light.RED: "FF0000"}
# w:rPr children that come after w:color in the schema (CT_RPr is a sequence: order matters to Word).
_AFTER_COLOR = {
    _W + n
    for n in ("spacing", "w", "kern", "position", "sz", "szCs", "highlight", "u", "effect", "bdr", "shd",
              "fitText", "vertAlign", "rtl", "cs", "em", "lang", "eastAsianLayout", "specVanish", "oMath")
}  # fmt: skip


def _colour_lights(body: Any) -> int:
    """Colour the "●" of every light mark ("●红" alone in its w:t, as the 报送情况 cell has it) in the
    annex; returns how many were coloured."""
    count = 0
    # XPath finds the few marks in C; iterating every w:t of a 20,000-row annex in Python took 0.8 s.
    for t in _LIGHT_FIND(body):
        light = _LIGHT_MARKS[t.text]
        run = t.getparent()
        if run is None or run.tag != _W + "r":
            continue
        rpr = run.find(_W + "rPr")
        anchor = run
        for text, colour in ((light.symbol, _DOT_COLOURS[light]), (light.label, None)):
            new = run.makeelement(_W + "r", {})
            new_rpr = copy.deepcopy(rpr) if rpr is not None else new.makeelement(_W + "rPr", {})
            if colour:
                old = new_rpr.find(_W + "color")
                if old is not None:
                    new_rpr.remove(old)
                el = new_rpr.makeelement(_W + "color", {_W + "val": colour})
                after = next((c for c in new_rpr if c.tag in _AFTER_COLOR), None)
                if after is not None:
                    after.addprevious(el)
                else:
                    new_rpr.append(el)
            if len(new_rpr):
                new.append(new_rpr)
            nt = new.makeelement(_W + "t", {})
            nt.text = text
            new.append(nt)
            anchor.addnext(new)
            anchor = new
        # Whatever followed the mark in its run (nothing, as duban writes it) moves behind the new runs.
        tail = list(run)[list(run).index(t) + 1 :]
        run.remove(t)
        if tail:
            rest = run.makeelement(_W + "r", {})
            if rpr is not None:
                rest.append(copy.deepcopy(rpr))
            for el in tail:
                rest.append(el)
            anchor.addnext(rest)
        count += 1
    return count


def _render(tpl: Any, context: dict[str, Any], template: Path) -> None:
    try:
        tpl.render(context, autoescape=True)
    except jinja2.TemplateError as e:
        near = "\n".join(getattr(e, "docx_context", []) or [])
        raise TemplateError(f"{template.name} cannot be rendered: {e}\nnear:\n{near}") from e


def render_notice(
    template: Path,
    data: NoticeData,
    out: Path,
    *,
    issuer: str,
    issued_on: dt.date,
    addressee: str = DEFAULT_ADDRESSEE,
    fast_rows: bool = True,
    record: NoticeRecord | None = None,
) -> Path:
    """Render the notice for ``data`` with ``template`` into ``out`` (written atomically).

    :param fast_rows: clone the annex row with lxml (default); False renders every row through Jinja
    :param record: the 版记 and 公开方式 (default: none but 印发机关 = issuer, 印发日期 = issued_on)
    :raises TemplateError: when the template is not a .docx, needs a variable the data does not provide,
        or Jinja fails (the message quotes the template text near the error)
    """
    from docxtpl import DocxTemplate

    _fix_core_properties_namespace()
    try:
        tpl = DocxTemplate(template)
        tpl.init_docx()
        raw = tpl.get_xml()
        patched = tpl.patch_xml(raw)
    except Exception as e:  # python-docx raises several unrelated types for a broken package
        raise TemplateError(word_template_error(template, e)) from e
    rows = row_values(data)
    context = notice_context(data, issuer=issuer, issued_on=issued_on, addressee=addressee, record=record)
    try:
        missing = tpl.get_undeclared_template_variables(context={**context, "tasks": rows})
    except jinja2.TemplateError as e:  # a tag the bureau broke while editing the template in Word
        raise TemplateError(word_template_error(template, e)) from e
    if missing:
        raise TemplateError(
            f"{template.name} needs {', '.join(sorted(missing))}, which the notice data "
            f"does not provide. Known: {', '.join(sorted([*context, 'tasks']))}."
        )
    if fast_rows and _plain_row_loop(raw, patched) is not None:
        _render(tpl, {**context, "tasks": [_marker_row()]}, template)
        if not _fill_rows(tpl.docx.element.body, rows):
            log.warning(
                "%s: no single marked task row after rendering; rendering rows through Jinja", template.name
            )
            tpl = DocxTemplate(template)
            _render(tpl, {**context, "tasks": rows}, template)
    else:
        _render(tpl, {**context, "tasks": rows}, template)
    _colour_lights(tpl.docx.element.body)
    props = tpl.docx.core_properties
    props.title = context["title"]
    props.subject = context["annex_title"]
    props.keywords = f"{data.year}-{data.month:02d}"
    with atomic_target(out) as tmp:  # outbox/ never holds a half-written file, even on a full disk
        tpl.save(tmp)
    return out


# --- assemble and publish --------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name from a title: path separators and characters Windows refuses replaced (the length is
    budgeted by draft_name)."""
    name = _UNSAFE_NAME.sub("_", clean(name)).strip(" .")
    return name or "通报"


def draft_name(data: NoticeData, version: int) -> str:
    # The budget leaves room for "（第N稿）" to be dropped and ".pdf" used (final_name, the PDF's name).
    return fit_name(safe_name(data.title), f"（第{version}稿）.docx")


def final_name(draft: Path) -> str:
    """``关于…的通报（第2稿）.docx`` → ``关于…的通报.docx``."""
    return _DRAFT_SUFFIX.sub("", draft.stem) + draft.suffix


def _pdf(settings: Settings, docx: Path) -> tuple[Path | None, str | None]:
    stale = docx.with_suffix(".pdf")
    stale.unlink(missing_ok=True)  # never leave a PDF of an earlier rendering beside a new .docx
    try:
        # The notice is duban's own document: kept LibreOffices may convert it (mailer.word.pdfkeeper), a
        # long one in parts at once (mailer.word.pdfparallel).
        return convert_long(
            docx,
            docx.parent,
            soffice=settings.service.libreoffice,
            timeout=settings.service.pdf_timeout_s,
            parts=settings.service.pdf_parts,
        ), None
    except ConversionError as e:
        log.warning("No PDF of %s: %s", docx.name, e)
        return None, str(e)


def assemble_notice(
    settings: Settings,
    session: Session,
    period: Period,
    *,
    version: int,
    out_dir: Path | None = None,
    issuer: str | None = None,
    issued_on: dt.date | None = None,
    addressee: str | None = None,
) -> AssembledNotice:
    """Write draft ``version`` of the period's consolidated notice (.docx, and .pdf when LibreOffice works).

    The .docx goes to ``out_dir`` (default ``outbox/drafts/<yyyy-mm>/``) as
    ``关于…进展情况的通报（第{version}稿）.docx``. A missing or failing LibreOffice gives ``pdf=None`` and the
    reason in ``pdf_error``; it never raises.

    :param issuer: 发文机关署名 (default: the plan's issuer, else 局办公室)
    :param issued_on: 成文日期 (default: today in the bureau's timezone)
    :raises TemplateError: when the notice template cannot be rendered
    :raises RegistryError: when the period's plan has no tasks
    """
    tz = settings.cycle.timezone
    issued_on = issued_on or dt.datetime.now(ZoneInfo(tz)).date()
    # The lights as of the 成文日期 (mailer.render.lights; no later than the end of the period's month).
    data = with_lights(
        notice_data(session, period, tz=tz),
        lights_by_seq(session, settings, period, issued_on),
        as_of(period, issued_on),
        settings.lights.yellow_workdays,
    )
    out_dir = out_dir if out_dir is not None else settings.outbox / "drafts" / period.key
    docx = out_dir / draft_name(data, version)
    render_notice(
        template_path(settings.templates, TEMPLATE_NAME),
        data,
        docx,
        issuer=clean(issuer or data.issuer or "局办公室"),
        issued_on=issued_on,
        addressee=clean(addressee or DEFAULT_ADDRESSEE),
        record=NoticeRecord.from_settings(settings.notice),
    )
    pdf, pdf_error = _pdf(settings, docx)
    sha = hashlib.sha256(docx.read_bytes()).hexdigest()
    log.info("Assembled %s (%d tasks, pdf: %s)", docx.name, len(data.rows), "yes" if pdf else pdf_error)
    return AssembledNotice(docx=docx, pdf=pdf, pdf_error=pdf_error, data=data, sha256=sha)


def _copy_atomic(src: Path, dest: Path) -> Path:
    with atomic_target(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def publish_notice(assembled_docx: Path, pdf: Path | None, dest_dir: Path) -> list[Path]:
    """Copy the signed-off draft (and its PDF, if any) into ``dest_dir`` under the final name
    (without "（第N稿）"). Copying again replaces the files, so a repeated publish is harmless.

    :returns: the published files, .docx first
    :raises FileNotFoundError: when the draft (or the given PDF) does not exist
    """
    private_dir(dest_dir)
    name = final_name(assembled_docx)
    files = [_copy_atomic(assembled_docx, dest_dir / name)]
    if pdf is not None:
        files.append(_copy_atomic(pdf, dest_dir / (Path(name).stem + ".pdf")))
    return files
