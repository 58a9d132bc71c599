"""Render the monthly progress form (Attachment 2) for a lead office, pre-filled for updating.

One row per current task the office leads: 编号, 项目名称, the plan text with the milestones due by month N
marked (【本月到期】 due within month N, 【已到期】 due before it — the template's 填写说明 says so), 责任股室
with the lead underlined, and 进展情况 / 存在问题和下一步工作计划 / 备注 pre-filled with the office's last
approved entry from an earlier period, so the office only updates. The form token goes into the custom
property ``duban_token``, the core identifier and the visible 表单编号.

The template is ``progress_form.docx`` of the home's ``templates/`` (the bureau's, replaceable). It is read
once and its Jinja sources compiled once per process (until the file changes); each form still goes
through docxtpl's own pipeline, with ``autoescape=True`` and every value through :func:`mailer.common.text.clean`.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from docx.oxml.ns import nsmap
from docxtpl import DocxTemplate, RichText
from pathvalidate import sanitize_filename
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from mailer.common.config import Settings
from mailer.common.errors import RegistryError, TemplateError
from mailer.common.filenames import fit_name
from mailer.common.files import atomic_target
from mailer.common.periods import month_end, period_key, span_label
from mailer.common.templatecheck import word_template_error
from mailer.common.templates import template_path
from mailer.common.text import clean, key
from mailer.common.tokens import make_token
from mailer.registry.model import Entry, Milestone, Office, Plan, Task, TaskOffice
from mailer.registry.queries import approved_entries_by_office, last_approved_entries, lead_tasks, on_forms
from mailer.registry.store import atomic
from mailer.render.form_notes import instruction_context

# Importing docxtpl imports docxcompose, which rebinds python-docx's nsmap["cp"] to the custom-properties
# namespace; core properties (identifier, keywords…) would then be read and written in the wrong place.
nsmap["cp"] = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"

log = logging.getLogger(__name__)

TEMPLATE_NAME = "progress_form.docx"
TOKEN_PROPERTY = "duban_token"
MARK_DUE = "【本月到期】"  # a milestone due within month N
MARK_PAST = "【已到期】"  # a milestone due before month N
_MARK_COLOR = "C00000"


@dataclass(frozen=True)
class RenderedForm:
    """A form written to the outbox."""

    path: Path
    token: str
    task_seqs: list[int]
    office_id: int = 0
    office_name: str = ""


# --- the template, prepared once -------------------------------------------------------------------------


class _CompilingEnvironment(jinja2.Environment):
    """A Jinja environment that compiles each distinct source once.

    docxtpl compiles the body, every header and footer and the core properties with ``from_string`` on
    every render; for the same template those sources are identical each time, so their compiled form is
    kept. Everything else about rendering stays docxtpl's.
    """

    def __init__(self) -> None:
        super().__init__(autoescape=True)
        self._compiled: dict[str, jinja2.Template] = {}
        self._compile_lock = threading.Lock()

    def from_string(self, source: Any, globals: Any = None, template_class: Any = None) -> jinja2.Template:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        compiled = self._compiled.get(source)
        if compiled is None:
            with self._compile_lock:
                compiled = self._compiled.get(source)
                if compiled is None:
                    compiled = self._compiled[source] = super().from_string(source)
        return compiled


@dataclass
class _Prepared:
    stamp: tuple[int, int]
    data: bytes
    env: _CompilingEnvironment
    variables: set[str]
    patched: dict[str, str] = field(default_factory=dict)  # docxtpl's patch_xml, per source


class _PreparedDocxTemplate(DocxTemplate):
    """docxtpl's own render pipeline, on the template bytes in memory; its ``patch_xml`` (a dozen regex
    passes over each part, a pure function of the part's XML) runs once per distinct part."""

    def __init__(self, prepared: _Prepared) -> None:
        super().__init__(io.BytesIO(prepared.data))
        self._patched = prepared.patched

    def patch_xml(self, src_xml: str) -> str:
        out = self._patched.get(src_xml)
        if out is None:
            out = self._patched[src_xml] = super().patch_xml(src_xml)
        return out


_prepared: dict[Path, _Prepared] = {}
_prepared_lock = threading.Lock()


def _prepare(path: Path) -> _Prepared:
    """The template at ``path``, read and checked once per process (again when the file changes).

    :raises TemplateError: when the file is missing or is not a docxtpl template docxtpl can parse
    """
    try:
        st = path.stat()
    except OSError as e:
        raise TemplateError(word_template_error(path, e)) from e
    stamp = (st.st_mtime_ns, st.st_size)
    with _prepared_lock:
        found = _prepared.get(path)
        if found is not None and found.stamp == stamp:
            return found
        data = path.read_bytes()
        env = _CompilingEnvironment()
        try:
            variables = DocxTemplate(io.BytesIO(data)).get_undeclared_template_variables(jinja_env=env)
        except Exception as e:
            raise TemplateError(word_template_error(path, e)) from e
        _prepared[path] = found = _Prepared(stamp, data, env, set(variables))
        return found


# --- the values --------------------------------------------------------------------------------------------


def _paragraphs(text: str) -> str:
    """Text for a plain ``{{ }}``: docxtpl turns "\\a" into a new paragraph (keeping the cell's style),
    so each line the office wrote comes back as its own paragraph."""
    return "\a".join(line.rstrip() for line in clean(text).split("\n")).strip("\a")


def milestone_mark(due: dt.date | None, year: int, month: int) -> str:
    """【本月到期】 for a milestone due within month N of ``year``, 【已到期】 before it, else ""."""
    if due is None:
        return ""
    if due < dt.date(year, month, 1):
        return MARK_PAST
    if due <= month_end(year, month):
        return MARK_DUE
    return ""


def _find_paragraph(keys: list[str], m: Milestone) -> int | None:
    whole, text = key(f"{m.label}{m.text}"), key(m.text)
    for needle in (whole, text, text[:12]):
        if len(needle) < 4:
            continue
        for i, k in enumerate(keys):
            if needle in k:
                return i
    return None


def content_richtext(task: Task, year: int, month: int) -> RichText:
    """The plan text, one paragraph per line, each milestone due by month N marked in front of its line
    (a milestone the text does not contain is added as a marked line of its own)."""
    lines = [ln.strip() for ln in clean(task.content).split("\n") if ln.strip()]
    keys = [key(ln) for ln in lines]
    marks: dict[int, str] = {}
    extra: list[tuple[str, str]] = []
    for m in task.milestones:
        mark = milestone_mark(m.due, year, month)
        if not mark:
            continue
        i = _find_paragraph(keys, m)
        if i is None:
            extra.append((mark, clean(f"{m.label}{m.text}")))
        elif marks.get(i) != MARK_DUE:  # one line, two milestones: "due this month" is the stronger word
            marks[i] = mark
    rt = RichText()
    items = [(marks.get(i, ""), line) for i, line in enumerate(lines)] + extra
    for n, (mark, line) in enumerate(items):
        if n:
            rt.add("\a")
        if mark:
            rt.add(mark, bold=True, color=_MARK_COLOR)
        rt.add(line)
    return rt


def offices_richtext(task: Task) -> RichText:
    """责任股室, one office per paragraph, the lead office underlined as the notice marks it."""
    rt = RichText()
    for n, to in enumerate(task.offices):
        if n:
            rt.add("\a")
        rt.add(clean(to.office.name), underline=to.is_lead)
    return rt


def _row(task: Task, prior: Entry | None, year: int, month: int) -> dict[str, Any]:
    return {
        "seq": str(task.seq),
        "name": clean(task.name),
        "content": content_richtext(task, year, month),
        "offices": offices_richtext(task),
        "progress": _paragraphs(prior.progress) if prior else "",
        "problems": _paragraphs(prior.problems) if prior else "",
        "remark": _paragraphs(prior.remark) if prior else "",
    }


def form_context(
    plan: Plan, year: int, month: int, office: Office, token: str, tasks: list[Task], prior: dict[int, Entry]
) -> dict[str, Any]:
    """Everything the template may use (see templates/src/make_progress_form.py)."""
    return {
        "org_name": clean(plan.org_name),
        "plan_title": clean(plan.title),
        "year": year,
        "month": month,
        "span": span_label(month),
        "period": f"{year:04d}-{month:02d}",
        "due_day": plan.due_day,
        "office": clean(office.name),
        "token": token,
        "rows": [_row(t, prior.get(t.id), year, month) for t in tasks],
    }


def form_filename(plan: Plan, year: int, month: int, office: Office) -> str:
    """ "2022年1—6月重点工作进展情况表-基财股.docx" (the office name made safe for any file system, a long
    one shortened with a hash: mailer/common/filenames.py)."""
    name = sanitize_filename(clean(office.name), replacement_text="_") or f"office{office.id}"
    return fit_name(f"{year}年{span_label(month)}重点工作进展情况表-{name}", ".docx")


# --- rendering --------------------------------------------------------------------------------------------------


def _render(prepared: _Prepared, template: Path, context: dict[str, Any], out: Path, token: str) -> None:
    missing = prepared.variables - set(context)
    if missing:
        raise TemplateError(
            f"{template.name} uses {', '.join(sorted(missing))}, which the progress form does not provide. "
            f"Available: {', '.join(sorted(context))}."
        )
    tpl = _PreparedDocxTemplate(prepared)
    try:
        tpl.render(context, jinja_env=prepared.env, autoescape=True)
    except jinja2.TemplateError as e:
        near = "\n".join(getattr(e, "docx_context", []) or [])
        raise TemplateError(f"{template.name}: {e}\nnear:\n{near}") from e
    from docxcompose.properties import CustomProperties

    CustomProperties(tpl.docx)[TOKEN_PROPERTY] = token
    tpl.docx.core_properties.identifier = token
    with atomic_target(out) as tmp:  # the outbox never holds a half-written form, even on a full disk
        tpl.save(str(tmp))


def render_form(
    settings: Settings,
    session: Session,
    plan: Plan,
    year: int,
    month: int,
    office: Office,
    *,
    out_dir: Path | None = None,
) -> RenderedForm:
    """Write ``office``'s pre-filled form for (year, month) into ``outbox/forms/<yyyy-mm>/`` (or ``out_dir``).

    :raises RegistryError: when the office leads no current task of the plan
    :raises TemplateError: when the template is missing, uses variables the form does not provide, or fails
    :raises ConfigError: when the secret key for the token cannot be had
    """
    return _render_one(settings, session, plan, year, month, office, settings.secret_key(), out_dir=out_dir)


def _render_one(
    settings: Settings,
    session: Session,
    plan: Plan,
    year: int,
    month: int,
    office: Office,
    secret: bytes,
    *,
    out_dir: Path | None = None,
    tasks: list[Task] | None = None,
    prior: dict[int, Entry] | None = None,
) -> RenderedForm:
    tasks = lead_tasks(plan, office, period_key(year, month)) if tasks is None else tasks
    if not tasks:
        raise RegistryError(
            f"{office.name} leads no current task of plan {plan.title!r}; there is no form to send."
        )
    template = template_path(settings.templates, TEMPLATE_NAME)
    prepared = _prepare(template)
    token = make_token(secret, plan.id, year, month, office.id)
    if prior is None:
        prior = last_approved_entries(session, plan, office, year, month)
    context = {
        **form_context(plan, year, month, office, token, tasks, prior),
        **instruction_context(session, plan, year, month, office),
    }
    folder = out_dir or settings.outbox / "forms" / f"{year:04d}-{month:02d}"
    out = folder / form_filename(plan, year, month, office)
    _render(prepared, template, context, out, token)
    log.info("Rendered the %04d-%02d form of %s (%d task(s))", year, month, office.name, len(tasks))
    return RenderedForm(out, token, [t.seq for t in tasks], office.id, office.name)


def _lead_map(session: Session, plan: Plan, key_of_period: str | None = None) -> dict[int, list[Task]]:
    """Office id → the tasks it leads, computed once for a whole batch, with every task's offices and
    milestones loaded in three queries rather than three per task."""
    tasks = session.scalars(
        select(Task)
        .where(Task.plan_id == plan.id)
        .options(selectinload(Task.offices).joinedload(TaskOffice.office), selectinload(Task.milestones))
        .order_by(Task.seq)
    ).all()
    out: dict[int, list[Task]] = {}
    for task in tasks:
        if not on_forms(task, key_of_period):
            continue
        for to in task.offices:
            if to.is_lead:
                out.setdefault(to.office_id, []).append(task)
    return out


def render_forms(
    settings: Settings,
    engine: Engine,
    plan: Plan,
    year: int,
    month: int,
    offices: Iterable[Office | int | str] | None = None,
) -> list[RenderedForm]:
    """Render the form of every lead office of ``plan`` (or of ``offices``: objects, ids or names).

    :raises RegistryError: when the plan is gone, an office is unknown or leads no task
    :raises TemplateError: as :func:`render_form`
    """
    secret = settings.secret_key()
    with atomic(engine) as session:
        fresh = session.get(Plan, plan.id)
        if fresh is None:
            raise RegistryError(f"登记库中没有计划“{plan.title}”（编号 {plan.id}）。")
        leads = _lead_map(session, fresh, period_key(year, month))
        chosen = _offices(session, leads, offices)
        prior = approved_entries_by_office(session, fresh, year, month)
        return [
            _render_one(settings, session, fresh, year, month, o, secret, tasks=leads.get(o.id, []),
                        prior=prior.get(o.id, {}))
            for o in chosen
        ]


def _offices(
    session: Session, leads: dict[int, list[Task]], wanted: Iterable[Office | int | str] | None
) -> list[Office]:
    from mailer.registry.offices import find_office

    if wanted is None:
        found = [session.get(Office, oid) for oid in leads]
        return sorted((o for o in found if o is not None), key=lambda o: (leads[o.id][0].seq, o.id))
    out: list[Office] = []
    for w in wanted:
        office = (
            find_office(session, w)
            if isinstance(w, str)
            else session.get(Office, w if isinstance(w, int) else w.id)
        )
        if office is None:
            raise RegistryError(f"登记库中没有股室“{w}”。股室列表见：duban offices")
        out.append(office)
    return out
