"""A LibreOffice kept running for converting duban's OWN documents (the consolidated notice) to PDF.

Starting soffice costs 1.3–3.2 s of every conversion; a notice is converted again for every draft. One
headless soffice with its own profile listens on a private pipe, and a small driver process (a Python that
can import ``uno`` — Debian's python3-uno is for the system ``/usr/bin/python3``, not for a virtualenv) loads
each document hidden and read-only, stores it as PDF and closes it. The driver and soffice share one
process group: a conversion that exceeds its timeout kills both (as :func:`mailer.word.pdf.convert` kills its
soffice) and the next conversion starts a fresh pair; so does one finding them dead.

**Only for documents duban generated itself.** A kept process serves many documents: a hostile document
could leave state behind (a macro-less but crafted file crashing or wedging the instance, linked content
cached in the profile). Untrusted input — returned forms in .doc/.odt/.wps, imported plans — keeps going
through :func:`mailer.word.pdf.convert`, one fresh process and profile per conversion. When no Python with
``uno`` is found, :func:`convert_own` falls back to that per-conversion path.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from mailer.common.errors import ConversionError
from mailer.common.proctree import group_kwargs, kill_tree
from mailer.word.fonts import fontconfig_xml
from mailer.word.pdf import OFFLINE, convert, deliver, find_soffice

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60  # soffice's first start with a fresh profile

# The driver: run by a Python that has ``uno``; talks JSON lines on stdin/stdout. Kept as text here (not a
# module of the package) because it runs outside duban's interpreter and imports nothing of it.
_DRIVER = r'''
import json, os, subprocess, sys, time
import uno
from com.sun.star.beans import PropertyValue

def prop(name, value):
    p = PropertyValue(); p.Name = name; p.Value = value; return p

soffice, profile, pipe = sys.argv[1:4]
office = subprocess.Popen([soffice, "-env:UserInstallation=" + profile, "--headless", "--invisible",
                           "--norestore", "--nolockcheck", "--nodefault", "--nologo",
                           "--accept=pipe,name=%s;urp;StarOffice.ComponentContext" % pipe],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
deadline = time.monotonic() + float(sys.argv[4])
while True:
    try:
        ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        break
    except Exception:
        if office.poll() is not None or time.monotonic() > deadline:
            print("FAIL soffice did not start", flush=True); sys.exit(1)
        time.sleep(0.1)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
# soffice is a script starting oosplash, which starts soffice.bin: report the pid that does the work.
def descendants(root):
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            kids.setdefault(int(fields[1]), []).append((int(entry), stat[stat.index("(") + 1:stat.rindex(")")]))
    out, todo = [], [root]
    while todo:
        for pid, name in kids.get(todo.pop(), []):
            out.append((pid, name)); todo.append(pid)
    return out
pid = next((p for p, name in descendants(office.pid) if name.startswith("soffice.bin")), office.pid)
print("READY %d" % pid, flush=True)
held = None  # a part document loaded by "load", waiting for its "export" (mailer/word/pdfparallel.py)

def drop():
    global held
    if held is not None:
        try:
            held.close(True)
        except Exception:
            pass
    held = None

for line in sys.stdin:
    req = json.loads(line)
    op = req.get("op")
    if op == "load":  # load and lay out a part; its page count goes back; it stays open for "export"
        drop()
        try:
            held = desktop.loadComponentFromURL(uno.systemPathToFileUrl(req["src"]), "_blank", 0,
                                                (prop("Hidden", True), prop("ReadOnly", True)))
            if held is None:
                raise RuntimeError("LibreOffice could not open the document")
            print("PAGES %d" % held.getCurrentController().getPropertyValue("PageCount"), flush=True)
        except Exception as e:
            drop()
            print("ERR " + str(e).replace("\n", " ")[:500], flush=True)
        continue
    if op == "export":  # number the held part's pages from "offset" on, export it, close it
        try:
            if held is None:
                raise RuntimeError("no document loaded")
            if req.get("offset"):
                first = held.Text.createEnumeration().nextElement()
                if not first.supportsService("com.sun.star.text.Paragraph"):
                    raise RuntimeError("the part does not start with a paragraph")
                first.PageNumberOffset = int(req["offset"])
            pages = held.getCurrentController().getPropertyValue("PageCount")
            held.storeToURL(uno.systemPathToFileUrl(req["dst"]), (prop("FilterName", req["filter"]),))
            print("OK %d" % pages, flush=True)
        except Exception as e:
            print("ERR " + str(e).replace("\n", " ")[:500], flush=True)
        finally:
            drop()
        continue
    doc = None
    try:
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(req["src"]), "_blank", 0,
                                           (prop("Hidden", True), prop("ReadOnly", True)))
        if doc is None:
            raise RuntimeError("LibreOffice could not open the document")
        # Lay the whole document out before exporting: the PDF export of a document whose layout the idle
        # handler has not finished formats it page by page as it paints, which took half as long again
        # (20,000-row notice: 270 s of CPU, against 180 s laid out first).
        try:
            doc.getCurrentController().getPropertyValue("PageCount")
        except Exception:
            pass
        doc.storeToURL(uno.systemPathToFileUrl(req["dst"]), (prop("FilterName", req["filter"]),))
        print("OK", flush=True)
    except Exception as e:
        print("ERR " + str(e).replace("\n", " ")[:500], flush=True)
    finally:
        if doc is not None:
            try:
                doc.close(True)
            except Exception:
                pass
'''

_FILTERS = {"pdf": "writer_pdf_Export"}


def uno_python() -> str | None:
    """A Python interpreter that can ``import uno``, or None."""
    override = os.environ.get("DUBAN_UNO_PYTHON")
    candidates = [override] if override else []
    candidates += ["/usr/bin/python3", "/usr/lib/libreoffice/program/python", shutil.which("python3") or ""]
    for exe in candidates:
        if not exe or not Path(exe).exists():
            continue
        try:
            ok = subprocess.run([exe, "-c", "import uno"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok.returncode == 0:
            return exe
    return None


class KeptOffice:
    """One soffice with its driver; :meth:`convert` restarts them when they died or were killed."""

    def __init__(self, soffice: str, python: str) -> None:
        self.soffice, self.python = soffice, python
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None  # soffice's
        self.work: Path | None = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="duban-lo-kept-"))
        (self.work / "fonts.conf").write_text(fontconfig_xml(), encoding="utf-8")
        (self.work / "driver.py").write_text(_DRIVER, encoding="utf-8")
        env = dict(os.environ, HOME=str(self.work / "home"), FONTCONFIG_FILE=str(self.work / "fonts.conf"),
                   **OFFLINE)
        pipe = f"duban-{os.getpid()}-{self.work.name}"
        cmd = [self.python, str(self.work / "driver.py"), self.soffice, (self.work / "profile").as_uri(), pipe,
               str(START_TIMEOUT_S)]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, **group_kwargs())
        try:
            line = self._reply(START_TIMEOUT_S + 10)
        except OSError as e:  # TimeoutError, BrokenPipeError: no READY line
            self.stop()
            raise ConversionError(f"LibreOffice (kept) did not start: {e!r}") from e
        if not line.startswith("READY "):
            self.stop()
            raise ConversionError(f"LibreOffice (kept) did not start: {line}")
        self.pid = int(line.split()[1])
        log.info("Kept LibreOffice started (pid %d)", self.pid)

    def _reply(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line:
            raise BrokenPipeError("the LibreOffice driver ended")
        return line

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None or self.pid is None:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            try:
                os.kill(self.pid, 0)  # no /proc (not Linux)
            except OSError:
                return False
            return True
        return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")  # a zombie is dead

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
        self.proc, self.pid = None, None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def convert(self, src: Path, out_dir: Path, target: str, timeout: int) -> Path:
        with self.lock:
            for attempt in (1, 2):
                if not self.alive():
                    self.stop()
                    self._start()
                try:
                    return self._convert(src, out_dir, target, timeout)
                except (BrokenPipeError, OSError) as e:  # died under us: a fresh instance once
                    if attempt == 2:
                        raise ConversionError(f"LibreOffice (kept) failed converting {src.name}: {e}") from e
                    log.warning("Kept LibreOffice died (%s); starting a new one", e)
                    self.stop()
            raise AssertionError("unreachable")

    def _convert(self, src: Path, out_dir: Path, target: str, timeout: int) -> Path:
        assert self.proc is not None and self.proc.stdin is not None and self.work is not None
        job = Path(tempfile.mkdtemp(prefix="job-", dir=self.work))
        try:
            staged = job / f"in{src.suffix.lower() or '.docx'}"  # an ASCII name, as in mailer.word.pdf
            shutil.copyfile(src, staged)
            out = job / f"in.{target}"
            req = {"src": str(staged), "dst": str(out), "filter": _FILTERS[target]}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            started = time.monotonic()
            try:
                line = self._reply(timeout)
            except TimeoutError as e:
                self.stop()  # the kept instance is wedged: killed, the next conversion starts anew
                raise ConversionError(
                    f"LibreOffice took longer than {timeout}s converting {src.name}; stopped."
                ) from e
            if line != "OK" or not out.exists() or out.stat().st_size == 0:
                raise ConversionError(f"LibreOffice could not convert {src.name} to {target}: {line}")
            log.debug("Kept LibreOffice converted %s in %.1fs", src.name, time.monotonic() - started)
            return deliver(out, out_dir, src, target)
        finally:
            shutil.rmtree(job, ignore_errors=True)


    # --- a part of a document converted in parallel (mailer/word/pdfparallel.py); the caller holds self.lock

    def load_part(self, src: Path, deadline: float, cancel: threading.Event) -> int:
        """Load and lay out the part document ``src`` (duban's own, ASCII-named); its page count. It stays
        open for :meth:`export_part`."""
        if not self.alive():
            self.stop()
            self._start()
        line = self._ask({"op": "load", "src": str(src)}, deadline, cancel)
        if not line.startswith("PAGES "):
            raise ConversionError(f"LibreOffice could not open {src.name}: {line}")
        return int(line.split()[1])

    def export_part(self, dst: Path, offset: int | None, deadline: float, cancel: threading.Event) -> int:
        """Number the loaded part's pages from ``offset`` (None: as the document says), export it as PDF to
        ``dst`` and close it; its page count after numbering."""
        line = self._ask({"op": "export", "dst": str(dst), "offset": offset, "filter": _FILTERS["pdf"]},
                         deadline, cancel)
        if not line.startswith("OK ") or not dst.exists() or dst.stat().st_size == 0:
            raise ConversionError(f"LibreOffice could not convert {dst.stem} to pdf: {line}")
        return int(line.split()[1])

    def _ask(self, req: dict[str, object], deadline: float, cancel: threading.Event) -> str:
        """Send one request and wait for its reply line. Past the deadline (TimeoutError) or when ``cancel``
        is set (another part failed: CancelledError) the instance is busy with the request, so it is stopped;
        the next conversion starts a fresh one. BrokenPipeError when it died."""
        if self.proc is None or self.proc.stdin is None:
            raise BrokenPipeError("the LibreOffice driver is not running")
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or cancel.is_set():
                self.stop()
                raise TimeoutError if left <= 0 else CancelledError
            try:
                return self._reply(min(left, 0.25))
            except TimeoutError:
                continue


class CancelledError(Exception):
    """A part's conversion was abandoned because another part failed."""


_kept: dict[tuple[str, int, int], KeptOffice] = {}  # by executable, process and place in the pool: a forked
# child starts its own
_kept_lock = threading.Lock()
_python: list[str | None] = []  # the uno Python, looked up once


def kept_office(soffice: str = "soffice") -> KeptOffice | None:
    """The process's kept LibreOffice for ``soffice`` (not started until its first conversion), or None when
    LibreOffice or a Python with ``uno`` is missing."""
    exe = find_soffice(soffice)
    if exe is None or os.name != "posix":  # select() on pipes, process groups: POSIX only
        return None
    with _kept_lock:
        if not _python:
            _python.append(uno_python())
        if _python[0] is None:
            return None
        key = (exe, os.getpid(), 0)
        if key not in _kept:
            _kept[key] = KeptOffice(exe, _python[0])
        return _kept[key]


def kept_offices(count: int, soffice: str = "soffice") -> list[KeptOffice] | None:
    """``count`` kept LibreOffices of the process (the first is :func:`kept_office`'s), each with its own
    profile and pipe; None as :func:`kept_office`. Started by their first conversion, kept afterwards."""
    first = kept_office(soffice)
    if first is None:
        return None
    with _kept_lock:
        out = [first]
        for i in range(1, count):
            key = (first.soffice, os.getpid(), i)
            if key not in _kept:
                _kept[key] = KeptOffice(first.soffice, first.python)
            out.append(_kept[key])
        return out


def stop_all() -> None:
    with _kept_lock:
        for key, office in list(_kept.items()):
            if key[1] == os.getpid():  # never the parent's, from a forked child
                office.stop()
            del _kept[key]


atexit.register(stop_all)


def convert_own(src: Path, out_dir: Path, target: str = "pdf", *, soffice: str = "soffice",
                timeout: int = 120) -> Path:
    """Convert a document duban generated itself (never untrusted input: see the module's doc) with the
    kept LibreOffice; same contract as :func:`mailer.word.pdf.convert`, into which it falls back when no
    Python with ``uno`` is available or ``target`` is not PDF.

    :raises ConversionError: as :func:`mailer.word.pdf.convert`
    """
    office = kept_office(soffice) if target in _FILTERS else None
    if office is None:
        return convert(src, out_dir, target, soffice=soffice, timeout=timeout)
    if src.suffix.lower() == ".docx" and not zipfile.is_zipfile(src):
        raise ConversionError(f"{src.name} is not an Office Open XML file (not a zip package); not converted.")
    return office.convert(src, out_dir, target, timeout)
