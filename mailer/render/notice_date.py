"""The consolidated notice's 成文日期 is the day the signer approved it (GB/T 9704: the date the leader
signs), not the day the draft was assembled. The signer approves a draft; publishing re-dates the copy.

The date line is found as the last body paragraph (outside tables) whose whole text is a date
"YYYY年M月D日", which is where the notice template puts ``{{ issued_on }}`` (right under the issuer); the
bureau's own template keeps working as long as its 成文日期 is a paragraph of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from mailer.common.config import Settings
from mailer.common.errors import ConversionError
from mailer.word.pdf import convert

log = logging.getLogger(__name__)

_DATE = re.compile(r"^\s*\d{4}年\d{1,2}月\d{1,2}日\s*$")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PRINTED = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日印发")


def ymd(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def issued_on_text(docx_path: Path) -> str | None:
    """The 成文日期 line of the notice at ``docx_path`` as written, or None when there is none."""
    import docx

    found = [p.text.strip() for p in docx.Document(str(docx_path)).paragraphs if _DATE.match(p.text)]
    return found[-1] if found else None


def redate_notice(docx_path: Path, day: dt.date) -> bool:
    """Set the notice's 成文日期 to ``day`` in place (written atomically). True when the text changed.

    :raises ValueError: when the notice has no date line to set
    """
    import docx

    document = docx.Document(str(docx_path))
    lines = [p for p in document.paragraphs if _DATE.match(p.text)]
    if not lines:
        raise ValueError(
            f"{docx_path.name}: no paragraph holding only a date (成文日期); the notice template must keep "
            "{{ issued_on }} in a paragraph of its own"
        )
    para, text = lines[-1], ymd(day)
    printed = _set_print_date(document, text)  # the 版记's 印发日期 is the notice's date too
    if para.text.strip() == text and not printed:
        return False
    texts = para._p.findall(f"{_W}r/{_W}t")  # runs directly in the paragraph: the template's own
    if not texts:
        raise ValueError(f"{docx_path.name}: the 成文日期 paragraph has no text run to change")
    texts[0].text = text
    for t in texts[1:]:
        t.text = ""
    tmp = docx_path.with_name(docx_path.name + ".part")
    document.save(str(tmp))
    tmp.replace(docx_path)
    return True


def _set_print_date(document: object, text: str) -> bool:
    """Set the 版记's "YYYY年M月D日印发" (a text of its own in the template's record table) to ``text``.
    True when something changed; a notice without a 版记 is left as it is."""
    changed = False
    body = document.element.body  # type: ignore[attr-defined]
    for t in body.iter(f"{_W}t"):
        if t.text and _PRINTED.search(t.text):
            new = _PRINTED.sub(f"{text}印发", t.text)
            changed |= new != t.text
            t.text = new
    return changed


def redate_published(settings: Settings, files: list[Path], day: dt.date) -> list[Path]:
    """Date the published notice (``files``: .docx first, then its .pdf if any) on ``day``, the sign-off day.

    A PDF made from the draft shows the draft's date, so it is made again; when LibreOffice fails it is
    removed rather than published with another date than the .docx.

    :returns: the published files, .docx first
    """
    docx_path = files[0]
    if not redate_notice(docx_path, day):
        return files
    pdfs = [f for f in files[1:] if f.suffix == ".pdf"]
    if not pdfs:
        return files
    for f in pdfs:
        f.unlink(missing_ok=True)
    try:
        made = convert(
            docx_path,
            docx_path.parent,
            "pdf",
            soffice=settings.service.libreoffice,
            timeout=settings.service.pdf_timeout_s,
        )
    except ConversionError as e:
        log.warning("Published %s without a PDF: re-dating needs a new one and %s", docx_path.name, e)
        return [docx_path]
    return [docx_path, made]
