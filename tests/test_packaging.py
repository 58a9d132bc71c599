"""The wheel is complete: built the way `python -m build` builds it (sdist, then a wheel from the sdist),
installed with its dependencies into a fresh virtualenv outside the repository, `duban init` + `duban demo`
publish from it. Marked ``packaging`` (the slow one, ~1 minute: it installs the dependencies); it runs in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import mailer.common.shipped
from mailer.cli import cli

ROOT = Path(__file__).resolve().parent.parent
# What the sdist is made from (the rest of the checkout is the home's folders, tests and docs).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "mailer", "templates", "examples")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "checkout"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # sdist first, through the build backend, as `python -m build` does ...
    code = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    sdist = tmp / "dist" / _run([sys.executable, "-c", code, str(tmp / "dist")], cwd=src).split()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    # ... then the wheel from the unpacked sdist, in pip's isolated build environment.
    unpacked = next((tmp / "unpacked").iterdir())
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(unpacked)], cwd=tmp)
    return next((tmp / "dist").glob("duban-*.whl"))


@pytest.mark.packaging
def test_a_wheel_in_a_fresh_venv_inits_a_home_and_publishes_the_demo(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("mailer/data/templates/progress_form.docx", "mailer/data/templates/consolidated_notice.docx",
                    "mailer/data/templates/mail/form.txt", "mailer/data/examples/notice-2022.docx",
                    "mailer/data/examples/directory-2022.xlsx", "mailer/registry/migrations/script.py.mako",
                    "mailer/web/app.py", "mailer/web/templates/base.html", "mailer/web/templates/report.html",
                    "mailer/web/static/duban.css"):
        assert shipped in names
    assert not any(n.startswith("mailer/data/templates/src/") for n in names)  # generator scripts stay out

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path, timeout=600)

    # Elsewhere, with nothing of the checkout on the path: only the installed wheel can answer.
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DUBAN_HOME", "VIRTUAL_ENV")}
    where = _run([str(bindir / "python"), "-c", "import mailer; print(mailer.__file__)"], cwd=work, env=env)
    assert Path(where.strip()).is_relative_to(venv)

    out = _run([str(bindir / "duban"), "init", "home"], cwd=work, env=env)
    assert (work / "home" / "templates" / "progress_form.docx").is_file(), out
    assert (work / "home" / "templates" / "mail" / "form.txt").is_file(), out
    assert (work / "home" / "registry" / "registry.sqlite3").is_file(), out

    _run([str(bindir / "duban"), "demo", "demo-home"], cwd=work, env=env)
    published = list((work / "demo-home" / "outbox" / "published" / "2022-06").glob("*.docx"))
    assert len(published) == 1 and published[0].stat().st_size > 0


def test_init_without_shipped_templates_fails_and_makes_no_home(tmp_path, monkeypatch):
    # A wheel built without its data: neither the package data nor a checkout beside the package.
    monkeypatch.setattr(mailer.common.shipped, "PACKAGE_DATA", tmp_path / "site-packages" / "mailer" / "data")
    monkeypatch.setattr(mailer.common.shipped, "CHECKOUT", tmp_path / "site-packages")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "h")])
    assert result.exit_code == 1
    where = tmp_path / "site-packages" / "templates"
    assert result.output.strip() == (
        f"错误：duban 安装不完整：{where} 中缺少随程序提供的 progress_form.docx、consolidated_notice.docx、"
        "mail/form.txt。请用完整的安装包重新安装（pip install --force-reinstall duban-*.whl），"
        "或在源代码目录中执行 pip install -e .。"
    )
    assert not (tmp_path / "h").exists()


def test_the_demo_without_shipped_examples_fails_before_making_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(mailer.common.shipped, "PACKAGE_DATA", tmp_path / "site-packages" / "mailer" / "data")
    monkeypatch.setattr(mailer.common.shipped, "CHECKOUT", tmp_path / "site-packages")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "notice-2022.docx、directory-2022.xlsx" in result.output
    assert not (tmp_path / "d").exists()
