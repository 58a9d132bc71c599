"""Regenerate the README's pictures from real output: run the demo in a temporary home, convert the
pre-filled form and the published notice with LibreOffice (→ PDF → PNG with pdftoppm), and save the status
table as text.

    .venv/bin/python docs/make_pictures.py
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from mailer.service.demo import run_demo
from mailer.word.pdf import convert

OUT = Path(__file__).resolve().parent / "images"


def png(pdf: Path, page: int, name: str, dpi: int = 70) -> Path:
    target = OUT / name
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile",
                    str(pdf), str(target.with_suffix(""))], check=True)
    return target


def _page_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(Path(tmp) / "demo")
        forms = sorted((result.home / "outbox" / "forms").rglob("*基财股.docx"))
        form_pdf = convert(forms[0], Path(tmp) / "pdf")
        png(form_pdf, 1, "form.png")
        notice_pdf = next((result.home / "outbox" / "published").rglob("*.pdf"))
        pages = int(next(line.split()[-1] for line in subprocess.run(
            ["pdfinfo", str(notice_pdf)], capture_output=True, text=True, check=True).stdout.splitlines()
            if line.startswith("Pages:")))
        png(notice_pdf, 1, "notice-page1.png")
        annex = next(p for p in range(1, pages + 1) if _page_text(notice_pdf, p).lstrip().startswith("附件"))
        png(notice_pdf, annex, "notice-annex.png")
        (OUT / "status.txt").write_text(result.status_table + "\n", encoding="utf-8")
    print(f"pictures written to {OUT}")


if __name__ == "__main__":
    main()
