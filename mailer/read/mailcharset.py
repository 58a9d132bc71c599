"""Decoding Chinese mail text as it really arrives: charsets (gb2312/gbk labels read as GB18030, unlabelled
8-bit tried as UTF-8 then GB18030) and RFC 2047 header words, including raw 8-bit headers."""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

_GB_CHARSETS = {
    "gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "gb_2312-80", "gb_2312", "csgb2312", "euc-cn",
    "x-euc-cn", "chinese", "csgbk", "gb18030", "iso-ir-58",
}  # fmt: skip


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label: every GB label → gb18030; None if unknown or empty."""
    cs = (charset or "").strip().strip('"').lower()
    if "*" in cs:  # RFC 2231 language suffix: utf-8*zh-cn
        cs = cs.split("*", 1)[0]
    if not cs:
        return None
    if cs in _GB_CHARSETS or cs.startswith("gb"):
        return "gb18030"
    try:
        return codecs.lookup(cs).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes in the labelled charset; wrong or missing labels fall back to UTF-8, then GB18030."""
    codec = codec_for(charset)
    if codec and codec not in ("ascii", "us-ascii"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec not in ("ascii", "us-ascii"):
        return data.decode(codec, errors="replace")
    return data.decode("gb18030", errors="replace")


def raw_bytes(s: str) -> bytes:
    """Bytes behind a header string parsed from bytes (8-bit bytes arrive as surrogate escapes)."""
    try:
        return s.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


def plain_ascii(s: str) -> str:
    """Unencoded header text: raw 8-bit (UTF-8 or GBK sent without RFC 2047) decoded."""
    if s.isascii():
        return s
    b = raw_bytes(s)
    return decode_bytes(b)


def _word_bytes(enc: str, text: str) -> bytes:
    if enc in "bB":
        text = text.strip()
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return binascii.a2b_base64(text.encode("ascii", "ignore") + b"===")
    return quopri.decodestring(text.replace("_", " ").encode("ascii", "ignore"), header=True)


def decode_header_text(value: str | None) -> str:
    """A header value as text: RFC 2047 words (adjacent same-charset words joined before decoding, so a
    character split across two words survives), GB labels as GB18030, raw 8-bit text decoded."""
    if not value:
        return ""
    value = re.sub(r"\r?\n(?=[ \t])", "", str(value))
    out: list[str] = []
    pending: tuple[str, bytearray] | None = None  # charset, bytes of adjacent encoded words
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        if pending is not None and between.strip() == "":
            between = ""  # whitespace between encoded words is not text (RFC 2047 §6.2)
        if between:
            if pending is not None:
                out.append(decode_bytes(bytes(pending[1]), pending[0]))
                pending = None
            out.append(plain_ascii(between))
        charset, enc, text = m.group(1), m.group(2), m.group(3)
        data = _word_bytes(enc, text)
        if pending is not None and codec_for(pending[0]) == codec_for(charset):
            pending[1].extend(data)
        else:
            if pending is not None:
                out.append(decode_bytes(bytes(pending[1]), pending[0]))
            pending = (charset, bytearray(data))
        pos = m.end()
    if pending is not None:
        out.append(decode_bytes(bytes(pending[1]), pending[0]))
    out.append(plain_ascii(value[pos:]))
    return "".join(out).strip()
