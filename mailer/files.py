"""Writing files so that a reader never sees half of one: write beside, then rename."""

from __future__ import annotations

import hashlib
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via ``path.part`` and a rename (atomic on one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def store_by_hash(folder: Path, data: bytes, suffix: str, *, fan_out: bool = False) -> tuple[str, Path]:
    """Keep ``data`` once under its sha256 (``folder/<sha><suffix>``, or ``folder/ab/<sha><suffix>`` with
    ``fan_out``); an existing copy is left as it is. Returns (sha256, path)."""
    sha = hashlib.sha256(data).hexdigest()
    path = (folder / sha[:2] if fan_out else folder) / f"{sha}{suffix}"
    if not path.exists():
        write_atomic(path, data)
    return sha, path
