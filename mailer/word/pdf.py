"""LibreOffice conversions (docx → pdf, doc/wps → docx), one private profile per run.

Parallel soffice runs sharing a profile fail silently (rc=1, no output), so every conversion gets its own
``-env:UserInstallation``; the process group is killed on timeout; the output must exist and be non-empty.
A fontconfig file (mailer/word/fonts.py) maps each missing 公文 face to a distinct installed one: 仿宋_GB2312 /
方正小标宋简体 to a serif CJK face, 黑体 to a sans one, 楷体_GB2312 to a Kai face when there is one.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from mailer.common.errors import ConversionError
from mailer.common.files import atomic_target
from mailer.common.proctree import group_kwargs, kill_tree
from mailer.word.fonts import fontconfig_xml

log = logging.getLogger(__name__)



# LibreOffice loads what a document links to (an .odt's or a .doc's linked picture is fetched over HTTP
# while converting, seen here), so a hostile attachment could make the service call any address, or hold a
# conversion until its timeout. Its fetches go through libcurl, and a fresh profile takes its proxy from the
# environment: every proxy variable points at the loopback's discard port, where they fail at once.
_DEAD_PROXY = "http://127.0.0.1:9"
OFFLINE = {var: _DEAD_PROXY for var in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "HTTP_PROXY",
                                        "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY")} | {"no_proxy": "", "NO_PROXY": ""}


def find_soffice(configured: str = "soffice") -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    for name in (configured, "soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return None


def convert(src: Path, out_dir: Path, target: str = "pdf", *, soffice: str = "soffice", timeout: int = 120) -> Path:
    """Convert ``src`` with LibreOffice into ``out_dir`` (``target``: "pdf" or "docx"); returns the new file.

    :raises ConversionError: when LibreOffice is absent, times out, or writes nothing, or a .docx/.xlsx
        source is not a zip package
    """
    # LibreOffice "converts" a text file named .docx as plain text with rc=0: refuse what is not a package.
    if src.suffix.lower() in (".docx", ".docm", ".xlsx") and not zipfile.is_zipfile(src):
        raise ConversionError(
            f"{src.name} is not an Office Open XML file (not a zip package); not converted."
        )
    exe = find_soffice(soffice)
    if exe is None:
        raise ConversionError(
            "LibreOffice (soffice) is not installed, so "
            f"{src.name} cannot be converted to {target}. Install it (Debian: apt-get install "
            "libreoffice-writer-nogui fonts-noto-cjk) or set service.libreoffice in duban.toml."
        )
    work = Path(tempfile.mkdtemp(prefix="duban-lo-"))
    try:
        (work / "fonts.conf").write_text(fontconfig_xml(), encoding="utf-8")
        env = dict(os.environ, HOME=str(work / "home"), FONTCONFIG_FILE=str(work / "fonts.conf"), **OFFLINE)
        # The source is copied under an ASCII name: LibreOffice's output name follows the input's.
        suffix = src.suffix.lower() or ".docx"
        staged = work / f"in{suffix}"
        shutil.copyfile(src, staged)
        filt = "docx:MS Word 2007 XML" if target == "docx" else target
        # as_uri(): file:///tmp/... on POSIX, file:///C:/... on Windows (file://C:\... is no URL).
        cmd = [exe, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--norestore",
               "--nolockcheck", "--nodefault", "--convert-to", filt, "--outdir", str(work / "out"), str(staged)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **group_kwargs())
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            kill_tree(proc)
            proc.communicate()
            raise ConversionError(f"LibreOffice took longer than {timeout}s converting {src.name}; stopped.") from e
        out = work / "out" / f"in.{target}"
        if proc.returncode or not out.exists() or out.stat().st_size == 0:
            msg = err.decode(errors="replace").strip()[-500:]
            raise ConversionError(f"LibreOffice could not convert {src.name} to {target} (rc={proc.returncode}) {msg}")
        return deliver(out, out_dir, src, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def deliver(out: Path, out_dir: Path, src: Path, target: str) -> Path:
    """Move LibreOffice's output ``out`` to ``out_dir/<src's stem>.<target>``, whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{src.stem}.{target}"
    with atomic_target(dest) as tmp:
        shutil.move(str(out), tmp)
    return dest
