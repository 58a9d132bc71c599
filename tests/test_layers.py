"""Imports flow one way (design.md): leaf utilities ← registry ← documents out / documents in / transports
← the service. Checked on the source, so a wrong-way import fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailer"
# Utilities that import nothing of ours but each other and errors: usable from every layer.
LEAF = {"__init__", "config", "errors", "text", "periods", "tokens", "docxgrid", "wordsymbols", "wordnumbering",
        "templates", "shipped", "files", "logs", "pdf", "pdfkeeper", "labels",
        "proctree", "homelock", "memwatch", "transient", "secretkey", "fonts", "filenames", "templatecheck",
        "mailhead", "holidays", "workdays", "holidayshow", "robotconfig", "keptenv"}
LAYERS = {
    "registry": {"model", "store", "plan_import", "notice_read", "milestones", "directory", "ledger", "status",
                 "offices", "queries", "migrations", "deadlines", "audit", "homeid", "xlsxformulas",
                 "pglock", "regcopy", "regsetup", "lights", "ledger_chart"},
    "documents out": {"forms", "notice", "notice_data", "notice_record", "form_notes", "compose", "noticedate",
                      "robottext"},
    "documents in": {"safety", "parsepool", "formparse", "formcheck", "replies", "mailread", "mailcharset", "htmltext",
                     "authresults", "senders"},
    "transports": {"transport"},
    "service": {"intake", "submissions", "decisions", "outgoing", "cycle", "service", "cli", "checks", "demo",
                "matching", "periodinfo", "__main__", "actions", "handforms", "loops", "sendercheck",
                "uncertain", "deploy", "startgate", "preview", "latestart", "emptynotice", "tickfailures", "oversize", "redelivery", "mailsetup",
                "mailcontext",
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


def test_the_sandboxed_parser_loads_nothing_of_the_registry():
    """mailer.formparse runs inside the sandbox worker (mailer.safety) on untrusted attachments: it must
    not pull in SQLAlchemy or the registry (a bigger attack surface, and memory under the worker's limit)."""
    import subprocess
    import sys

    unwanted = ("sqlalchemy", "mailer.model", "mailer.store", "mailer.queries", "mailer.formcheck", "alembic")
    code = f"import sys, mailer.formparse; print(*[m for m in {unwanted!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("mailer", *parts))


def _is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING")


def _top_level_imports(path: Path, known: set[str]) -> set[str]:
    """Modules of ours that importing ``path`` loads at once: its module-level imports, including those
    inside module-level if/try blocks, but not those under ``if TYPE_CHECKING`` (never run) nor those inside
    functions or classes (lazy imports, run only when called, which is how the few deliberate back
    references are broken — they are excluded from the cycle check by design)."""
    me = _module_of(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                    visit(block)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("mailer"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                if not base.startswith("mailer"):
                    continue
                for a in node.names:
                    out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in out if m in known and m != me}


def test_no_import_cycles():
    """The module import graph of mailer (module-level imports, see _top_level_imports) has no cycle."""
    paths = {_module_of(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    graph = {m: _top_level_imports(p, known) for m, p in paths.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def walk(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append([*stack[stack.index(n):], n])
            elif n not in state:
                walk(n, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [])
    assert [" → ".join(c) for c in cycles] == []


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
