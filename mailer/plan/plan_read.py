"""Reading a plan from the files people have: the notice .docx (its body and Attachment 1) or a task .xlsx.

Nothing here touches the registry: a file becomes a :class:`ParsedPlan` or a :class:`PlanImportError` that
names the file, where in it, what is wrong and what to do. The task table is found by its header labels
(序号, 任务名称, 主要内容和关键时间节点计划, 责任股室, 备注; spacing and character width ignored), in one table
or several, with the header repeated as a row or as a new table. The lead office is the underlined name
(direct formatting, character style or paragraph style); without an underline the first office is taken
and the task says so (``lead_assumed``).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docx.oxml.ns import qn

from mailer.common.errors import PlanImportError
from mailer.common.text import clean, cn_number, key
from mailer.plan.milestones import ParsedMilestone, parse_milestones, tidy
from mailer.word.grid import (
    Grid,
    UnderlineResolver,
    build_grid,
    iter_tables,
    paragraph_text,
    underlined_spans,
)

# An operator imports a notice by hand, but the file still came by mail: bound what we unpack.
MAX_ZIP_ENTRIES = 5000
MAX_UNZIPPED_BYTES = 300 * 2**20
MAX_RATIO = 200

# Column → the header labels accepted for it, compared with :func:`label_key`.
COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("序号",),
    "name": ("任务名称",),
    "content": ("主要内容和关键时间节点计划", "主要内容和关键节点计划", "主要内容和时间节点计划"),
    "offices": ("责任股室",),
    "remark": ("备注",),
    "lead": ("牵头股室",),
}
REQUIRED = ("seq", "name", "content", "offices")
LABELS = {
    "seq": "序号",
    "name": "任务名称",
    "content": "主要内容和关键时间节点计划",
    "offices": "责任股室",
    "remark": "备注",
    "lead": "牵头股室",
}

_OFFICE_SEP = re.compile(r"[\s、，,/;；|]+")
_LEAD_MARK = re.compile(r"^(.+?)[（(]\s*牵头\s*[）)]$")
_YEAR = re.compile(r"(20\d{2})\s*年")
_ISSUE_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_RULE = re.compile(r"[从自]\s*(\d{1,2})\s*月(?:份)?\s*(?:起|开始).{0,20}?每月\s*(\d{1,2})\s*[日号]")
# A plan's title names what it is: "…重点工作任务一览表", "…任务清单".
_TITLE_LIKE = re.compile(r"(任务|一览表|清单|计划)")
_NOTICE_TITLE = re.compile(r"^关于.*的通知$")
_ATTACHMENT_LABEL = re.compile(r"^附件\s*[:：]?\s*\d*\s*$")


def label_key(text: str) -> str:
    """Header text as a comparison key: width, spaces and punctuation ignored, 及/与 read as 和."""
    return key(text).replace("及", "和").replace("与", "和")


_LABEL_KEYS = {col: {label_key(x) for x in labels} for col, labels in COLUMNS.items()}


@dataclass
class ParsedTask:
    """One row of the task table, as read."""

    seq: int
    name: str
    content: str
    remark: str
    offices: list[str]  # names as written, in order, without duplicates
    leads: list[str]  # the underlined ones (or the 牵头股室 column); the first office when lead_assumed
    lead_assumed: bool
    offices_text: str  # the cell as written
    where: str  # "table 2, row 3", for messages
    milestones: list[ParsedMilestone] = field(default_factory=list)


@dataclass
class ParsedPlan:
    """A plan read from one file: its metadata (empty where the file does not say) and its tasks."""

    title: str
    year: int
    tasks: list[ParsedTask]
    notice_title: str = ""
    issuer: str = ""
    issued_on: dt.date | None = None
    org_name: str = ""
    first_month: int | None = None
    due_day: int | None = None
    warnings: list[str] = field(default_factory=list)


# --- limits ----------------------------------------------------------------------------------------


def check_zip(path: Path) -> None:
    """Refuse archives that would unpack to far more than they weigh (a zip bomb) before parsing them.

    :raises PlanImportError: naming the limit exceeded
    """
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    total = sum(i.file_size for i in infos)
    if (
        len(infos) > MAX_ZIP_ENTRIES
        or total > MAX_UNZIPPED_BYTES
        or any(i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1) for i in infos)
    ):
        raise PlanImportError(
            f"文件“{path.name}”解压后有 {total // 2**20} MB、{len(infos)} 个部件，超过上限"
            f"（{MAX_UNZIPPED_BYTES // 2**20} MB、{MAX_ZIP_ENTRIES} 个部件、压缩比 {MAX_RATIO}:1），已拒绝导入。"
        )


# --- the notice .docx ---------------------------------------------------------------------------------


def _blocks(body: Any) -> list[tuple[str, Any]]:
    """Top-level paragraphs (as text) and tables of the body in order, looking into content controls."""
    out: list[tuple[str, Any]] = []
    for child in body:
        if child.tag == qn("w:p"):
            out.append(("p", paragraph_text(child)))
        elif child.tag == qn("w:tbl"):
            out.append(("tbl", child))
        elif child.tag in (qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")):
            out.extend(_blocks(child))
    return out


def _header_texts(grid: Grid, r: int) -> list[str]:
    # A merged header cell counts once, at its first column.
    return [c.text if c is not None and c.col == i else "" for i, c in enumerate(grid.rows[r])]


def map_header(texts: list[str]) -> dict[str, int]:
    """Which column holds which field, from one row's texts; {} when the row is not a header."""
    found: dict[str, int] = {}
    for i, text in enumerate(texts):
        k = label_key(text or "")
        for col, keys in _LABEL_KEYS.items():
            if k in keys and col not in found:
                found[col] = i
    return found


def _is_candidate(mapping: dict[str, int]) -> bool:
    return len(set(mapping) - {"lead"}) >= 3


def _missing(mapping: dict[str, int]) -> list[str]:
    return [LABELS[c] for c in REQUIRED if c not in mapping]


def _seq(text: str) -> int | None:
    s = tidy(text).strip().rstrip(".、．")
    return int(s) if s.isdigit() else None


def _paras(text: str) -> str:
    """Paragraphs stripped, empty ones dropped, joined by newlines."""
    return "\n".join(line.strip() for line in clean(text).split("\n") if line.strip())


def split_offices(pieces: list[tuple[str, bool]]) -> tuple[list[str], list[str]]:
    """Office names and the underlined (lead) ones from (text, underlined) pieces of the 责任股室 cell.

    Names are split on spaces, newlines and 、，,/;； ; a name counts as underlined when most of its
    characters are (Word sometimes leaves a character of a name out of the underline). "基财股（牵头）"
    is read as a lead too.
    """
    tokens: list[list[tuple[str, bool]]] = [[]]
    for text, underlined in pieces:
        for ch in clean(text):
            if _OFFICE_SEP.fullmatch(ch):
                if tokens[-1]:
                    tokens.append([])
            else:
                tokens[-1].append((ch, underlined))
    names: list[str] = []
    leads: list[str] = []
    seen: dict[str, str] = {}
    for tok in tokens:
        if not tok:
            continue
        name = "".join(c for c, _ in tok)
        lead = sum(u for _, u in tok) * 2 > len(tok)
        marked = _LEAD_MARK.match(name)
        if marked:
            name, lead = marked.group(1).strip(), True
        k = key(name)
        if not k:
            continue
        if k not in seen:
            seen[k] = name
            names.append(name)
        if lead and seen[k] not in leads:
            leads.append(seen[k])
    return names, leads


class _TaskRows:
    """Collects task rows from one or more tables, checking numbers as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tasks: list[ParsedTask] = []
        self.errors: list[str] = []
        self._by_seq: dict[int, ParsedTask] = {}

    def add(
        self,
        *,
        seq_text: str,
        name: str,
        content: str,
        remark: str,
        offices: list[str],
        leads: list[str],
        offices_text: str,
        where: str,
    ) -> None:
        seq = _seq(seq_text)
        label = f"{where}（序号 {seq_text.strip() or '空'}）"
        if seq is None:
            self.errors.append(f"{label}：序号“{seq_text.strip()}”不是数字，请填写数字。")
            return
        if seq in self._by_seq:
            self.errors.append(
                f"{label}：序号 {seq} 重复（另见{self._by_seq[seq].where}），请更正。"
            )
            return
        if not name:
            self.errors.append(f"{label}：任务名称为空，请填写。")
        if not offices:
            self.errors.append(
                f"{label}：责任股室为空。请填写责任股室，并在牵头股室下加下划线。"
            )
            return
        assumed = not leads
        task = ParsedTask(
            seq=seq,
            name=name,
            content=content,
            remark=remark,
            offices=offices,
            leads=leads or offices[:1],
            lead_assumed=assumed,
            offices_text=offices_text,
            where=where,
        )
        self._by_seq[seq] = task
        self.tasks.append(task)

    def extend_last(self, content: str, remark: str, offices: list[str], leads: list[str]) -> None:
        """A row continuing the task above it (its 序号 cell merged downwards)."""
        if not self.tasks:
            return
        t = self.tasks[-1]
        t.content = "\n".join(x for x in (t.content, content) if x)
        t.remark = "\n".join(x for x in (t.remark, remark) if x)
        for name in offices:
            if name not in t.offices:
                t.offices.append(name)
        if leads:
            t.leads = list(dict.fromkeys((t.leads if not t.lead_assumed else []) + leads))
            t.lead_assumed = False


def _read_grid_rows(
    grid: Grid,
    start: int,
    mapping: dict[str, int],
    rows: _TaskRows,
    resolver: UnderlineResolver,
    table_no: int,
) -> None:
    for r in range(start, len(grid.rows)):
        row = grid.rows[r]
        texts = _header_texts(grid, r)
        if _is_candidate(map_header(texts)):
            mapping.clear()
            mapping.update(map_header(texts))  # a header repeated inside the table: columns may move
            continue
        distinct = {id(c) for c in row if c is not None}
        if len(distinct) <= 1 or not any(t.strip() for t in texts):
            continue  # an empty row, or one cell across the whole table (a note)

        def cell(col: str, row: list[Any] = row) -> Any:
            i = mapping.get(col)
            return row[i] if i is not None and i < len(row) else None

        seq_cell = cell("seq")
        # 序号 merged down: this row continues the task above. Another cell merged down (two tasks with
        # the same 责任股室 or 备注) belongs to this row as much as to the one above.
        continuing = seq_cell is not None and seq_cell.row != r

        def text(col: str, *, r: int = r, continuing: bool = continuing) -> str:
            c = cell(col)
            return "" if c is None or (continuing and c.row != r) else _paras(c.text)

        office_cell = cell("offices")
        use_offices = office_cell is not None and not (continuing and office_cell.row != r)
        offices, leads = split_offices(underlined_spans(office_cell.tc, resolver) if use_offices else [])
        if continuing:
            rows.extend_last(text("content"), text("remark"), offices, leads)
            continue
        rows.add(
            seq_text=text("seq"),
            name=text("name").replace("\n", ""),
            content=text("content"),
            remark=text("remark"),
            offices=offices,
            leads=leads,
            offices_text=_paras(office_cell.text) if office_cell is not None else "",
            where=f"第 {table_no} 个表格第 {r + 1} 行",
        )


def _find_task_tables(
    tables: list[Any], source: str
) -> tuple[list[tuple[Any, Grid, int, dict[str, int]]], Any]:
    """The tables holding tasks with their header row and column map, and the first one's element.

    A table right after a task table with no header of its own, the same width and a number in its first
    cell continues it (a page break where nobody repeated the header).

    :raises PlanImportError: when no table has the header, or the best one lacks required columns
    """
    found: list[tuple[Any, Grid, int, dict[str, int]]] = []
    partial: tuple[dict[str, int], list[str], int] | None = None
    previous: tuple[Grid, dict[str, int]] | None = None
    for i, tbl in enumerate(tables, 1):
        grid = build_grid(tbl)
        header = None
        for r in range(min(len(grid.rows), 6)):
            mapping = map_header(_header_texts(grid, r))
            if _is_candidate(mapping):
                header = (r, mapping)
                break
        if header is not None and not _missing(header[1]):
            found.append((tbl, grid, header[0] + 1, dict(header[1])))
            previous = (grid, header[1])
            continue
        if header is not None and (partial is None or len(header[1]) > len(partial[0])):
            partial = (header[1], _header_texts(grid, header[0]), i)
        if (
            header is None
            and previous is not None
            and grid.width == previous[0].width
            and grid.rows
            and _seq(grid.text(0, previous[1]["seq"])) is not None
        ):
            found.append((tbl, grid, 0, dict(previous[1])))
            continue
        previous = None
    if found:
        return found, found[0][0]
    if partial is not None:
        mapping, texts, n = partial
        have = "、".join(t.strip() for t in texts if t.strip())
        raise PlanImportError(
            f"文件“{source}”的任务表（第 {n} 个表格）缺少“{'、'.join(_missing(mapping))}”列。"
            f"现有表头为：{have}。请补上缺少的列或更正表头后再导入。"
        )
    raise PlanImportError(
        f"文件“{source}”中未找到附件1任务表（共查看 {len(tables)} 个表格）：表头应为"
        "序号、任务名称、主要内容和关键时间节点计划、责任股室、备注。请确认这是带附件1的通知。"
    )


def _metadata(blocks: list[tuple[str, Any]], first_table: Any) -> dict[str, Any]:
    """Title, org, issuer, date and reporting rule from the paragraphs of the body."""
    paras: list[str] = []
    before: list[str] = []
    for kind, value in blocks:
        if kind == "tbl" and value is first_table:
            before = list(paras)
        if kind == "p" and value.strip():
            paras.append(tidy(value))
    meta: dict[str, Any] = {}
    meta["notice_title"] = next((p for p in paras if _NOTICE_TITLE.match(p)), "")
    for p in reversed(before):
        if _ATTACHMENT_LABEL.match(p):
            continue
        if len(p) <= 80 and not p.endswith(("。", "：", ":")) and _TITLE_LIKE.search(p):
            meta["title"] = p
        break
    if not meta.get("title"):
        named = [m for p in paras for m in re.findall(r"《([^》]*(?:一览表|任务表|清单))》", p)]
        if named:
            meta["title"] = named[0]
    for i, p in enumerate(paras):
        m = _ISSUE_DATE.match(_arabic_date(p))
        if m and i > 0:
            try:
                meta["issued_on"] = dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
            issuer = paras[i - 1]
            if len(issuer) <= 40 and not issuer.endswith(("。", "：", "；")):
                meta["issuer"] = issuer
            break
    rule = _RULE.search("".join(paras))
    if rule and 1 <= int(rule[1]) <= 12 and 1 <= int(rule[2]) <= 28:
        meta["first_month"], meta["due_day"] = int(rule[1]), int(rule[2])
    return meta


def _arabic_date(text: str) -> str:
    """ "二〇二二年六月二日" → "2022年6月2日" (dates in the old style); other text is returned as it is."""
    if not re.fullmatch(
        r"[〇○零Ｏ一二三四五六七八九十]{4}年[一二三四五六七八九十]{1,3}月[一二三四五六七八九十]{1,3}日", text
    ):
        return text

    def number(s: str) -> int:
        n = cn_number(s)
        assert n is not None  # the pattern above admits only numerals
        return n

    y, rest = text.split("年")
    m, rest = rest.split("月")
    return f"{number(y)}年{number(m)}月{number(rest.rstrip('日'))}日"


def _title_year(title: str, *others: str) -> int | None:
    for text in (title, *others):
        m = _YEAR.search(text or "")
        if m:
            return int(m[1])
    return None


def _org_name(title: str) -> str:
    m = re.match(r"^(.*?)\d{4}\s*年", title)
    return m.group(1).strip() if m else ""


def read_notice_docx(path: Path, source: str) -> ParsedPlan:
    """The plan of a notice .docx: metadata from the body, tasks from Attachment 1.

    :param source: the file name to use in messages
    :raises PlanImportError: when the file is not a readable .docx, has no task table, lacks columns, has
        no task rows, bad numbers or empty offices (every such problem listed), or names no year
    """
    check_zip(path)
    try:
        import docx

        document = docx.Document(str(path))
    except Exception as e:  # python-docx raises KeyError/ValueError/XMLSyntaxError for broken packages
        raise PlanImportError(f"文件“{source}”无法作为 Word 文档读取：{e}。请用 Word 或 WPS 另存为 .docx 后再导入。") from e
    body = document.element.body
    resolver = UnderlineResolver(document.styles.element)
    top = [t for t in iter_tables(body) if not any(a.tag == qn("w:tc") for a in t.iterancestors())]
    try:
        found, first = _find_task_tables(top, source)
    except PlanImportError:
        nested = [t for t in iter_tables(body) if t not in top]
        if not nested:
            raise
        found, first = _find_task_tables(nested, source)
    rows = _TaskRows(source)
    for n, (_tbl, grid, start, mapping) in enumerate(found, 1):
        _read_grid_rows(grid, start, mapping, rows, resolver, n)
    meta = _metadata(_blocks(body), first)
    title = meta.get("title") or _title_row(found[0][1], found[0][2] - 1)
    title = title or meta.get("notice_title", "").removeprefix("关于印发").removesuffix("的通知")
    return _finish(
        rows, source, title=title or Path(source).stem, **{k: v for k, v in meta.items() if k != "title"}
    )


def _title_row(grid: Grid, header: int) -> str:
    """A title written in the table itself, in a row above the header (merged across the table)."""
    for r in range(header):
        text = tidy(" ".join(dict.fromkeys(c.text for c in grid.rows[r] if c is not None)))
        if text and _TITLE_LIKE.search(text):
            return text
    return ""


def _finish(rows: _TaskRows, source: str, *, title: str, **meta: Any) -> ParsedPlan:
    if rows.errors:
        raise PlanImportError(
            f"文件“{source}”的任务表有 {len(rows.errors)} 处问题，未导入任何内容：\n  "
            + "\n  ".join(rows.errors)
        )
    if not rows.tasks:
        raise PlanImportError(f"文件“{source}”的任务表只有表头，没有任务行。")
    issued = meta.get("issued_on")
    year = _title_year(title, meta.get("notice_title", ""), source) or (issued.year if issued else None)
    if year is None:
        raise PlanImportError(
            f"文件“{source}”的标题“{title}”和文件名中都没有年度。请在标题行"
            "（如：台山市教育系统2022年重点工作任务一览表）或文件名中写明年度。"
        )
    plan = ParsedPlan(
        title=title,
        year=year,
        tasks=sorted(rows.tasks, key=lambda t: t.seq),
        org_name=_org_name(title),
        **meta,
    )
    for t in plan.tasks:
        t.milestones = parse_milestones(t.content, year)
    return plan


# --- the task .xlsx -----------------------------------------------------------------------------------


def _cell_str(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return clean(v)


def read_tasks_xlsx(path: Path, source: str, workbook: Any | None = None) -> ParsedPlan:
    """The plan of a task workbook: the first sheet with the header; an optional 牵头股室 column names the
    lead(s), otherwise the first office is taken as lead. A title row above the header gives the plan title.

    :raises PlanImportError: as :func:`read_notice_docx`
    """
    wb = workbook if workbook is not None else open_workbook(path, source)
    partial: tuple[dict[str, int], list[str], str] | None = None
    for ws in wb.worksheets:
        rows_iter = list(ws.iter_rows(values_only=True))
        for r, raw in enumerate(rows_iter[:20]):
            texts = [_cell_str(v) for v in raw]
            mapping = map_header(texts)
            if not _is_candidate(mapping):
                continue
            if _missing(mapping):
                if partial is None:
                    partial = (mapping, texts, ws.title)
                break
            above = [t for raw_above in rows_iter[:r] for t in (_cell_str(v) for v in raw_above) if t.strip()]
            title = tidy(above[0]) if above else ""
            return _xlsx_tasks(rows_iter, r, mapping, ws.title, source, title or tidy(ws.title))
    if partial is not None:
        mapping, texts, sheet = partial
        raise PlanImportError(
            f"文件“{source}”工作表“{sheet}”的任务表缺少“{'、'.join(_missing(mapping))}”列。"
            f"现有表头为：{'、'.join(t for t in texts if t)}。"
        )
    raise PlanImportError(
        f"工作簿“{source}”中既没有任务表（表头：序号、任务名称、主要内容和关键时间节点计划、责任股室、备注），"
        "也没有名录（表头含：股室名称、邮箱；格式见 docs/directory-format.md）。"
    )


def _xlsx_tasks(
    rows_iter: list[tuple[Any, ...]],
    header: int,
    mapping: dict[str, int],
    sheet: str,
    source: str,
    title: str,
) -> ParsedPlan:
    rows = _TaskRows(source)
    for r in range(header + 1, len(rows_iter)):
        texts = [_cell_str(v) for v in rows_iter[r]]

        def get(col: str, texts: list[str] = texts) -> str:
            i = mapping.get(col)
            return _paras(texts[i]) if i is not None and i < len(texts) else ""

        if not any(t.strip() for t in texts):
            continue
        if _is_candidate(map_header(texts)):
            continue
        offices, _ = split_offices([(get("offices"), False)])
        leads, _ = split_offices([(get("lead"), False)])
        for name in reversed(leads):
            if key(name) not in {key(o) for o in offices}:
                offices.insert(0, name)  # a lead missing from 责任股室 is one of them all the same
        if not get("seq") and rows.tasks and not get("name"):
            rows.extend_last(get("content"), get("remark"), offices, leads)
            continue
        rows.add(
            seq_text=get("seq"),
            name=get("name").replace("\n", ""),
            content=get("content"),
            remark=get("remark"),
            offices=offices,
            leads=leads,
            offices_text=get("offices"),
            where=f"工作表“{sheet}”第 {r + 1} 行",
        )
    return _finish(rows, source, title=title)


def open_workbook(path: Path, source: str) -> Any:
    """The workbook, read-only with values (never formulas), after the zip check.

    :raises PlanImportError: when it cannot be read
    """
    check_zip(path)
    try:
        from openpyxl import load_workbook

        return load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for broken packages
        raise PlanImportError(
            f"文件“{source}”无法作为 Excel 工作簿读取：{e}。请用 Excel 或 WPS 另存为 .xlsx 后再导入。"
        ) from e
