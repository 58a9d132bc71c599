"""The 公文 fonts (GB/T 9704-2012): which are installed, and which face stands in for a missing one when
LibreOffice makes the PDF.

With only Noto CJK installed, fontconfig gives every unknown Chinese family the same fallback, so 仿宋 body
text, the 黑体 headings and the 楷体 run-in headings all come out in one face (libraries.md §7). The
fontconfig file written for each conversion maps each missing face to a distinct installed one: serif for
仿宋/小标宋, sans for 黑体, a Kai face for 楷体 when one is installed (Debian: fonts-arphic-ukai). A face
that is installed (the licensed TTFs) is never aliased, since an alias would take precedence over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# The four faces of a 公文 and their kind; the other names Word/WPS templates use map like their main face.
OFFICIAL = {"方正小标宋简体": "serif", "仿宋_GB2312": "serif", "黑体": "sans", "楷体_GB2312": "kai"}
ALSO = {
    "方正小标宋_GBK": "serif",
    "仿宋": "serif",
    "FangSong": "serif",
    "宋体": "serif",
    "SimSun": "serif",
    "SimHei": "sans",
    "楷体": "kai",
    "KaiTi": "kai",
}
CANDIDATES = {
    "serif": ("Noto Serif CJK SC", "Source Han Serif SC", "Source Han Serif CN", "AR PL UMing CN"),
    "sans": ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei"),
    "kai": ("AR PL UKai CN", "AR PL KaitiM GB", "Kaiti SC", "STKaiti"),
}
KIND_CN = {"serif": "宋体类（衬线）", "sans": "黑体类（无衬线）", "kai": "楷体类"}
_TIMEOUT_S = 20


def installed_families() -> set[str]:
    """Every family name fontconfig knows (each font's names in all its languages); empty without fc-list."""
    exe = shutil.which("fc-list")
    if exe is None:
        return set()
    try:
        out = subprocess.run(
            [exe, ":", "family"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


def stand_in(kind: str, families: set[str]) -> str | None:
    """The installed face used for a missing font of ``kind`` (a Kai face falls back to serif)."""
    for name in CANDIDATES[kind]:
        if name in families:
            return name
    return stand_in("serif", families) if kind == "kai" else None


def fontconfig_xml(families: set[str] | None = None) -> str:
    """A fontconfig file: the system configuration plus an alias for each missing 公文 face."""
    families = installed_families() if families is None else families
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
        "<fontconfig>",
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
    ]
    for name, kind in {**OFFICIAL, **ALSO}.items():
        face = stand_in(kind, families)
        if name in families or face is None:
            continue
        lines.append(
            f'  <alias binding="same"><family>{escape(name)}</family>'
            f"<prefer><family>{escape(face)}</family></prefer></alias>"
        )
    lines.append("</fontconfig>")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FontStatus:
    name: str
    kind: str  # serif | sans | kai
    installed: bool
    substitute: str  # what fc-match gives with duban's fontconfig file ("" when installed or unknown)


def font_report() -> list[FontStatus]:
    """For each of the four 公文 faces: installed, or which face the PDF conversion uses instead."""
    families = installed_families()
    exe = shutil.which("fc-match")
    out = []
    with tempfile.TemporaryDirectory(prefix="duban-fc-") as work:
        conf = Path(work) / "fonts.conf"
        conf.write_text(fontconfig_xml(families), encoding="utf-8")
        env = dict(os.environ, FONTCONFIG_FILE=str(conf))
        for name, kind in OFFICIAL.items():
            sub = ""
            if name not in families and exe is not None:
                try:
                    sub = subprocess.run(
                        [exe, "-f", "%{family[0]}", name],
                        capture_output=True,
                        text=True,
                        timeout=_TIMEOUT_S,
                        env=env,
                        check=False,
                    ).stdout.strip()
                except (OSError, subprocess.TimeoutExpired):
                    sub = ""
            out.append(FontStatus(name, kind, name in families, sub))
    return out
