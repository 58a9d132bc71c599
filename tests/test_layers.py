"""Imports flow one way (design.md): leaf utilities ← registry ← documents out / documents in / transports
← the service. Checked on the source, so a wrong-way import fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailer"
# Utilities that import nothing of ours but each other and errors: usable from every layer.
LEAF = {"__init__", "config", "errors", "text", "periods", "tokens", "docxgrid", "wordsymbols", "wordnumbering",
        "templates", "shipped", "files", "logs", "pdf", "labels",
        "proctree", "homelock", "memwatch", "transient", "secretkey", "fonts", "filenames", "templatecheck",
        "mailhead", "holidays", "workdays", "holidayshow", "robotconfig"}
LAYERS = {
    "registry": {"model", "store", "plan_import", "notice_read", "milestones", "directory", "ledger", "status",
                 "offices", "queries", "migrations", "deadlines", "audit", "homeid", "xlsxformulas",
                 "pglock", "regcopy", "regsetup", "lights", "ledger_chart"},
    "documents out": {"forms", "notice", "notice_data", "notice_record", "form_notes", "compose", "noticedate",
                      "robottext"},
    "documents in": {"safety", "formparse", "formcheck", "replies", "mailread", "mailcharset", "htmltext",
                     "authresults", "senders"},
    "transports": {"transport"},
    "service": {"intake", "submissions", "decisions", "outgoing", "cycle", "service", "cli", "checks", "demo",
                "matching", "periodinfo", "__main__", "actions", "handforms", "loops", "sendercheck",
                "uncertain", "deploy", "startgate", "preview", "latestart", "emptynotice", "tickfailures", "oversize", "redelivery", "mailsetup",
                "robots",
                # The web console: a top layer beside cli (it may import anything; only cli and the
                # service start it).
                "web"},
}
RANK = {"leaf": 0, "registry": 1, "documents out": 2, "documents in": 2, "transports": 2, "service": 3}


def layer_of(module: str) -> str:
    top = module.split(".")[1] if "." in module else "__init__"
    if top in LEAF:
        return "leaf"
    return next(name for name, members in LAYERS.items() if top in members)


def imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailer"):
            out += [node.module] if node.module != "mailer" else [f"mailer.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("mailer.")]
    return out


def test_every_module_belongs_to_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of("mailer." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))


def test_imports_flow_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = layer_of("mailer." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for target in imports(path):
            if target == "mailer.__version__":
                continue
            them = layer_of(target)
            if (me == "leaf" and them != "leaf") or (them != me and RANK[them] >= RANK[me]):
                wrong.append(f"{path.name} ({me}) → {target} ({them})")
    assert wrong == []


def test_exchangelib_is_not_imported_at_cli_start():
    import subprocess
    import sys

    heavy = ("exchangelib", "msal", "docxtpl", "sqlalchemy", "dkim", "tomlkit")
    code = f"import sys, mailer.cli; print(*[m in sys.modules for m in {heavy!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert dict(zip(heavy, out, strict=True)) == dict.fromkeys(heavy, "False")


# What the registry commands may not import: the documents' and transports' libraries, the web console's, and
# Alembic (a registry already at the newest revision is opened without it). `duban status` alone may read the
# holiday calendar (its lights count working days).
REGISTRY_COMMANDS = [["tasks"], ["offices"], ["inbox", "list"], ["outbox", "list"], ["audit"], ["status"]]
NOT_AT_REGISTRY_COMMANDS = ("alembic", "mako", "docx", "docxtpl", "docxcompose", "openpyxl", "lxml", "jinja2",
                            "exchangelib", "msal", "starlette", "dkim", "tomlkit", "imapclient", "tqdm",
                            "mailer.cycle", "mailer.compose", "mailer.forms", "mailer.transport.webhook")


def test_registry_commands_import_neither_alembic_nor_the_document_libraries(sent_home):
    import json
    import subprocess
    import sys

    code = f"""
import json, sys
from mailer.cli import cli
heavy = {NOT_AT_REGISTRY_COMMANDS!r}
for argv in {REGISTRY_COMMANDS!r}:
    cli.main(["--home", {str(sent_home.home)!r}, *argv], standalone_mode=False)
    print("LOADED " + json.dumps([" ".join(argv), [m for m in heavy if m in sys.modules]]), file=sys.stderr)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = dict(json.loads(x[7:]) for x in out.stderr.splitlines() if x.startswith("LOADED "))
    assert loaded == {" ".join(a): [] for a in REGISTRY_COMMANDS}
    assert "2022年1—6月" in out.stdout  # status did show the period: the commands ran on a home with data
