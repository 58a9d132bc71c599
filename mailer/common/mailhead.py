"""The header block of a raw message, without the body: what an over-size message is recorded by.

A message too large to read whole (``mail.max_message_mb``) is still recorded, answered and acknowledged;
its headers say who sent it, when and under which Message-ID, and they are all that is kept of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# A header block longer than this is not a real one (a few KB is usual; long Received chains reach 50 KB).
MAX_HEAD = 256 * 1024
_CHUNK = 1 << 20


def header_block(raw: bytes, limit: int = MAX_HEAD) -> bytes:
    """The headers of ``raw`` up to and including the blank line that ends them (at most ``limit`` bytes)."""
    head = raw[:limit]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    if not ends:
        return head
    end = min(ends)
    return head[: end + (4 if head[end : end + 4] == b"\r\n\r\n" else 2)]


def read_header_block(path: Path, limit: int = MAX_HEAD) -> bytes:
    """The header block of the message file at ``path``, reading no more than ``limit`` bytes of it."""
    with path.open("rb") as fh:
        return header_block(fh.read(limit), limit)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MB chunks: a 1 GB file costs time, not memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def body_sha256(raw: bytes) -> str:
    """sha256 of what follows the header block, line endings normalised: the same message delivered twice
    differs in its Received/Delivered-To headers, never in its body."""
    body = raw[len(header_block(raw, len(raw))) :]
    return hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest()
