"""The bureau's templates: shipped defaults in the package, copied into a home's templates/ by init.

The repository's own ``templates/`` is the source of the defaults (a wheel carries a copy as package data,
see ``mailer.common.shipped``); a home's copy can be edited or replaced without touching code (design principle 7).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mailer.common.shipped import require_templates, shipped_dir


def default_templates_dir() -> Path:
    """Where the shipped templates are: the package data, or the repository's templates/ in a checkout."""
    return shipped_dir("templates")


def install_default_templates(target: Path) -> list[str]:
    """Copy every shipped template missing from ``target`` (mail templates included); never overwrite the
    bureau's own. The generator scripts in ``src/`` stay with the code.

    :raises TemplateError: when the installation carries no templates (nothing is created then)
    """
    src = require_templates()
    target.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    if src.resolve() == target.resolve():
        return copied
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        if not f.is_file() or rel.parts[0] == "src" or any(p.startswith((".", "__")) for p in rel.parts):
            continue
        dest = target / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
            copied.append(rel.as_posix())
    return copied


def template_path(templates_dir: Path, name: str) -> Path:
    """The home's template if present, else the shipped default."""
    own = templates_dir / name
    return own if own.exists() else default_templates_dir() / name
