"""The flat layout of mailer/ before the house by layers (issue 11), for benches measuring an older commit.

Benches import today's names (``mailer.registry.store``); a baseline commit has them flat (``mailer.store``).
:func:`install` makes the new names import the old modules, so one bench file measures both commits.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

NEW_TO_OLD: dict[str, str] = {
    # common
    "mailer.common.config": "mailer.config",
    "mailer.common.errors": "mailer.errors",
    "mailer.common.filenames": "mailer.filenames",
    "mailer.common.files": "mailer.files",
    "mailer.common.holidays": "mailer.holidays",
    "mailer.common.holidayshow": "mailer.holidayshow",
    "mailer.common.homelock": "mailer.homelock",
    "mailer.common.keptenv": "mailer.keptenv",
    "mailer.common.labels": "mailer.labels",
    "mailer.common.logs": "mailer.logs",
    "mailer.common.mailhead": "mailer.mailhead",
    "mailer.common.memwatch": "mailer.memwatch",
    "mailer.common.periods": "mailer.periods",
    "mailer.common.proctree": "mailer.proctree",
    "mailer.common.robotconfig": "mailer.robotconfig",
    "mailer.common.secretkey": "mailer.secretkey",
    "mailer.common.shipped": "mailer.shipped",
    "mailer.common.templatecheck": "mailer.templatecheck",
    "mailer.common.templates": "mailer.templates",
    "mailer.common.text": "mailer.text",
    "mailer.common.tokens": "mailer.tokens",
    "mailer.common.transient": "mailer.transient",
    "mailer.common.workdays": "mailer.workdays",
    # word
    "mailer.word.fonts": "mailer.fonts",
    "mailer.word.grid": "mailer.docxgrid",
    "mailer.word.numbering": "mailer.wordnumbering",
    "mailer.word.pdf": "mailer.pdf",
    "mailer.word.pdfkeeper": "mailer.pdfkeeper",
    "mailer.word.symbols": "mailer.wordsymbols",
    # registry
    "mailer.registry.audit": "mailer.audit",
    "mailer.registry.copying": "mailer.regcopy",
    "mailer.registry.deadlines": "mailer.deadlines",
    "mailer.registry.homeid": "mailer.homeid",
    "mailer.registry.latestart": "mailer.latestart",
    "mailer.registry.location": "mailer.regsetup",
    "mailer.registry.migrations": "mailer.migrations",
    "mailer.registry.model": "mailer.model",
    "mailer.registry.offices": "mailer.offices",
    "mailer.registry.periodfacts": "mailer.periodinfo",
    "mailer.registry.pglock": "mailer.pglock",
    "mailer.registry.queries": "mailer.queries",
    "mailer.registry.status": "mailer.status",
    "mailer.registry.store": "mailer.store",
    "mailer.registry.tickfailures": "mailer.tickfailures",
    # plan
    "mailer.plan.directory": "mailer.directory",
    "mailer.plan.importer": "mailer.plan_import",
    "mailer.plan.milestones": "mailer.milestones",
    "mailer.plan.plan_read": "mailer.notice_read",
    "mailer.plan.xlsxformulas": "mailer.xlsxformulas",
    # read
    "mailer.read.authresults": "mailer.authresults",
    "mailer.read.formcheck": "mailer.formcheck",
    "mailer.read.formparse": "mailer.formparse",
    "mailer.read.htmltext": "mailer.htmltext",
    "mailer.read.mailcharset": "mailer.mailcharset",
    "mailer.read.mailread": "mailer.mailread",
    "mailer.read.parsepool": "mailer.parsepool",
    "mailer.read.replies": "mailer.replies",
    "mailer.read.safety": "mailer.safety",
    "mailer.read.senders": "mailer.senders",
    # render
    "mailer.render.compose": "mailer.compose",
    "mailer.render.form_notes": "mailer.form_notes",
    "mailer.render.forms": "mailer.forms",
    "mailer.render.ledger": "mailer.ledger",
    "mailer.render.ledger_chart": "mailer.ledger_chart",
    "mailer.render.lights": "mailer.lights",
    "mailer.render.mailcontext": "mailer.mailcontext",
    "mailer.render.notice": "mailer.notice",
    "mailer.render.notice_data": "mailer.notice_data",
    "mailer.render.notice_date": "mailer.noticedate",
    "mailer.render.notice_record": "mailer.notice_record",
    "mailer.render.robottext": "mailer.robottext",
    # service
    "mailer.service.actions": "mailer.actions",
    "mailer.service.checks": "mailer.checks",
    "mailer.service.cycle": "mailer.cycle",
    "mailer.service.daemon": "mailer.service",
    "mailer.service.decisions": "mailer.decisions",
    "mailer.service.demo": "mailer.demo",
    "mailer.service.deploy": "mailer.deploy",
    "mailer.service.emptynotice": "mailer.emptynotice",
    "mailer.service.handforms": "mailer.handforms",
    "mailer.service.intake": "mailer.intake",
    "mailer.service.loops": "mailer.loops",
    "mailer.service.mailsetup": "mailer.mailsetup",
    "mailer.service.matching": "mailer.matching",
    "mailer.service.outgoing": "mailer.outgoing",
    "mailer.service.oversize": "mailer.oversize",
    "mailer.service.preview": "mailer.preview",
    "mailer.service.redelivery": "mailer.redelivery",
    "mailer.service.robots": "mailer.robots",
    "mailer.service.sendercheck": "mailer.sendercheck",
    "mailer.service.startgate": "mailer.startgate",
    "mailer.service.submissions": "mailer.submissions",
    "mailer.service.uncertain": "mailer.uncertain",
}
PACKAGES = {name.rsplit(".", 1)[0] for name in NEW_TO_OLD}


class _OldLayout(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name in PACKAGES:
            return importlib.util.spec_from_loader(name, self, is_package=True)
        if name in NEW_TO_OLD or name.startswith("mailer.registry.migrations"):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        if spec.name in PACKAGES:
            return None  # an empty package module
        old = NEW_TO_OLD.get(spec.name) or spec.name.replace("mailer.registry.migrations", "mailer.migrations")
        return importlib.import_module(old)  # the old module itself, under its new name too

    def exec_module(self, module: ModuleType) -> None:
        if module.__name__ in PACKAGES:
            module.__path__ = []


def install() -> None:
    """Old modules under new names, when the tree on the path has the flat layout."""
    import mailer

    if not (__import__("pathlib").Path(mailer.__file__).parent / "common").is_dir():
        sys.meta_path.insert(0, _OldLayout())
