"""Writing files so that a reader never sees half of one (write beside, then rename), and so that
what the home holds (registry, archive, outbox) is private to the account running duban: folders
0700, files 0600, whatever the umask of the shell that started it."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_umask() -> int:
    """Make everything this process creates from now on private (umask 077); returns the old umask.

    Entry points (the CLI, the service) call it once: libraries such as SQLite, openpyxl and docxtpl
    create files of their own, and only the umask reaches those.
    """
    return os.umask(0o077)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a private folder; an existing folder is left as it is."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        # mkdir's mode is masked by the umask; chmod is not.
        with contextlib.suppress(OSError):
            p.chmod(PRIVATE_DIR)
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a private temporary file beside it, fsync and a rename (atomic on
    one filesystem). On any error (a full disk) the temporary file is removed and ``path`` is untouched.

    :raises OSError: the file cannot be written (ENOSPC, EDQUOT, EFBIG, EACCES …)
    """
    with atomic_target(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), PRIVATE_FILE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return path


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path for a writer (docxtpl's ``save``, openpyxl, a copy) that becomes ``path`` only
    when the block ends without error; otherwise it is removed, so no half-written file is ever left."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        with contextlib.suppress(OSError):
            tmp.chmod(PRIVATE_FILE)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def store_by_hash(folder: Path, data: bytes, suffix: str, *, fan_out: bool = False) -> tuple[str, Path]:
    """Keep ``data`` once under its sha256 (``folder/<sha><suffix>``, or ``folder/ab/<sha><suffix>`` with
    ``fan_out``); an existing copy is left as it is. Returns (sha256, path)."""
    sha, path = hash_path(folder, data, suffix, fan_out=fan_out)
    if not path.exists():
        write_atomic(path, data)
    return sha, path


def hash_path(folder: Path, data: bytes, suffix: str, *, fan_out: bool = False) -> tuple[str, Path]:
    """Where :func:`store_by_hash` keeps ``data``: (sha256, ``folder[/ab]/<sha><suffix>``)."""
    sha = hashlib.sha256(data).hexdigest()
    return sha, (folder / sha[:2] if fan_out else folder) / f"{sha}{suffix}"
