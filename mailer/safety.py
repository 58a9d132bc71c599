"""Distrust every attachment (design principle 6): decide whether a returned file may be parsed at all, and
parse it in a bounded worker.

``safe_docx`` looks at the bytes, never at the name: a size cap; zip structure limits (entries, total and
per-part uncompressed size, compression ratio) against zip bombs; no password protection (an encrypted
.docx is an OLE container holding ``EncryptedPackage``); no macros (.docm, ``vbaProject.bin``, macro-enabled
content types, a .doc's ``Macros`` storage); no DOCTYPE or ENTITY declaration in any XML part (no entity
expansion, ever). External relationships (``TargetMode="External"``) are left alone: nothing in duban
fetches them. Legacy .doc/.wps files, OpenDocument .odt (what LibreOffice users save by default) and .rtf
(WPS and many systems' "Word" export) are converted to .docx by LibreOffice when it is installed, and
clearly refused when it is not; the file's kind comes from its bytes, so a .doc renamed .docx is converted
too. LibreOffice fetches the linked images of a file it opens, so it converts with every proxy variable
pointing at a closed local port: a hostile file cannot make the service call out. The file name is used
only in messages; it never becomes a path.

``parse_form_bounded`` runs :func:`mailer.formparse.parse_form` in a child process with an address-space
limit and a wall-clock timeout, so that no file can exhaust the service's memory or time (on Windows,
which has no ``resource`` module, the parent watches the child's memory instead: mailer.memwatch).
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
import unicodedata
import zipfile
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from mailer.errors import ConversionError, FormParseError, UnsafeAttachment
from mailer.formparse import ParsedForm

log = logging.getLogger(__name__)

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .doc, .wps, encrypted .docx
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
MAX_ENTRIES = 2000
MAX_TOTAL_BYTES = 100 * 2**20  # all entries, uncompressed
MAX_XML_BYTES = 32 * 2**20  # one XML part, uncompressed (python-docx holds each part in memory ~10×)
MAX_RATIO = 200  # uncompressed / compressed, checked for entries over RATIO_FLOOR
RATIO_FLOOR = 2**20
_ODT_MIME = b"application/vnd.oasis.opendocument.text"
_RTF_MAGIC = b"{\\rtf"
# What each converted kind is called in a message to the office.
_KIND_NAMES = {".doc": "旧版 Word/WPS 格式（.doc）", ".wps": "旧版 Word/WPS 格式（.wps）",
               ".odt": "OpenDocument 格式（.odt）", ".rtf": "RTF 格式（.rtf）"}
_MACRO_NAMES = re.compile(r"(^|/)(vbaProject\.bin|vbaData\.xml|Basic/|Scripts/)", re.IGNORECASE)
_MACRO_SUFFIXES = (".docm", ".dotm")
_BINARY_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".emf",
    ".wmf",
    ".bin",
    ".ttf",
    ".odttf",
    ".fntdata",
    ".wdp",
    ".jfif",
    ".ico",
    ".svg",
)  # images and fonts are kept as blobs, never parsed as XML by python-docx or us
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_name(filename: str) -> str:
    """The attachment's name as shown in messages: its last path component only, no control characters,
    at most 80 characters. It is never used to build a path."""
    name = unicodedata.normalize("NFC", filename or "")
    name = _CONTROL.sub("", name.replace("\\", "/")).rsplit("/", 1)[-1].strip()
    return (name[:77] + "…") if len(name) > 80 else (name or "未命名附件")


_FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"


# --- zip (docx, odt) ---------------------------------------------------------------------------------------


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def _has_dtd(raw: bytes) -> bool:
    """True when ``raw`` is XML carrying a DOCTYPE (and so possibly ENTITY declarations), in any encoding."""
    for marker in ("<!DOCTYPE", "<!ENTITY"):
        for enc in ("ascii", "utf-16-le", "utf-16-be"):
            if marker.encode(enc) in raw:
                return True
    try:
        tree = etree.fromstring(raw, parser=_xml_parser()).getroottree()
    except (etree.XMLSyntaxError, ValueError):
        return False  # not XML (or broken): the parser will refuse it later if it matters
    return bool(tree.docinfo.doctype) or tree.docinfo.internalDTD is not None


def _zip_kind(data: bytes, name: str) -> str:
    """ "docx" or "odt" when the zip is safe to open.

    :raises UnsafeAttachment: broken, bomb-like, encrypted, macro-enabled, DTD-carrying, or not a document
    """
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as e:
        raise UnsafeAttachment(f"附件「{name}」已损坏，无法打开。{_FIX}") from e
    _check_structure(infos, name)
    names = {i.filename for i in infos}
    if any(_MACRO_NAMES.search(n) for n in names):
        raise UnsafeAttachment(_macro_message(name))
    try:
        if "mimetype" in names and z.read("mimetype").strip() == _ODT_MIME:
            kind = "odt"
        else:
            types = z.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
            kind = _ooxml_kind(types, name)
        for info in infos:
            if info.is_dir() or info.filename.lower().endswith(_BINARY_SUFFIXES):
                continue
            if info.file_size > MAX_XML_BYTES:
                raise UnsafeAttachment(f"附件「{name}」中的 {info.filename} 解压后过大，已拒收。{_FIX}")
            if _has_dtd(z.read(info)):
                raise UnsafeAttachment(
                    f"附件「{name}」含有不允许的 XML 声明（DOCTYPE/ENTITY），为安全起见已拒收。{_FIX}"
                )
    except (zipfile.BadZipFile, NotImplementedError, OSError, RuntimeError, ValueError) as e:
        raise UnsafeAttachment(f"附件「{name}」已损坏，无法打开。{_FIX}") from e
    return kind


def _check_structure(infos: list[zipfile.ZipInfo], name: str) -> None:
    if len(infos) > MAX_ENTRIES:
        raise UnsafeAttachment(f"附件「{name}」包含 {len(infos)} 个内部文件，结构异常，已拒收。{_FIX}")
    if len({i.filename for i in infos}) != len(infos):
        raise UnsafeAttachment(f"附件「{name}」内部文件重名，结构异常，已拒收。{_FIX}")
    if any(i.flag_bits & 0x1 for i in infos):
        raise UnsafeAttachment(_encrypted_message(name))
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise UnsafeAttachment(
            f"附件「{name}」解压后有 {total / 2**20:.0f} MB，超过 {MAX_TOTAL_BYTES // 2**20} MB 的上限，已拒收。"
            "请删除表格中的图片或无关内容后重新发送。"
        )
    for i in infos:
        if i.file_size > RATIO_FLOOR and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise UnsafeAttachment(
                f"附件「{name}」中的 {i.filename} 压缩比异常（疑似“压缩炸弹”），为安全起见已拒收。{_FIX}"
            )


def _ooxml_kind(types: bytes, name: str) -> str:
    text = types.decode("utf-8", errors="replace").lower()
    if "macroenabled" in text or "vbaproject" in text:
        raise UnsafeAttachment(_macro_message(name))
    if "wordprocessingml" in text:
        return "docx"
    if "spreadsheetml" in text or "presentationml" in text:
        raise UnsafeAttachment(
            f"附件「{name}」不是 Word 文档（可能是 Excel 或 PowerPoint 文件）。请使用下发的 Word 表格填写后发送。"
        )
    raise UnsafeAttachment(f"附件「{name}」不是 Word 文档（.docx），无法读取。{_FIX}")


def _macro_message(name: str) -> str:
    return (
        f"附件「{name}」含有宏（.docm 或 VBA 代码），为安全起见已拒收。"
        "请在 Word 或 WPS 中“另存为”不含宏的 Word 文档（.docx）后重新发送。"
    )


def _encrypted_message(name: str) -> str:
    return (
        f"附件「{name}」设置了打开密码，无法读取。"
        "请取消密码（Word：文件→信息→保护文档→用密码进行加密，清空密码；WPS：文件→文档加密→密码加密，清空密码）"
        "后重新发送未加密的文件。"
    )


# --- OLE compound files (doc, wps, encrypted docx) --------------------------------------------------------------


def _cfb_kind(data: bytes, name: str) -> None:
    """Refuse an OLE file that is encrypted, holds macros or is no Word document.

    :raises UnsafeAttachment: with the reason
    """
    import olefile  # ships with msoffcrypto-tool, a dependency

    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError, IndexError) as e:
        raise UnsafeAttachment(f"附件「{name}」已损坏，无法打开。{_FIX}") from e
    try:
        entries = {"/".join(p).lower() for p in ole.listdir(streams=True, storages=True)}
        if "encryptedpackage" in entries or "encryptioninfo" in entries:
            raise UnsafeAttachment(_encrypted_message(name))
        if any(e.split("/")[0] in ("macros", "_vba_project_cur", "vba") for e in entries):
            raise UnsafeAttachment(_macro_message(name))
        if "worddocument" not in entries:
            raise UnsafeAttachment(
                f"附件「{name}」不是 Word 文档（可能是 Excel 或 PowerPoint 文件）。请使用下发的 Word 表格填写后发送。"
            )
        fib = ole.openstream("WordDocument").read(12)
        # FIB base: bit 0x0100 of the flags word at offset 10 is fEncrypted (RC4 or XOR obfuscation).
        if len(fib) >= 12 and int.from_bytes(fib[10:12], "little") & 0x0100:
            raise UnsafeAttachment(_encrypted_message(name))
    except (OSError, ValueError, IndexError) as e:
        raise UnsafeAttachment(f"附件「{name}」已损坏，无法打开。{_FIX}") from e
    finally:
        ole.close()


def _convert(data: bytes, name: str, suffix: str, *, soffice: str, timeout_s: int) -> bytes:
    """Legacy, RTF or OpenDocument bytes → .docx bytes by LibreOffice (offline), under a fixed temporary
    name, checked like any .docx afterwards.

    :raises UnsafeAttachment: when LibreOffice is missing or the conversion fails
    """
    from mailer.pdf import convert, find_soffice

    kind = _KIND_NAMES.get(suffix, suffix)
    exe = find_soffice(soffice)
    if exe is None:
        raise UnsafeAttachment(f"附件「{name}」是{kind}，本系统无法直接读取。{_FIX}")
    with tempfile.TemporaryDirectory(prefix="duban-safe-") as tmp:
        src = Path(tmp) / f"attachment{suffix}"  # never the sender's name
        src.write_bytes(data)
        try:
            # pdf.convert runs LibreOffice with no way out to the network (see there).
            out = convert(src, Path(tmp) / "out", "docx", soffice=exe, timeout=timeout_s)
        except ConversionError as e:
            log.warning("Converting %s failed: %s", name, e)
            raise UnsafeAttachment(f"附件「{name}」是{kind}，转换为 .docx 失败。{_FIX}") from e
        converted = out.read_bytes()
    if converted[:4] not in ZIP_MAGIC or _zip_kind(converted, name) != "docx":
        raise UnsafeAttachment(f"附件「{name}」是{kind}，转换为 .docx 失败。{_FIX}")
    return converted


def safe_docx(
    data: bytes, filename: str, *, max_bytes: int, soffice: str = "soffice", timeout_s: int = 120
) -> bytes:
    """Plain .docx bytes that may be parsed, from an attachment as received.

    :param data: the attachment's bytes
    :param filename: the attachment's name, for messages only (and to refuse .docm by name)
    :param max_bytes: the size cap (``settings.mail.max_attachment_bytes``)
    :param soffice: the LibreOffice executable used to convert .doc/.wps/.odt/.rtf
    :param timeout_s: how long a conversion may take
    :returns: ``data`` itself for a safe .docx, or the converted .docx
    :raises UnsafeAttachment: with a Chinese message for the sender saying why and what to do
    """
    name = display_name(filename)
    if len(data) > max_bytes:
        raise UnsafeAttachment(
            f"附件「{name}」有 {len(data) / 2**20:.1f} MB，超过 {max_bytes / 2**20:.0f} MB 的上限。"
            "请删除表格中的图片或无关内容后重新发送。"
        )
    if PurePosixPath(name).suffix.lower() in _MACRO_SUFFIXES:
        raise UnsafeAttachment(_macro_message(name))
    if data[:8] == CFB_MAGIC:
        _cfb_kind(data, name)
        suffix = ".wps" if name.lower().endswith(".wps") else ".doc"
        return _convert(data, name, suffix, soffice=soffice, timeout_s=timeout_s)
    if data[:4] in ZIP_MAGIC:
        if _zip_kind(data, name) == "odt":
            return _convert(data, name, ".odt", soffice=soffice, timeout_s=timeout_s)
        return data
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == _RTF_MAGIC:
        # RTF holds no macros; what it embeds (OLE objects, pictures) LibreOffice reads as data, offline.
        return _convert(data, name, ".rtf", soffice=soffice, timeout_s=timeout_s)
    raise UnsafeAttachment(f"附件「{name}」不是 Word 文档（.docx），无法读取。{_FIX}")


# --- the bounded worker -------------------------------------------------------------------------------------------

_ctx_lock = threading.Lock()
_ctx: Any = None


def _context() -> Any:
    """A forkserver context whose server has the parser imported: each worker is a cheap fork of a small,
    single-threaded process (never of the service itself, which may hold threads and sockets)."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(["mailer.safety"])
            _ctx = ctx
        return _ctx


@contextlib.contextmanager
def _no_main_module() -> Iterator[None]:
    """Start workers as if there were no main script.

    A spawn/forkserver child first re-runs the parent's main script (the CLI, the service, a test runner)
    so that targets defined there can be unpickled: ~40 ms per worker, and a script without a
    ``__main__`` guard would run again. Our target lives in this module, so the child needs no main at
    all; a bare stand-in while the process starts makes multiprocessing skip that step.
    """
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


def _limit_memory(max_mem_mb: int, timeout_s: float) -> None:
    import resource

    # The limit is what the worker already has mapped plus max_mem_mb, so that the interpreter and the
    # libraries loaded in the fork server do not count against the file's budget.
    with open("/proc/self/statm") as fh:  # noqa: PTH123
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + max_mem_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = int(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _worker(data: bytes, conn: Connection, max_mem_mb: int, timeout_s: float) -> None:
    watch_me = False
    try:
        _limit_memory(max_mem_mb, timeout_s)
    except ImportError:  # no `resource` (Windows): the parent watches the memory instead (mailer.memwatch)
        watch_me = True
    except (OSError, ValueError):  # no /proc or no permission: the timeout still holds
        pass
    try:
        from mailer.formparse import parse_form

        if watch_me:
            from mailer.memwatch import own_memory

            # Where the worker starts from, once the parser is loaded; without psutil the timeout holds.
            with contextlib.suppress(ImportError, OSError):
                conn.send(("watch me", own_memory()))
        conn.send(("ok", parse_form(data)))
    except MemoryError:
        conn.send(("memory", ""))
    except FormParseError as e:
        conn.send(("parse_error", str(e)))
    except Exception:  # noqa: BLE001  (a bug, reported to the parent with its traceback)
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _answer(receiver: Connection, pid: int, timeout_s: float, max_mem_mb: int) -> tuple[str, Any] | None:
    """The worker's answer, or None when it died before answering.

    :raises UnsafeAttachment: when the time runs out, or the memory limit watched here is passed
    """
    from mailer.memwatch import SAMPLE_S, MemoryWatch

    deadline = time.monotonic() + timeout_s
    watch: MemoryWatch | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not receiver.poll(min(left, SAMPLE_S) if watch else left):
            if watch is not None and watch.exceeded():
                raise UnsafeAttachment(_memory_message(max_mem_mb))
            if time.monotonic() < deadline:
                continue
            raise UnsafeAttachment(_timeout_message(timeout_s))
        try:
            kind, payload = receiver.recv()
        except EOFError:
            return None
        if kind == "watch me":  # the worker could not limit itself (no `resource`): watch it from here
            watch = MemoryWatch(pid, payload + max_mem_mb * 2**20)
            continue
        return kind, payload


def _timeout_message(timeout_s: float) -> str:
    return f"读取附件超过 {timeout_s:g} 秒仍未完成（文件过于复杂或已损坏），已拒收。{_FIX}"


def _memory_message(max_mem_mb: int) -> str:
    return f"读取附件所需内存超过 {max_mem_mb} MB 的上限（文件过大或结构异常），已拒收。{_FIX}"


def parse_form_bounded(data: bytes, *, timeout_s: float = 30, max_mem_mb: int = 512) -> ParsedForm:
    """:func:`mailer.formparse.parse_form` in a child process limited to ``max_mem_mb`` MiB of address space
    (beyond what the worker starts with) and ``timeout_s`` seconds (wall clock; CPU time too).

    :raises UnsafeAttachment: when the file exceeds the memory or time limit
    :raises FormParseError: when the file is read but holds no form
    :raises RuntimeError: when the parser failed unexpectedly or the worker could not start (the
        traceback or exit code is in the message)
    """
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(data, sender, max_mem_mb, timeout_s), daemon=True)
    with _ctx_lock, _no_main_module():
        proc.start()
    sender.close()
    try:
        answer = _answer(receiver, proc.pid, timeout_s, max_mem_mb)
    finally:
        receiver.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if answer is None:
        # Killed by a signal: SIGKILL (out of memory), SIGXCPU (CPU limit), SIGSEGV (a failed allocation
        # in C code). A plain non-zero exit means the worker never ran: a bug, not the file's fault.
        if proc.exitcode is not None and proc.exitcode < 0:
            if -proc.exitcode == getattr(signal, "SIGXCPU", None):
                raise UnsafeAttachment(_timeout_message(timeout_s))
            raise UnsafeAttachment(_memory_message(max_mem_mb))
        raise RuntimeError(f"The form parsing worker exited with code {proc.exitcode} before answering.")
    kind, payload = answer
    if kind == "ok":
        return payload  # type: ignore[no-any-return]
    if kind == "parse_error":
        raise FormParseError(payload)
    if kind == "memory":
        raise UnsafeAttachment(_memory_message(max_mem_mb))
    raise RuntimeError(f"parse_form failed in the worker:\n{payload}")
