"""The folder transport: the embedded default, for a home without a mail server (and for tests).

Incoming mail is whatever ``.eml`` file someone (or a mail client rule, or a script) drops into
``inbox/drop/``; acknowledging moves it to ``inbox/drop/processed/``. Sending writes the message to
``outbox/mail/<message-id>.eml``, from where a person sends it on; so ``was_sent`` can always tell.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from mailer.config import Settings
from mailer.errors import TransportError
from mailer.files import private_dir, write_atomic

log = logging.getLogger(__name__)

DROP = "drop"
PROCESSED = "processed"
SENT = "mail"
_POLL_S = 0.5
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def eml_name(message_id: str) -> str:
    """The file name a sent message is stored under: its Message-ID without brackets, made file-safe."""
    name = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:200]
    if not name.strip("._"):
        raise TransportError(f"Message-ID {message_id!r} cannot name a file; use compose.new_message_id().")
    return name + ".eml"


def sent_path(settings: Settings, message_id: str) -> Path:
    """Where the folder transport writes (and looks for) the message with this Message-ID."""
    return settings.outbox / SENT / eml_name(message_id)


class FolderTransport:
    """Mail as files in the home: ``inbox/drop/*.eml`` in, ``outbox/mail/*.eml`` out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.drop = settings.inbox / DROP
        self.processed = self.drop / PROCESSED
        self.sent = settings.outbox / SENT
        self.source = f"folder:{self.drop}"
        self._warned: set[str] = set()  # symlinks already logged, so each is reported once per process

    @property
    def uidvalidity(self) -> int | None:
        return None

    # -- sending ------------------------------------------------------------------------------------------
    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: list[str],
        message_id: str,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Write the message to ``outbox/mail/<message-id>.eml`` (atomically: never half a file).

        :raises TransportError: the file cannot be written
        """
        path = sent_path(self.settings, message_id)
        try:
            write_atomic(path, raw)
        except OSError as e:
            raise TransportError(f"Cannot write {path}: {e}") from e
        log.info("Wrote %s for %d recipient(s)", path.name, len(recipients))
        if on_accepted is not None:
            on_accepted()

    def was_sent(self, message_id: str) -> bool | None:
        """True when ``outbox/mail/<message-id>.eml`` exists, else False: the rename is the send, so the
        file answers both ways."""
        return sent_path(self.settings, message_id).exists()

    # -- receiving ----------------------------------------------------------------------------------------
    def list_new(self) -> list[str]:
        """The ``.eml`` files waiting in ``inbox/drop/``, oldest first (by modification time, then name)."""
        if not self.drop.is_dir():
            return []
        files = []
        for p in self.drop.iterdir():
            if p.is_symlink():
                # Whoever can drop a link could make us archive (and mail about) any file we can read.
                if p.name not in self._warned:
                    self._warned.add(p.name)
                    log.warning("Ignoring %s in %s: a symbolic link, never followed", p.name, self.drop)
                continue
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() == ".eml":
                try:
                    files.append((p.stat().st_mtime, p.name))
                except FileNotFoundError:  # taken away between listing and stat
                    continue
        return [name for _, name in sorted(files)]

    def _path(self, uid: str) -> Path:
        if not uid or "/" in uid or "\\" in uid or uid in (".", "..") or "\x00" in uid:
            raise TransportError(f"{uid!r} is not a file name in {self.drop}.")
        return self.drop / uid

    def fetch(self, uid: str) -> bytes:
        """The bytes of ``inbox/drop/<uid>``.

        :raises TransportError: the file is gone or unreadable
        """
        path = self._path(uid)
        try:
            # O_NOFOLLOW: a file swapped for a link after listing is refused, not followed.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        except OSError as e:
            raise TransportError(f"Cannot read {path}: {e}") from e

    def acknowledge(self, uid: str) -> None:
        """Move ``inbox/drop/<uid>`` to ``inbox/drop/processed/`` (a name already there gets a suffix)."""
        path = self._path(uid)
        if not path.exists():
            if (self.processed / uid).exists():
                return  # acknowledged before (e.g. a crash after the move): nothing to do
            raise TransportError(f"Cannot acknowledge {path}: the file is gone.")
        private_dir(self.processed)
        target = self.processed / uid
        n = 1
        while target.exists():
            n += 1
            target = self.processed / f"{path.stem}.{n}{path.suffix}"
        try:
            path.replace(target)
        except OSError as e:
            raise TransportError(f"Cannot move {path} to {self.processed}: {e}") from e

    def wait(self, timeout_s: float) -> bool:
        """Poll the drop folder until a file is there (True) or ``timeout_s`` has passed (False)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            if self.list_new():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL_S, left))

    def check(self) -> str:
        """Create the folders if needed and describe them.

        :raises TransportError: a folder cannot be created or written
        """
        for d in (self.drop, self.processed, self.sent):
            try:
                private_dir(d)
            except OSError as e:
                raise TransportError(f"Cannot create {d}: {e}") from e
            if not os.access(d, os.W_OK):
                raise TransportError(f"{d} is not writable by this user.")
        links = [p.name for p in self.drop.iterdir() if p.is_symlink()]
        if links:
            raise TransportError(
                f"{self.drop} 中有符号链接（{'、'.join(sorted(links)[:5])}），duban 不会读取它们："
                "请把邮件文件本身（而不是链接）放入该文件夹，并删除这些链接。"
            )
        return (
            f"folder transport: incoming mail is read from {self.drop} ({len(self.list_new())} waiting), "
            f"processed mail is moved to {self.processed}; outgoing mail is written to {self.sent}."
        )

    def close(self) -> None:
        return None
