"""Convert a long document of duban's own to PDF in parts, with several kept LibreOffices at once.

LibreOffice converts a document on one CPU, and the 20,000-row notice needed ~180 s of it, past the default
120 s timeout. A document marked for it (:func:`mailer.word.docxparts.mark_part_start`: the notice's annex
starts a new page every ``PART_ROWS`` rows) is cut there into part documents (:func:`docxparts.split`), and
a pool of kept LibreOffices (:func:`mailer.word.pdfkeeper.kept_offices`, one per CPU unless configured)
converts them at the same time:

1. each instance takes the next part in order, loads it and lays it out: its page count;
2. once the parts before it are counted, it numbers the part's pages on from them (the first paragraph's
   page number offset: footers, and left/right pages, follow) and exports it;
3. the part PDFs are joined in order (pypdf).

A page break at every cut makes the parts' pages the document's: the joined PDF has the pages, footers and
rows that converting the document whole gives (tests/test_pdf_parallel.py compares them). The timeout is
the whole conversion's; when any part fails or time runs out, the instances still converting are stopped
and no PDF is written, as when the whole document fails.

Only for duban's own documents, as :mod:`mailer.word.pdfkeeper`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from mailer.common.errors import ConversionError
from mailer.common.files import atomic_target
from mailer.word.docxparts import PART_MARK, PartsError, split
from mailer.word.pdfkeeper import CancelledError, KeptOffice, convert_own, kept_offices

log = logging.getLogger(__name__)


def instances(configured: int) -> int:
    """How many LibreOffices convert parts at once: ``configured``, or one per CPU this process may use
    for 0."""
    if configured > 0:
        return configured
    if hasattr(os, "sched_getaffinity"):  # Linux: the CPUs the process may run on, not the machine's
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def marked(src: Path) -> bool:
    """Whether ``src`` is a .docx with part marks (a quick look at its text, before parsing it)."""
    try:
        with zipfile.ZipFile(src) as z:
            return PART_MARK.encode() in z.read("word/document.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def convert_long(src: Path, out_dir: Path, *, soffice: str = "soffice", timeout: int = 120,
                 parts: int = 0) -> Path:
    """Convert ``src`` (duban's own .docx) to ``out_dir/<stem>.pdf``: in parts at once when it is marked for
    it and more than one instance is allowed (``parts``: 0 = one per CPU), else whole through
    :func:`mailer.word.pdfkeeper.convert_own`. Same contract as that function.

    :raises ConversionError: when a part fails or the whole conversion exceeds ``timeout``
    """
    count = instances(parts)
    offices = kept_offices(count, soffice) if count > 1 and marked(src) else None
    if offices is None:
        return convert_own(src, out_dir, "pdf", soffice=soffice, timeout=timeout)
    deadline = time.monotonic() + timeout
    work = Path(tempfile.mkdtemp(prefix="duban-pdfparts-"))
    try:
        started = time.monotonic()
        # Every marked run its own part: LibreOffice's cost per page grows with the document's length, so
        # parts shorter than the share of one instance cost less CPU in all (docs/readme/pdf2.md).
        try:
            docs = split(src, work, 1 << 30)
        except PartsError as e:
            log.info("Converting %s whole: %s", src.name, e)
            left = max(1, int(deadline - time.monotonic()))
            return convert_own(src, out_dir, "pdf", soffice=soffice, timeout=left)
        log.info("Converting %s in %d parts with %d LibreOffices (split in %.1fs)", src.name, len(docs),
                 min(count, len(docs)), time.monotonic() - started)
        pdfs = _convert_parts(docs, offices[: len(docs)], deadline, timeout, src.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{src.stem}.pdf"
        joined = time.monotonic()
        with atomic_target(dest) as tmp:
            join(pdfs, tmp)
            if time.monotonic() > deadline:  # the timeout is the whole conversion's, the join's too
                raise ConversionError(f"LibreOffice took longer than {timeout}s converting {src.name}; stopped.")
        log.info("Converted %s in %.1fs (joined in %.1fs)", src.name, time.monotonic() - started,
                 time.monotonic() - joined)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)
        # A long notice is a monthly event: the service keeps one LibreOffice (as before), not one per CPU
        # idling at 200-450 MB each until it stops. The others start again with the next long document.
        for office in offices[1:]:
            office.stop()


def _convert_parts(docs: list[Path], offices: list[KeptOffice], deadline: float, timeout: int,
                   name: str) -> list[tuple[Path, int]]:
    """Each part's PDF and the pages it was laid out with."""
    pages: dict[int, int] = {}
    errors: list[BaseException] = []
    cancel = threading.Event()
    state = threading.Condition()
    queue = iter(range(len(docs)))

    def offset_for(i: int) -> int | None:
        """1 + the pages before part ``i``, once all are counted; None when the conversion is abandoned."""
        with state:
            while not all(j in pages for j in range(i)):
                if cancel.is_set() or not state.wait(timeout=max(0.0, deadline - time.monotonic())):
                    return None
            return 1 + sum(pages[j] for j in range(i))

    def work(office: KeptOffice) -> None:
        with office.lock:
            while not cancel.is_set():
                with state:
                    i = next(queue, None)
                if i is None:
                    return
                try:
                    t0 = time.monotonic()
                    counted = office.load_part(docs[i], deadline, cancel)
                    t1 = time.monotonic()
                    with state:
                        pages[i] = counted
                        state.notify_all()
                    offset = offset_for(i) if i else None
                    if i and offset is None:
                        if not cancel.is_set():
                            raise TimeoutError
                        office.stop()  # the part stays loaded: a fresh instance next time
                        return
                    # An even first page number makes LibreOffice put a blank page before the part's first
                    # (a left) page; the PDF export leaves automatically inserted blank pages out, as it does
                    # converting the whole document. join() checks the pages that came out.
                    t2 = time.monotonic()
                    office.export_part(docs[i].with_suffix(".pdf"), offset, deadline, cancel)
                    log.debug("Part %d of %s: %d pages, laid out in %.1fs, waited %.1fs, exported in %.1fs", i,
                              name, counted, t1 - t0, t2 - t1, time.monotonic() - t2)
                except CancelledError:
                    return
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    with state:
                        errors.append(e)
                        cancel.set()
                        state.notify_all()
                    return

    threads = [threading.Thread(target=work, args=(office,), name=f"pdfpart-{k}", daemon=True)
               for k, office in enumerate(offices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        e = errors[0]
        if isinstance(e, TimeoutError):
            raise ConversionError(f"LibreOffice took longer than {timeout}s converting {name}; stopped.") from e
        if isinstance(e, ConversionError):
            raise e
        raise ConversionError(f"LibreOffice (kept) failed converting {name}: {e!r}") from e
    return [(d.with_suffix(".pdf"), pages[i]) for i, d in enumerate(docs)]


def join(pdfs: list[tuple[Path, int]], dest: Path) -> None:
    """The PDFs one after the other into ``dest``. Each but the last must have the pages it was laid out
    with (the next part's numbers were counted from them)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for k, (pdf, laid_out) in enumerate(pdfs):
        reader = PdfReader(str(pdf))
        if k < len(pdfs) - 1 and len(reader.pages) != laid_out:
            raise ConversionError(f"part {k} of the document came out with {len(reader.pages)} pages, laid out "
                                  f"with {laid_out}: the page numbers after it would be wrong")
        writer.append(reader)
    with dest.open("wb") as f:
        writer.write(f)
