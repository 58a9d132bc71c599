"""Read a returned progress form (.docx bytes) into rows and header facts, the way people really send it.

``parse_form`` is pure (no database): it finds the form table by its header labels in any table of the
document (spaces, full-width characters, line breaks inside header cells, extra or reordered columns
tolerated), follows the form across split tables and repeated header rows, and reads every task row with
its paragraphs and line breaks. It works on the XML through :mod:`mailer.word.grid`, so content controls,
tracked changes, merged cells and ``gridBefore`` are honoured and nothing is quadratic. Around the table it
reads the title period ("（1—6月）" and the ways people type it), 填报股室 / 填报人 / 填报日期 wherever they sit,
and the form token (custom property, core identifier, or the visible 表单编号). ISO Strict documents are
read by mapping their namespaces to the transitional ones.

How rows people add are read (the bureau wants the text with its task): a row whose 编号 and 项目名称 are
merged into the task's above, or left blank, continues that task (its text joins the task's; a blank one
is counted in ``FormRow.added_rows`` so that the office is told); a progress, problems or remark cell
merged down from another task's row is recorded in ``FormRow.shared_with`` for the check to judge. Spaces
leading a line (首行缩进 typed as "　　") are dropped from every line.

Judging the rows against the registry is :func:`mailer.read.formcheck.check_form`; it is NOT re-exported here,
so that this parser (which runs in the sandbox worker of :mod:`mailer.read.safety` on untrusted attachments)
loads nothing of the registry: no SQLAlchemy, no model (tests/test_layers.py checks it).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from mailer.common.errors import FormParseError
from mailer.common.text import clean, cn_number, halfwidth, key, squash
from mailer.common.tokens import find_tokens
from mailer.word.grid import (
    Cell,
    Grid,
    body_paragraphs,
    build_grid,
    cell_text,
    iter_tables,
    paragraph_text,
)
from mailer.word.numbering import Numbering

__all__ = [
    "FormRow",
    "ParsedForm",
    "parse_form",
]

FIELDS = ("number", "name", "content", "offices", "progress", "problems", "remark")
# The header label of each field as the bureau's form writes it (used in messages).
LABELS = {
    "number": "编号",
    "name": "项目名称",
    "content": "主要内容和关键时间节点计划",
    "offices": "责任股室",
    "progress": "进展情况",
    "problems": "存在问题和下一步工作计划",
    "remark": "备注",
}
_EXACT = {key(v): k for k, v in LABELS.items()} | {
    key("序号"): "number",
    key("任务名称"): "name",
    key("工作任务"): "name",
    key("牵头股室"): "offices",
    key("责任单位"): "offices",
}
_MAX_LABEL = 24  # a header cell is short; a data cell mentioning "进展情况" is not a header

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# ISO 29500 Strict documents (Word "Strict Open XML") use other namespace names for the same markup.
# Mapped to the transitional names before parsing, so one reader serves both (relationship types end the
# same way but for custom properties: "customProperties" in Strict, "custom-properties" otherwise).
_STRICT = (
    (b"http://purl.oclc.org/ooxml/wordprocessingml/main", _W.encode()),
    (b"http://purl.oclc.org/ooxml/officeDocument/relationships", _R.encode()),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/customProperties",
        b"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes",
        b"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
    ),
)
_CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
_DC_IDENTIFIER = "{http://purl.org/dc/elements/1.1/}identifier"
_TOKEN_PROPERTY = "duban_token"
_W_P = f"{{{_W}}}p"
_W_BODY = f"{{{_W}}}body"
_W_TBL = f"{{{_W}}}tbl"


@dataclass
class FormRow:
    """One task row as the office left it. Text keeps paragraphs and line breaks as "\\n"."""

    number: int | None
    name: str
    offices_text: str
    progress: str
    problems: str
    remark: str
    number_text: str = ""  # the 编号 cell as typed
    content: str = ""  # 主要内容和关键时间节点计划
    line: int = 0  # 1-based position among the form's rows, for rows without 编号 and name
    # Rows added under this task with 编号 and 项目名称 left blank, whose text was joined to this row's.
    added_rows: int = 0
    # Field → line of the earlier row whose cell this row shares (a cell merged vertically over two tasks).
    shared_with: dict[str, int] = field(default_factory=dict)


@dataclass
class ParsedForm:
    """Everything duban reads from a returned form, before judging it against the registry."""

    rows: list[FormRow]
    title: str = ""
    year: int | None = None
    month: int | None = None  # the N of "（1—N月）"; None when the title leaves it blank
    office_text: str = ""  # 填报股室, as typed
    filled_by: str = ""  # 填报人
    filled_on: str = ""  # 填报日期, as written (spaces removed); "" when left blank
    token: str | None = None
    token_source: str = ""  # custom_property | identifier | text
    columns: list[str] = field(default_factory=list)  # fields found in the header, in column order
    tables: int = 0  # how many tables the form was read from (split tables count each)


# --- the package ---------------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD, no network: a returned file is hostile until proven otherwise.
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


class _Package:
    """The few parts of a .docx the parser needs, found through relationships (not fixed names)."""

    def __init__(self, data: bytes) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            self.names = {n.lstrip("/"): n for n in self.zip.namelist()}
            rels = self._rels("")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as e:
            raise FormParseError(
                "附件不是有效的 Word（.docx）文档，无法打开。请用 Word 或 WPS 另存为 .docx 后重新发送。"
            ) from e
        self.package_rels = rels

    def read(self, name: str) -> bytes | None:
        real = self.names.get(name.lstrip("/"))
        if real is None:
            return None
        try:
            return self.zip.read(real)
        except (zipfile.BadZipFile, NotImplementedError, OSError, RuntimeError, ValueError) as e:
            raise FormParseError(
                f"附件中的 {name} 已损坏，无法读取。请用 Word 或 WPS 另存为 .docx 后重新发送。"
            ) from e

    def xml(self, name: str) -> Any | None:
        data = self.read(name)
        if data is None:
            return None
        for strict, transitional in _STRICT:
            data = data.replace(strict, transitional)
        try:
            return etree.fromstring(data, parser=_parser())
        except etree.XMLSyntaxError as e:
            # libxml2 reports a failed allocation (the worker's memory limit) as a syntax error.
            if e.code == etree.ErrorTypes.ERR_NO_MEMORY or "memory" in str(e).lower():
                raise MemoryError(str(e)) from e
            raise FormParseError(
                f"附件中的 {name} 不是有效的 XML，文档已损坏。请用 Word 或 WPS 另存为 .docx 后重新发送。"
            ) from e

    def _rels(self, part: str) -> list[tuple[str, str]]:
        """(type, target part name) of the part's relationships; external targets left out."""
        folder, base = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", f"{base}.rels"))
        if root is None:
            return []
        out = []
        for rel in root:
            if rel.get("TargetMode") == "External" or not rel.get("Target"):
                continue
            target = rel.get("Target", "")
            name = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
            out.append((rel.get("Type", ""), name))
        return out

    def related(self, rels: list[tuple[str, str]], kind: str) -> list[str]:
        return [name for t, name in rels if t.rsplit("/", 1)[-1] == kind]


# --- header labels --------------------------------------------------------------------------------------


def _field_of(text: str) -> tuple[str, int] | None:
    """The field a header cell names, with a score: 2 for the exact label, 1 for a looser wording."""
    if len(text) > 3 * _MAX_LABEL:
        return None
    k = key(text)
    if not k or len(k) > _MAX_LABEL:
        return None
    if k in _EXACT:
        return _EXACT[k], 2
    if "存在问题" in k or "下一步" in k:
        return "problems", 1
    if "主要内容" in k or "时间节点" in k:
        return "content", 1
    if "进展" in k or "完成情况" in k or "推进情况" in k:
        return "progress", 1
    if k in ("序", "编", "no", "序列号"):
        return "number", 1
    if k.endswith(("名称", "任务")) or k in ("项目", "重点工作"):
        return "name", 1
    if "股室" in k or "责任单位" in k or "牵头单位" in k or "责任部门" in k:
        return "offices", 1
    if k.startswith("备注"):
        return "remark", 1
    return None


def _header_map(grid: Grid, r: int) -> dict[str, range] | None:
    """Field → the grid columns its header cell covers, when row ``r`` is a header row of the form."""
    best: dict[str, tuple[range, int]] = {}
    seen: set[int] = set()
    for c, cell in enumerate(grid.rows[r]):
        if cell is None or id(cell) in seen:
            continue
        seen.add(id(cell))
        found = _field_of(cell.text)
        if found is None:
            continue
        name, score = found
        if name not in best or score > best[name][1]:
            best[name] = (range(c, c + cell.span), score)
    if "progress" in best and ("name" in best or "number" in best) and len(best) >= 3:
        return {name: cols for name, (cols, _) in best.items()}
    return None


# --- rows ------------------------------------------------------------------------------------------------


def parse_number(text: str) -> int | None:
    """ "3", "３", "3.", "（3）", "三", "十二" → 3 / 3 / 3 / 3 / 3 / 12; anything else → None."""
    s = "".join(ch for ch in halfwidth(text) if not ch.isspace())
    s = s.strip(".、,，:：()（）[]【】")
    if s.isdigit() and len(s) <= 4:
        return int(s)
    return cn_number(s) if len(s) <= 3 else None


def _field_text(s: str) -> str:
    """A cell's text as the office typed it: control characters gone, spaces around each line and blank
    edges dropped; paragraphs and line breaks kept as "\\n". Spaces leading a line are the 首行缩进 people
    type ("　　"), layout rather than text: every line loses them, not just the first."""
    lines = [line.strip() for line in clean(s).split("\n")]
    return "\n".join(lines).strip("\n")


class _Reader:
    """Walks the tables of the body, keeping the current column mapping across split tables."""

    def __init__(self) -> None:
        self.rows: list[FormRow] = []
        self.columns: list[str] = []
        self.tables = 0
        self.other_cells: list[list[str]] = []  # rows of non-form tables (and rows above a header)
        self._mapping: dict[str, range] | None = None
        self._width = 0
        self._last: tuple[Grid, int, FormRow] | None = None
        self._at: dict[int, FormRow] = {}  # grid row → the task row it was read into (current table)

    def table(self, grid: Grid) -> None:
        mapping = self._mapping if grid.width == self._width else None
        used = False
        self._at = {}
        for r in range(len(grid.rows)):
            header = _header_map(grid, r)
            if header is not None:
                self._last = None  # nothing below a header row continues the task above it
                if mapping is None or not self.columns:
                    self.columns = [f for f, _ in sorted(header.items(), key=lambda kv: kv[1].start)]
                mapping, used = header, True
                self._mapping, self._width = header, grid.width
                continue
            if mapping is None:
                self.other_cells.append(self._distinct_texts(grid, r))
                continue
            used = True
            self._row(grid, r, mapping)
        if used:
            self.tables += 1

    @staticmethod
    def _distinct_texts(grid: Grid, r: int) -> list[str]:
        out, seen = [], set()
        for cell in grid.rows[r]:
            if cell is not None and id(cell) not in seen:
                seen.add(id(cell))
                # Tables nested in the cell are read as tables of their own (the form, an info table).
                out.append(cell_text(cell.tc, cell.labels, tables=False))
        return out

    def _row(self, grid: Grid, r: int, mapping: dict[str, range]) -> None:
        grid_row = grid.rows[r]
        # Each field's cells in this row: one normally, several where a header spans columns that the data
        # rows keep separate; a cell merged across two fields' columns belongs to the first field only.
        fields: dict[str, list[Cell]] = {}
        taken: set[int] = set()
        for f, cols in sorted(mapping.items(), key=lambda fc: fc[1].start):
            mine: list[Cell] = []
            for c in cols:
                cell = grid_row[c] if c < len(grid_row) else None
                if cell is not None and id(cell) not in taken:
                    taken.add(id(cell))
                    mine.append(cell)
            fields[f] = mine
        if len(mapping) > 1 and len(taken) == 1:
            return  # a note or title row merged across the whole table, not a task
        cells: dict[str, Cell | None] = {f: (v[0] if v else None) for f, v in fields.items()}
        text = {f: "\n".join(t for t in (_field_text(c.text) for c in v) if t) for f, v in fields.items()}
        if not any(text.get(f) for f in ("name", "progress", "problems", "remark")):
            return  # an empty or number-only row someone added
        if self._continues(grid, r, cells, text):
            return
        blank_keys = not text.get("number") and not text.get("name")
        if blank_keys and self._last is not None and self._last[0] is grid:
            # A row inserted under a task (Word: 在下方插入行) to add sub-items, its 编号 and 项目名称 left
            # blank: the bureau wants that text with the task, so it is joined to it (and the office told).
            last = self._last[2]
            self._join(last, text, cells, r)
            last.added_rows += 1
            self._at[r] = last
            return
        row = FormRow(
            number=parse_number(text.get("number", "")),
            name=squash(text.get("name", "").replace("\n", "")),
            offices_text=text.get("offices", ""),
            progress=text.get("progress", ""),
            problems=text.get("problems", ""),
            remark=text.get("remark", ""),
            number_text=squash(text.get("number", "")),
            content=text.get("content", ""),
            line=len(self.rows) + 1,
        )
        for f in ("progress", "problems", "remark"):
            cell = cells.get(f)
            earlier = self._at.get(cell.row) if cell is not None and cell.row < r else None
            if earlier is not None:
                row.shared_with[f] = earlier.line  # one cell merged down over two tasks: ambiguous
        self.rows.append(row)
        self._at[r] = row
        self._last = (grid, r, row)

    def _continues(self, grid: Grid, r: int, cells: dict[str, Cell | None], text: dict[str, str]) -> bool:
        """A row whose 编号 and 项目名称 cells are vertically merged into the row above belongs to that task:
        its own progress, problems and remark are added to the task's (people add rows that way)."""
        keys = [cells[f] for f in ("number", "name") if cells.get(f) is not None]
        if not keys or self._last is None or self._last[0] is not grid:
            return False
        if not all(c is not None and c.row < r for c in keys):
            return False
        last = self._last[2]
        self._join(last, text, cells, r)
        self._at[r] = last
        return True

    @staticmethod
    def _join(last: FormRow, text: dict[str, str], cells: dict[str, Cell | None], r: int) -> None:
        """Add a continuation row's own progress, problems and remark to the task row ``last``."""
        for f in ("progress", "problems", "remark"):
            cell = cells.get(f)
            if cell is None or cell.row < r or not text.get(f):
                continue
            old = getattr(last, f)
            setattr(last, f, f"{old}\n{text[f]}" if old else text[f])


# --- header facts around the table ------------------------------------------------------------------------

_INFO_LABEL = re.compile(
    r"(?:填\s*[报表]|报\s*送)\s*(股\s*室|单\s*位|部\s*门|人\s*员?|日\s*期|时\s*间)\s*[:：]?"
)
_ANY_LABEL = re.compile(r"[\u4e00-\u9fff]{2,8}\s*[:：]")
_BLANKS = re.compile(r"[_＿\u2014\u2015\uff3f]+")
_SPAN = re.compile(r"(?<!\d)1\s*月?\s*(?:[—–\-~〜至到一―]+)\s*(\d{1,2})\s*月")
_BLANK_SPAN = re.compile(r"(?<!\d)1\s*(?:[—–\-~〜至到一―]+)\s*月")
_ONE_MONTH = re.compile(r"[（(]\s*(\d{1,2})\s*月\s*(?:份)?\s*[）)]")
_YEAR = re.compile(r"(\d{4})\s*年")
_CJK_PADDING = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def _info_values(line: str) -> dict[str, str]:
    """填报股室 / 填报人 / 填报日期 found in one line, each value ending where the next label begins."""
    out: dict[str, str] = {}
    labels = list(_INFO_LABEL.finditer(line))
    stops = sorted({m.start() for m in labels} | {m.start() for m in _ANY_LABEL.finditer(line)})
    for m in labels:
        kind = re.sub(r"\s", "", m.group(1))
        end = next((s for s in stops if s >= m.end()), len(line))
        value = _BLANKS.sub(" ", line[m.end() : end]).replace("\t", " ")
        value = squash(value).strip("，,;；。（(")
        field_name = (
            "by"
            if kind.startswith("人")
            else {"股室": "office", "单位": "office", "部门": "office"}.get(kind, "on")
        )
        if field_name == "by":
            # "张　三": a two-character name padded to the width of three, as forms are typed in China.
            value = _CJK_PADDING.sub("", value)
        if field_name == "on":
            value = re.sub(r"\s+", "", value)
            if not re.search(r"\d", halfwidth(value)):
                value = ""  # "    年  月  日" left blank
        if value and field_name not in out:
            out[field_name] = value
    return out


def _period(lines: list[str]) -> tuple[str, int | None, int | None]:
    """(title, year, month) from the first line that looks like the form's title."""
    for i, raw in enumerate(lines):
        line = halfwidth(raw)
        month: int | None = None
        m = _SPAN.search(line)
        if m:
            month = int(m.group(1))
        elif "情况表" in line and (one := _ONE_MONTH.search(line)):
            month = int(one.group(1))
        elif "情况表" in line and _BLANK_SPAN.search(line):
            month = None  # the notice's own "（1—月）", month left blank
        else:
            continue
        if month is not None and not 1 <= month <= 12:
            continue
        year_m = _YEAR.search(line) or (_YEAR.search(halfwidth(lines[i - 1])) if i else None)
        title = squash(raw) if _YEAR.search(line) or not i else squash(lines[i - 1] + raw)
        return title, int(year_m.group(1)) if year_m else None, month
    return "", None, None


def _token(pkg: _Package, texts: list[str]) -> tuple[str | None, str]:
    custom = [
        *pkg.related(pkg.package_rels, "custom-properties"),
        *pkg.related(pkg.package_rels, "customProperties"),
    ]
    root = pkg.xml(custom[0]) if custom else None
    if root is not None:
        for prop in root.iter(f"{{{_CUSTOM_NS}}}property"):
            if prop.get("name") == _TOKEN_PROPERTY and len(prop):
                found = find_tokens(prop[0].text or "")
                if found:
                    return found[0], "custom_property"
    core = pkg.related(pkg.package_rels, "core-properties")
    root = pkg.xml(core[0]) if core else None
    if root is not None:
        ident = root.find(_DC_IDENTIFIER)
        found = find_tokens(ident.text or "") if ident is not None else []
        if found:
            return found[0], "identifier"
    found = find_tokens("\n".join(texts))
    return (found[0], "text") if found else (None, "")


# --- the entry point ---------------------------------------------------------------------------------------


def parse_form(data: bytes) -> ParsedForm:
    """Read a returned progress form.

    :param data: the .docx bytes (already through :func:`mailer.read.safety.safe_docx`)
    :returns: the rows (empty rows skipped, paragraphs kept) and the facts around the table
    :raises FormParseError: when the file is no readable .docx or holds no table headed like the form
    """
    pkg = _Package(data)
    main = pkg.related(pkg.package_rels, "officeDocument")
    root = pkg.xml(main[0]) if main else None
    body = root.find(_W_BODY) if root is not None else None
    if body is None:
        raise FormParseError("附件不是 Word 文档（找不到正文）。请用 Word 或 WPS 另存为 .docx 后重新发送。")
    doc_rels = pkg._rels(main[0])
    labels: dict[Any, str] = {}  # "1." "一、" that Word draws for automatic lists
    numbering = pkg.related(doc_rels, "numbering")
    if numbering:  # no numbering part, no list (and the styles need not be read)
        styles = pkg.related(doc_rels, "styles")
        labels = Numbering(pkg.xml(numbering[0]), pkg.xml(styles[0]) if styles else None).labels(body)
    reader = _Reader()
    form_tables: set[Any] = set()
    for tbl in iter_tables(body):
        if any(outer in form_tables for outer in tbl.iterancestors(_W_TBL)):
            continue  # a table pasted into a cell of the form: read as that cell's text
        before = reader.tables
        reader.table(build_grid(tbl, labels))
        if reader.tables > before:
            form_tables.add(tbl)
    if reader.tables == 0:
        raise FormParseError(
            "附件中没有找到进展情况表：没有表头含“编号”（或“项目名称”）和“进展情况”的表格。"
            "请使用下发的《重点工作推进项目进展情况表》填写后重新发送。"
        )
    margins: list[str] = []
    for part in pkg.related(doc_rels, "header") + pkg.related(doc_rels, "footer"):
        proot = pkg.xml(part)
        if proot is not None:
            margins.extend(paragraph_text(p) for p in proot.iter(_W_P))
    # Paragraphs outside tables in document order, then the rows of other tables (a label in one cell and
    # its value in the next read as one tab-separated line), then headers and footers.
    lines = [ln for p in body_paragraphs(body) for ln in clean(p).split("\n")]
    cell_lines = [ln for row in reader.other_cells for ln in "\t".join(clean(t) for t in row).split("\n")]
    context = lines + cell_lines + margins
    info: dict[str, str] = {}
    for line in context:
        for k, v in _info_values(line).items():
            info.setdefault(k, v)
    title, year, month = _period(context)
    # The visible 表单编号 may sit anywhere, a text box or a table cell included.
    token, source = _token(pkg, [paragraph_text(p) for p in body.iter(_W_P)] + margins)
    return ParsedForm(
        rows=reader.rows,
        title=title,
        year=year,
        month=month,
        office_text=info.get("office", ""),
        filled_by=info.get("by", ""),
        filled_on=info.get("on", ""),
        token=token,
        token_source=source,
        columns=reader.columns,
        tables=reader.tables,
    )
