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

``parse_form_bounded`` runs :func:`mailer.read.formparse.parse_form` in a pre-forked worker process with an
address-space limit and a wall-clock timeout for each form, so that no file can exhaust the service's memory
or time (on Windows, which has no ``resource`` module, the parent watches the worker's memory instead:
mailer.common.memwatch). The workers are mailer.read.parsepool's: reused for up to 50 forms, replaced after any form
that hits a limit.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

from lxml import etree

from mailer.common.errors import ConversionError, UnsafeAttachment
from mailer.read.formparse import ParsedForm
from mailer.read.parsepool import WorkerPool, default_pool

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
_DTD_MARKERS = tuple(m.encode(e) for m in ("<!DOCTYPE", "<!ENTITY") for e in ("ascii", "utf-16-le", "utf-16-be"))
_DECLARED_ENCODING = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")


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
    """True when ``raw`` is XML carrying a DOCTYPE (and so possibly ENTITY declarations), in any encoding.

    A declaration is plain bytes in UTF-8, UTF-16 and every encoding that writes ASCII as ASCII: there a
    byte search answers. Only XML in another encoding (UTF-32, EBCDIC, UTF-7…, never what Word or WPS
    write) is parsed whole to find out.
    """
    if any(marker in raw for marker in _DTD_MARKERS):
        return True
    if _searchable(raw):
        return False
    try:
        tree = etree.fromstring(raw, parser=_xml_parser()).getroottree()
    except (etree.XMLSyntaxError, ValueError):
        return False  # not XML (or broken): the parser will refuse it later if it matters
    return bool(tree.docinfo.doctype) or tree.docinfo.internalDTD is not None


def _searchable(raw: bytes) -> bool:
    """True when a DOCTYPE or ENTITY declaration in ``raw`` would be one of :data:`_DTD_MARKERS` as bytes."""
    head = raw[:4]
    if head in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"<\x00\x00\x00", b"\x00\x00\x00<"):
        return False  # UTF-32
    if head[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
        return True  # UTF-16, either byte order (the markers are searched in both)
    body = raw.removeprefix(b"\xef\xbb\xbf")
    if not body.startswith(b"<"):
        return False
    declared = _DECLARED_ENCODING.match(body[:256])
    if declared is None:
        return True  # UTF-8, XML's default
    try:
        name = codecs.lookup(declared.group(1).decode("ascii")).name
        return name != "utf-7" and all(m.encode(name) == m.encode("ascii") for m in ("<!DOCTYPE", "<!ENTITY"))
    except (LookupError, UnicodeError, ValueError):
        return False


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
    # One pass: every part that is not a blob is inflated once and looked at once (its prolog, for a DTD);
    # the refusals keep their order (what the file is first, then its parts in zip order).
    found: dict[str, bytes] = {}
    problem: str | None = None
    try:
        for info in infos:
            if info.is_dir() or info.filename.lower().endswith(_BINARY_SUFFIXES):
                continue
            if info.file_size > MAX_XML_BYTES:
                problem = problem or f"附件「{name}」中的 {info.filename} 解压后过大，已拒收。{_FIX}"
                continue
            raw = z.read(info)
            if info.filename in ("mimetype", "[Content_Types].xml"):
                found[info.filename] = raw
            if problem is None and _has_dtd(raw):
                problem = f"附件「{name}」含有不允许的 XML 声明（DOCTYPE/ENTITY），为安全起见已拒收。{_FIX}"
    except (zipfile.BadZipFile, NotImplementedError, OSError, RuntimeError, ValueError) as e:
        raise UnsafeAttachment(f"附件「{name}」已损坏，无法打开。{_FIX}") from e
    if found.get("mimetype", b"").strip() == _ODT_MIME:
        kind = "odt"
    else:
        kind = _ooxml_kind(found.get("[Content_Types].xml", b""), name)
    if problem is not None:
        raise UnsafeAttachment(problem)
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
    from mailer.word.pdf import convert, find_soffice

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


def parse_form_bounded(
    data: bytes, *, timeout_s: float = 30, max_mem_mb: int = 512, pool: WorkerPool | None = None
) -> ParsedForm:
    """:func:`mailer.read.formparse.parse_form` in a pre-forked worker process limited, for this form, to
    ``max_mem_mb`` MiB of address space (beyond what the worker holds before it) and ``timeout_s`` seconds
    (wall clock; CPU time too). See mailer.read.parsepool.

    :param pool: the workers to use; this process's shared pool when None
    :raises UnsafeAttachment: when the file exceeds the memory or time limit
    :raises FormParseError: when the file is read but holds no form
    :raises RuntimeError: when the parser failed unexpectedly or the worker could not start (the
        traceback or exit code is in the message)
    """
    return (pool or default_pool()).parse(data, timeout_s=timeout_s, max_mem_mb=max_mem_mb)
