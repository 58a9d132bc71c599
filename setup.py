"""Build hook: the wheel carries the default templates and the examples as package data.

The canonical copies stay at the repository's top level (``templates/``, ``examples/``: the repository is
itself a duban home, design.md); building copies them into ``mailer/data/`` inside the build directory
only, so git holds one copy and an editable install keeps reading the top-level folders. Everything else
is in pyproject.toml. ``MANIFEST.in`` puts both folders into the sdist, so a wheel built from the sdist
(what ``python -m build`` does) has them too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# templates/src holds the generator scripts of the .docx templates: code for developers, not data.
SHIPPED = {"templates": ("src",), "examples": ()}


def _ignore(top: Path, skip: tuple[str, ...]) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        at_top = Path(folder).resolve() == top
        return {n for n in names if n.startswith((".", "__")) or n.endswith(".pyc") or (at_top and n in skip)}

    return ignore


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable installs read the checkout's folders directly (mailer.common.shipped)
        for name, skip in SHIPPED.items():
            src = HERE / name
            if not src.is_dir():
                raise SystemExit(f"setup.py: {src} is missing; the wheel would ship without {name}/.")
            dest = Path(self.build_lib) / "mailer" / "data" / name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest, ignore=_ignore(src.resolve(), skip))


setup(cmdclass={"build_py": BuildPyWithData})
