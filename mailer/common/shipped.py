"""Where the files shipped with duban are: the default templates and the June 2022 examples.

An installed wheel carries them as package data in ``mailer/data/`` (copied there at build time by
``setup.py``, so git keeps one copy); a source checkout (editable install) uses the repository's top-level
``templates/`` and ``examples/``, which are the canonical copies.
"""

from __future__ import annotations

from pathlib import Path

from mailer.common.errors import TemplateError

# This module is mailer/common/shipped.py: the package is two folders up, the checkout three.
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"
CHECKOUT = Path(__file__).resolve().parents[2]

# What a usable set of shipped templates must hold (the rest is checked by `duban check`).
REQUIRED_TEMPLATES = ("progress_form.docx", "consolidated_notice.docx", "mail/form.txt")
REQUIRED_EXAMPLES = ("notice-2022.docx", "directory-2022.xlsx")


def shipped_dir(name: str) -> Path:
    """``name`` ("templates" or "examples") from the package data, else from the source checkout."""
    packaged = PACKAGE_DATA / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def _require(name: str, required: tuple[str, ...]) -> Path:
    where = shipped_dir(name)
    missing = [f for f in required if not (where / f).is_file()]
    if missing:
        raise TemplateError(
            f"duban 安装不完整：{where} 中缺少随程序提供的 {'、'.join(missing)}。"
            f"请用完整的安装包重新安装（pip install --force-reinstall duban-*.whl），"
            f"或在源代码目录中执行 pip install -e .。"
        )
    return where


def require_templates() -> Path:
    """The shipped templates folder.

    :raises TemplateError: when the installation carries no templates (a wheel built without them)
    """
    return _require("templates", REQUIRED_TEMPLATES)


def require_examples() -> Path:
    """The shipped examples folder (the 2022 notice and directory the demo imports).

    :raises TemplateError: when the installation carries no examples
    """
    return _require("examples", REQUIRED_EXAMPLES)
