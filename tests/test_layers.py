"""The house by layers (issue 11, design.md): mailer/ holds one package per room, and imports flow one way
between rooms. Checked on the source, so a wrong-way import fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailer"
# Each room of the house and the rooms it may import from (besides itself). The order is the architecture:
# common ← word, registry, transport ← plan, read ← render ← service ← web, cli. `mailer` itself
# (``__version__``) counts as common.
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "word": {"common"},
    "registry": {"common"},
    "transport": {"common"},
    "plan": {"common", "word", "registry"},
    "read": {"common", "word", "registry"},
    "render": {"common", "word", "registry", "plan"},
    "service": {"common", "word", "registry", "plan", "read", "render", "transport"},
    # The web console: a top layer beside cli; `duban serve` hands its factory to the service.
    "web": {"common", "word", "registry", "plan", "read", "render", "transport", "service"},
    "cli": {"common", "word", "registry", "plan", "read", "render", "transport", "service", "web"},
    "__main__": {"cli"},
}


def package_of(module: str) -> str:
    """``mailer.registry.store`` → ``registry``; ``mailer`` and ``mailer.__version__`` → ``common``."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__init__", "__version__"):
        return "common"
    return parts[1]


def imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailer"):
            out += [node.module] if node.module != "mailer" else [f"mailer.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("mailer.")]
    return out


def test_every_module_lives_in_a_room():
    """No flat module beside the packages but the package's own __init__ and __main__."""
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert loose == []
    assert rooms == set(ALLOWED) - {"__main__"}


def test_imports_flow_one_way():
    """Every import, lazy ones inside functions included, goes to the room itself or one it may use."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.parts[0] if len(rel.parts) > 1 else ("__main__" if rel.stem == "__main__" else "common")
        for target in imports(path):
            them = package_of(target)
            if them != me and them not in ALLOWED[me]:
                wrong.append(f"{rel} ({me}) → {target} ({them})")
    assert wrong == []


def test_the_rule_catches_a_wrong_way_import(tmp_path):
    """The check above can fail: the registry importing the service is named."""
    bad = tmp_path / "mailer" / "registry" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from mailer.service.cycle import run_once\n", encoding="utf-8")
    assert [package_of(t) for t in imports(bad)] == ["service"]
    assert "service" not in ALLOWED["registry"]


def test_exchangelib_is_not_imported_at_cli_start():
    import subprocess
    import sys

    heavy = ("exchangelib", "msal", "docxtpl", "sqlalchemy", "dkim", "tomlkit")
    code = f"import sys, mailer.cli; print(*[m in sys.modules for m in {heavy!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert dict(zip(heavy, out, strict=True)) == dict.fromkeys(heavy, "False")


def test_the_sandboxed_parser_loads_nothing_of_the_registry():
    """mailer.read.formparse runs inside the sandbox worker (mailer.read.safety) on untrusted attachments: it must
    not pull in SQLAlchemy or the registry (a bigger attack surface, and memory under the worker's limit)."""
    import subprocess
    import sys

    unwanted = ("sqlalchemy", "mailer.registry.model", "mailer.registry.store", "mailer.registry.queries", "mailer.read.formcheck", "alembic")
    code = f"import sys, mailer.read.formparse; print(*[m for m in {unwanted!r} if m in sys.modules])"
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
                            "mailer.service.cycle", "mailer.render.compose", "mailer.render.forms", "mailer.transport.webhook")


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
