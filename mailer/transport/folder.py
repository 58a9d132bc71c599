"""The folder transport: the embedded default, for a home without a mail server (and for tests).

Incoming mail is whatever ``.eml`` file someone (or a mail client rule, or a script) drops into
``inbox/drop/``; a message is known by its content (sha256), not its file name, and acknowledging moves it
to ``inbox/drop/processed/`` under a content-addressed name. Sending writes the message to
``outbox/mail/<message-id>.eml``, from where a person sends it on; so ``was_sent`` can always tell.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from mailer.common.config import Settings
from mailer.common.errors import MessageTooLarge, TransportError
from mailer.common.files import private_dir, write_atomic
from mailer.common.mailhead import file_sha256, read_header_block

log = logging.getLogger(__name__)

DROP = "drop"
PROCESSED = "processed"
SENT = "mail"
_POLL_S = 0.5
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_SHA = re.compile(r"[0-9a-f]{64}")


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
        self._hashes: dict[tuple[str, int, int], str] = {}

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
    # A uid is "<file name>#<sha256 of the content>": a message is the content, not the name. People drop
    # replies as "reply.eml" again and again; keyed by name, a new file under a name used before would look
    # like the message left alone last time and never be read.
    def _digest(self, path: Path, st: os.stat_result) -> str:
        key = (path.name, st.st_size, st.st_mtime_ns)
        sha = self._hashes.get(key)
        if sha is None:
            sha = file_sha256(path)
            self._hashes[key] = sha
        return sha

    def list_new(self) -> list[str]:
        """The ``.eml`` files waiting in ``inbox/drop/``, oldest first (by modification time, then name),
        each as ``<name>#<sha256>``."""
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
                    st = p.stat()
                    files.append((st.st_mtime, p.name, self._digest(p, st)))
                except FileNotFoundError:  # taken away between listing and reading
                    continue
        return [f"{name}#{sha}" for _, name, sha in sorted(files)]

    def _split(self, uid: str) -> tuple[Path, str]:
        name, sep, sha = uid.rpartition("#")
        if (
            not sep
            or not _SHA.fullmatch(sha)
            or not name
            or "/" in name
            or "\\" in name
            or name in (".", "..")
            or "\x00" in name
        ):
            raise TransportError(f"{uid!r} is not a message of {self.drop} (expected <file name>#<sha256>).")
        return self.drop / name, sha

    def _processed_path(self, path: Path, sha: str) -> Path:
        # Content-addressed, so that a second "reply.eml" never overwrites the first one processed.
        return self.processed / f"{path.stem}.{sha[:16]}{path.suffix}"

    def fetch(self, uid: str) -> bytes:
        """The bytes of the file the uid names, as listed.

        :raises MessageTooLarge: the file is larger than ``mail.max_message_mb`` (only its headers are read)
        :raises TransportError: the file is gone, unreadable, or replaced since it was listed
        """
        path, sha = self._split(uid)
        cap = self.settings.mail.max_message_bytes
        try:
            # O_NOFOLLOW: a file swapped for a link after listing is refused, not followed (0 where the
            # system has no such flag: Windows has no symlinks a user can make without privilege).
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > cap:
                    if file_sha256(path) != sha:
                        raise TransportError(f"{path} changed since it was listed; list the drop folder again.")
                    raise MessageTooLarge(
                        f"{path.name} is {size} bytes, more than mail.max_message_mb ({cap} bytes)",
                        size=size,
                        headers=read_header_block(path),
                    )
                data = fh.read()
        except OSError as e:
            raise TransportError(f"Cannot read {path}: {e}") from e
        if hashlib.sha256(data).hexdigest() != sha:
            raise TransportError(f"{path} changed since it was listed; list the drop folder again.")
        return data

    def acknowledge(self, uid: str) -> None:
        """Move the file to ``inbox/drop/processed/<name>.<sha256[:16]>.eml``. Idempotent: a file already
        moved, or replaced meanwhile by a new one under the same name (left for the next listing), is fine.

        :raises TransportError: the file is gone without having been moved, or cannot be moved
        """
        path, sha = self._split(uid)
        target = self._processed_path(path, sha)
        try:
            current = file_sha256(path) if path.exists() else None
        except OSError as e:
            raise TransportError(f"Cannot read {path}: {e}") from e
        if current != sha:
            if target.exists() or current is not None:
                return  # moved before (a crash after the move), or a new file has taken the name since
            raise TransportError(f"Cannot acknowledge {path}: the file is gone.")
        private_dir(self.processed)
        try:
            if target.exists():
                path.unlink()  # the same content was processed before under this name: one copy is enough
            else:
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
