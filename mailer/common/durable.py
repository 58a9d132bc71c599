"""Files made durable in the background: the ``fsync`` (a wait on the disk of 3–10 ms per file, more on a busy
machine) runs in a helper thread while the caller goes on, and is waited for before it matters.

Intake writes three files per filled form (the archived message, the receipt, the approval request); with
``write_atomic`` each one stopped the message's processing for a disk flush. Here the flush overlaps the
work that follows (parsing the form, composing the next answer), and the caller waits for it at the point
where the file must be on disk: the archive before the message's transaction, the queued answers before
the transaction that records them commits (mailer.service.outgoing). Nothing is weaker than before:

- :func:`store_by_hash_later` renames the file into place only after its fsync, like ``write_atomic``, so a
  file under its content address is always complete (``store_by_hash`` trusts an existing one).
- :func:`write_later` renames at once and syncs afterwards: only for a file that nothing trusts until the
  wait returns, such as a queued answer whose Dispatch row commits after it (a crash before the commit
  leaves at most a file no row names, exactly as a rolled-back transaction does today).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from mailer.common.background import submit
from mailer.common.files import PRIVATE_FILE, hash_path, private_dir

_names = itertools.count()


class Pending:
    """A file on its way to disk; :meth:`wait` returns when it is there, or raises the OSError that kept it."""

    def __init__(self, future: Future[None] | None = None) -> None:
        self._future = future

    def wait(self) -> None:
        if self._future is not None:
            self._future.result()

    @property
    def done(self) -> bool:
        return self._future is None or self._future.done()


DONE = Pending()


def _write_tmp(path: Path, data: bytes) -> tuple[Path, int]:
    """``data`` in a new private file beside ``path``; returns it and its still open descriptor."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_names)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return tmp, fd


def _in_background(fd: int, tmp: Path, then: Callable[[], None]) -> Pending:
    def sync() -> None:
        try:
            os.fsync(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        then()

    return Pending(submit(sync))


def store_by_hash_later(folder: Path, data: bytes, suffix: str, *, fan_out: bool = False) -> tuple[str, Path, Pending]:
    """:func:`mailer.common.files.store_by_hash` whose fsync and rename run in the background: the file is at
    its path, complete and synced, once the returned :class:`Pending` is waited for (at once when a copy
    was there already).

    :raises OSError: the file cannot be written (later ones: from ``Pending.wait``)
    """
    sha, path = hash_path(folder, data, suffix, fan_out=fan_out)
    if path.exists():
        return sha, path, DONE
    tmp, fd = _write_tmp(path, data)

    def into_place() -> None:
        try:
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    return sha, path, _in_background(fd, tmp, into_place)


def write_later(path: Path, data: bytes) -> Pending:
    """Write ``data`` to ``path`` (beside, then renamed: never half a file under the name while the system
    runs) and fsync it in the background; durable once the returned :class:`Pending` is waited for.

    :raises OSError: the file cannot be written (a failed fsync: from ``Pending.wait``)
    """
    tmp, fd = _write_tmp(path, data)
    try:
        tmp.replace(path)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    # The descriptor still refers to the file under its new name; it is closed after the fsync. A failed
    # fsync removes the file: no row will name it, the transaction waiting for it fails.
    return _in_background(fd, path, lambda: None)


def wait_all(pending: list[Pending]) -> None:
    """Wait for every one of ``pending`` (each is waited for even when an earlier one failed), then raise
    the first failure."""
    first: BaseException | None = None
    for p in pending:
        try:
            p.wait()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the others are settled
            first = first or e
    if first is not None:
        raise first


