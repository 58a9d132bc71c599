"""Editing a rendered progress form the way Word, WPS and LibreOffice save it: at the XML level, with the
markup those programs really write (rsids, proofing marks, bookmarks, fields, tracked changes, text boxes,
numbering, extension namespaces), so that the tests of ``test_realforms_*`` meet what production meets.

python-docx cannot write most of this markup, so :class:`Package` keeps every part of the .docx as bytes,
parses the ones a test edits with lxml, and zips them back in their original order.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from form_factory import make_plan
from lxml import etree
from sqlalchemy.orm import Session

from mailer.common.config import Settings
from mailer.read.formcheck import FormCheck, check_form
from mailer.read.formparse import parse_form
from mailer.registry.model import Office, Plan
from mailer.registry.store import atomic
from mailer.render.forms import render_form

NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "w14": "http://schemas.microsoft.com/office/word/2010/wordml",
    "w15": "http://schemas.microsoft.com/office/word/2012/wordml",
    "w16se": "http://schemas.microsoft.com/office/word/2015/wordml/symex",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "wp14": "http://schemas.microsoft.com/office/word/2010/wordprocessingDrawing",
    "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "pic": "http://schemas.openxmlformats.org/drawingml/2006/picture",
    "v": "urn:schemas-microsoft-com:vml",
    "o": "urn:schemas-microsoft-com:office:office",
    "w10": "urn:schemas-microsoft-com:office:word",
    "wpsCustomData": "http://www.wps.cn/officeDocument/2013/wpsCustomData",
    "m": "http://schemas.openxmlformats.org/officeDocument/2006/math",
}
W = NS["w"]
DECL = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

# Columns of the rendered form, left to right.
NUMBER, NAME, CONTENT, OFFICES, PROGRESS, PROBLEMS, REMARK = range(7)
NAMES = {1: "培英职业技术学校新校区建设项目", 2: "增加学位供给", 3: "提升基础教育生均公用经费补助标准"}


def w(tag: str) -> str:
    return f"{{{W}}}{tag}"


def fragment(xml: str) -> list[Any]:
    """Elements parsed from ``xml`` written with the usual prefixes (w:, mc:, wps:, v:…)."""
    root = etree.fromstring(f"<root {DECL}>{xml}</root>".encode())
    return list(root)


def run(text: str, rpr: str = "") -> str:
    """One ``w:r`` holding ``text`` (XML-escaped), with optional run properties."""
    from xml.sax.saxutils import escape

    props = f"<w:rPr>{rpr}</w:rPr>" if rpr else ""
    return f'<w:r>{props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def para(*content: str, ppr: str = "") -> str:
    """One ``w:p`` (style FormCell, as the template's cells) holding runs or other inline markup."""
    return f'<w:p><w:pPr><w:pStyle w:val="FormCell"/>{ppr}</w:pPr>{"".join(content)}</w:p>'


# Word's list definitions: decimal "1." with a second level "（1）" (numId 1, and 5 restarting it),
# Chinese "一、" (2), a Wingdings bullet (3), circled numbers followed by a space (4).
NUMBERING = (
    f'<w:numbering {DECL}>'
    '<w:abstractNum w:abstractNumId="0"><w:multiLevelType w:val="hybridMultilevel"/>'
    '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/>'
    '<w:lvlJc w:val="left"/></w:lvl>'
    '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="（%2）"/>'
    '<w:suff w:val="nothing"/></w:lvl></w:abstractNum>'
    '<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/>'
    '<w:lvlText w:val="%1、"/><w:suff w:val="nothing"/></w:lvl></w:abstractNum>'
    '<w:abstractNum w:abstractNumId="2"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/>'
    '<w:lvlText w:val="\uf06c"/><w:rPr><w:rFonts w:ascii="Wingdings" w:hAnsi="Wingdings"/></w:rPr></w:lvl></w:abstractNum>'
    '<w:abstractNum w:abstractNumId="3"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimalEnclosedCircleChinese"/>'
    '<w:lvlText w:val="%1"/><w:suff w:val="space"/></w:lvl></w:abstractNum>'
    '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
    '<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
    '<w:num w:numId="3"><w:abstractNumId w:val="2"/></w:num>'
    '<w:num w:numId="4"><w:abstractNumId w:val="3"/></w:num>'
    '<w:num w:numId="5"><w:abstractNumId w:val="0"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>'
    "</w:numbering>"
).encode()


def numbered(num_id: int, text: str, ilvl: int = 0) -> str:
    """A paragraph of list ``num_id`` (see NUMBERING) at level ``ilvl``."""
    return para(run(text), ppr=f'<w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>')


def table(*rows: list[str]) -> str:
    """A ``w:tbl`` with one paragraph per cell (a table pasted into a cell)."""
    cells = "".join(
        "<w:tr>" + "".join(f"<w:tc><w:tcPr><w:tcW w:w=\"1000\" w:type=\"dxa\"/></w:tcPr>{para(run(t))}</w:tc>"
                           for t in row) + "</w:tr>"
        for row in rows
    )
    grid = "".join('<w:gridCol w:w="1000"/>' for _ in rows[0])
    return f'<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid>{grid}</w:tblGrid>{cells}</w:tbl>'


def text_of(el: Any) -> str:
    return "".join(el.itertext())


class Package:
    """A .docx as its parts; the XML parts a test touches are parsed once and written back by :meth:`save`."""

    def __init__(self, data: bytes) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            self.parts: dict[str, bytes] = {i.filename: z.read(i) for i in z.infolist()}
        self._xml: dict[str, Any] = {}

    def xml(self, name: str) -> Any:
        if name not in self._xml:
            self._xml[name] = etree.fromstring(self.parts[name])
        return self._xml[name]

    @property
    def document(self) -> Any:
        return self.xml("word/document.xml")

    def table(self) -> Any:
        """The form table (the one whose first row starts with 编号)."""
        for tbl in self.document.iter(w("tbl")):
            first = tbl.find(w("tr"))
            if first is not None and text_of(first).startswith("编号"):
                return tbl
        raise AssertionError("no form table")

    def row(self, seq: int) -> Any:
        for tr in self.table().findall(w("tr"))[1:]:
            tcs = tr.findall(w("tc"))
            if tcs and text_of(tcs[0]).strip() == str(seq):
                return tr
        raise AssertionError(f"no row {seq}")

    def cell(self, seq: int, col: int) -> Any:
        return self.row(seq).findall(w("tc"))[col]

    def set_cell(self, seq: int, col: int, *paragraphs: str) -> Any:
        """Replace the cell's paragraphs by ``paragraphs`` (``w:p`` XML); returns the ``w:tc``."""
        return set_tc(self.cell(seq, col), *paragraphs)

    def info_paragraph(self) -> Any:
        """The body paragraph holding 填报股室 / 填报人 / 填报日期."""
        body = self.document.find(w("body"))
        for p in body.findall(w("p")):
            if "填报人" in text_of(p):
                return p
        raise AssertionError("no info line")

    def add_part(self, name: str, content: bytes, content_type: str, rel_type: str, *, source: str = "word/document.xml",
                 target: str | None = None) -> str:
        """Add a part related from ``source``; returns the relationship id."""
        self.parts[name] = content
        types = self.xml("[Content_Types].xml")
        override = etree.SubElement(types, f"{{{CT_NS}}}Override")
        override.set("PartName", "/" + name)
        override.set("ContentType", content_type)
        return self.relate(rel_type, target or name.rsplit("/", 1)[-1], source=source)

    def relate(self, rel_type: str, target: str, *, source: str = "word/document.xml", external: bool = False) -> str:
        folder, base = source.rsplit("/", 1) if "/" in source else ("", source)
        rels_name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        rels = self.xml(rels_name)
        rid = f"rId{900 + len(rels)}"
        rel = etree.SubElement(rels, f"{{{REL_NS}}}Relationship")
        rel.set("Id", rid)
        rel.set("Type", rel_type if "/" in rel_type else REL_TYPE + rel_type)
        rel.set("Target", target)
        if external:
            rel.set("TargetMode", "External")
        return rid

    def save(self) -> bytes:
        for name, root in self._xml.items():
            self.parts[name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, content in self.parts.items():
                z.writestr(name, content)
        return out.getvalue()


def set_tc(tc: Any, *paragraphs: str) -> Any:
    for p in tc.findall(w("p")):
        tc.remove(p)
    for p in paragraphs:
        tc.extend(fragment(p))
    return tc


def wordify(root: Any) -> None:
    """Decorate every paragraph and run with the rsid and paraId attributes Word writes on each save."""
    for i, p in enumerate(root.iter(w("p"))):
        p.set(w("rsidR"), f"00{i:06X}")
        p.set(w("rsidRDefault"), "00B3A1F2")
        p.set(w("rsidP"), "004E77C1")
        p.set(f"{{{NS['w14']}}}paraId", f"{0x1A2B3C00 + i:08X}")
        p.set(f"{{{NS['w14']}}}textId", "77777777")
    for i, r in enumerate(root.iter(w("r"))):
        r.set(w("rsidRPr"), f"00{0xC0000 + i:06X}")


# --- a rendered form and its check ------------------------------------------------------------------------


def render(home: Settings, session: Session, office: str = "基财股", month: int = 6) -> tuple[bytes, str, Any]:
    """(form bytes, token, plan ids) of ``office``'s form for 2022-``month``, on a fresh plan."""
    ids = make_plan(session)
    form = render_form(home, session, session.get(Plan, ids.plan_id), 2022, month, session.get(Office, ids.offices[office]))
    return form.path.read_bytes(), form.token, ids


def check(engine: Any, home: Settings, data: bytes, *, office: str | None = None, period: tuple[int, int] | None = None,
          ) -> FormCheck:
    """parse_form + check_form, as intake does (the office and period expected when given)."""
    with atomic(engine) as s:
        expected = None
        if office is not None:
            expected = s.query(Office).filter_by(name=office).one()
        year, month = period if period else (None, None)
        result = check_form(s, parse_form(data), year=year, month=month, office=expected, secret_key=home.secret_key())
        result.office_name = result.office.name if result.office else None  # type: ignore[attr-defined]
        return result


def messages(result: FormCheck, level: str = "error") -> list[str]:
    return [f.message for f in result.findings if f.level == level]
