"""IMAP (reading, with IMAPClient) + SMTP (sending, with smtplib): for Coremail, Foxmail servers, dovecot…

Reading never changes what a person sees: messages are fetched with ``BODY.PEEK[]`` (no ``\\Seen``), and an
acknowledged message is moved to the processed folder (``已处理`` by default, created if missing) with MOVE,
or COPY + ``\\Deleted`` + UID EXPUNGE where the server has no MOVE. Where the folder cannot be used (or
``imap.processed_folder`` is empty) the message stays and gets the keyword ``$DubanProcessed`` instead;
``list_new`` skips both. Because acknowledged messages leave the listing, a UIDVALIDITY change can neither
lose nor repeat a message: ``list_new`` always answers from what is in the folder now.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors

from mailer.common.config import ImapSettings, Settings, SmtpSettings
from mailer.common.errors import DeliveryRefused, LoginError, MessageTooLarge, SendUncertain, TransportError

log = logging.getLogger(__name__)

PROCESSED_FLAG = "$DubanProcessed"
DELETED = b"\\Deleted"
TIMEOUT_S = 60.0
# RFC 2177 asks clients to renew IDLE at least every 29 minutes; IMAPClient's docs advise 10.
IDLE_RENEW_S = 540.0
# A dropped connection: imaplib's abort, or any socket error (timeouts and TLS errors are OSErrors too).
_DROPPED: tuple[type[BaseException], ...] = (imaplib.IMAP4.abort, OSError)
T = TypeVar("T")


def tls_context(*, verify: bool, ca_file: str) -> ssl.SSLContext:
    """A client TLS context: system CAs (or ``ca_file``), or no verification when ``verify`` is False."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def move_by_copy(client: IMAPClient, uid: int, folder: str, *, uidplus: bool) -> None:
    """Move one message without the MOVE extension: COPY, flag ``\\Deleted``, then UID EXPUNGE.

    Without UIDPLUS a plain EXPUNGE could remove other messages someone flagged as deleted, so the
    message is left flagged; ``list_new`` skips deleted messages.
    """
    client.copy([uid], folder)
    client.add_flags([uid], [DELETED], silent=True)
    if uidplus:
        client.uid_expunge([uid])


class WatchedSMTP(smtplib.SMTP):
    """smtplib.SMTP that remembers whether the whole message (up to the ``.`` that ends DATA) was written.

    Past that point the server may have taken the message even when its 250 never arrives (it delivered and
    then the connection dropped, or the answer timed out): such a failure is not "not sent" but "perhaps
    sent", and must not be retried blindly.
    """

    handed_over = False
    _in_data = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.handed_over = False
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s: Any) -> None:
        super().send(s)
        # smtplib.data() writes the command, then the whole dot-stuffed body ending in CRLF "." CRLF in one
        # call: once that returned, every byte is with the kernel and may reach the server.
        if self._in_data and isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.handed_over = True


class WatchedSMTPSSL(WatchedSMTP, smtplib.SMTP_SSL):
    """:class:`WatchedSMTP` over implicit TLS."""


class ImapSmtpTransport:
    """Reads one IMAP folder and sends over SMTP; optionally keeps a copy of each sent message in IMAP."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.imap: ImapSettings = settings.mail.imap
        self.smtp_cfg: SmtpSettings = settings.mail.smtp
        self.source = f"imap:{self.imap.host}:{self.imap.port}/{self.imap.folder}"
        self._client: IMAPClient | None = None
        self._smtp: WatchedSMTP | None = None
        self._uidvalidity: int | None = None
        self._listed_validity: int | None = None
        self._listed: set[int] = set()
        self._selected: str | None = None
        self._flag_mode = not self.imap.processed_folder
        self._processed_ready = False
        self._known_folders: set[str] = set()

    @property
    def uidvalidity(self) -> int | None:
        return self._uidvalidity

    # -- IMAP connection ----------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.imap.host}:{self.imap.port}"

    def _connect(self) -> IMAPClient:
        cfg = self.imap
        ctx = tls_context(verify=cfg.verify_tls, ca_file=cfg.ca_file)
        try:
            client = IMAPClient(
                cfg.host, port=cfg.port, ssl=cfg.security == "ssl", ssl_context=ctx, timeout=TIMEOUT_S
            )
            if cfg.security == "starttls":
                client.starttls(ctx)
        except (OSError, imaplib.IMAP4.error) as e:
            raise TransportError(
                f"Cannot connect to the IMAP server {self._where()} (security={cfg.security}): {e}. "
                "Check mail.imap.host, port and security (ssl: 993, starttls/none: 143)."
            ) from e
        try:
            client.login(cfg.username, cfg.password)
        except imap_errors.LoginError as e:
            _quiet_logout(client)
            raise LoginError(
                f"IMAP login to {self._where()} as {cfg.username or '(no user)'} failed: {_text(e)}. "
                "Check mail.imap.username and DUBAN_IMAP_PASSWORD."
            ) from e
        except (OSError, imaplib.IMAP4.error) as e:
            _quiet_logout(client)
            raise TransportError(f"IMAP login to {self._where()} as {cfg.username} failed: {_text(e)}") from e
        self._client = client
        self._selected = None
        self._select(client, cfg.folder)
        return client

    def _select(self, client: IMAPClient, folder: str, *, readonly: bool = False) -> dict[bytes, Any]:
        try:
            info: dict[bytes, Any] = client.select_folder(folder, readonly=readonly)
        except imap_errors.IMAPClientAbortError:
            raise
        except imaplib.IMAP4.error as e:
            raise TransportError(
                f'IMAP folder "{folder}" on {self._where()} cannot be opened: {_text(e)}'
            ) from e
        self._selected = folder
        if folder == self.imap.folder:
            validity = int(info.get(b"UIDVALIDITY", 0)) or None
            if self._uidvalidity is not None and validity != self._uidvalidity:
                log.warning(
                    "UIDVALIDITY of %s changed from %s to %s; uids listed before are void",
                    self.source,
                    self._uidvalidity,
                    validity,
                )
            self._uidvalidity = validity
        return info

    def _ensure(self) -> IMAPClient:
        client = self._client or self._connect()
        if self._selected != self.imap.folder:
            self._select(client, self.imap.folder)
        return client

    def _drop_connection(self) -> None:
        if self._client is not None:
            _quiet_logout(self._client)
        self._client = None
        self._selected = None

    def _run(self, what: str, fn: Callable[[IMAPClient], T]) -> T:
        """Run ``fn`` on a logged-in client with the inbox folder selected; reconnect once if dropped."""
        for attempt in (1, 2):
            try:
                return fn(self._ensure())
            except TransportError:
                raise
            except _DROPPED as e:
                self._drop_connection()
                if attempt == 2:
                    raise TransportError(
                        f"IMAP connection to {self._where()} dropped again during {what}: {_text(e)}"
                    ) from e
                log.warning(
                    "IMAP connection to %s dropped during %s (%s); reconnecting", self._where(), what, e
                )
            except imaplib.IMAP4.error as e:
                raise TransportError(f"IMAP {what} on {self._where()} failed: {_text(e)}") from e
        raise AssertionError("unreachable")

    def _capable(self, client: IMAPClient, name: str) -> bool:
        return bool(client.has_capability(name))

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._known_folders:
            return
        if not client.folder_exists(folder):
            client.create_folder(folder)
            try:
                client.subscribe_folder(folder)
            except imaplib.IMAP4.error as e:  # only cosmetic: the folder shows in mail clients
                log.info('Subscribing to IMAP folder "%s" failed: %s', folder, e)
            log.info('Created IMAP folder "%s" on %s', folder, self._where())
        self._known_folders.add(folder)

    def _check_listing(self, uid: str) -> int:
        try:
            n = int(uid)
        except ValueError:
            raise TransportError(f"{uid!r} is not an IMAP uid.") from None
        if self._listed_validity is not None and self._listed_validity != self._uidvalidity:
            raise TransportError(
                f"UIDVALIDITY of {self.source} changed since the last listing "
                f"({self._listed_validity} → {self._uidvalidity}); list the new mail again."
            )
        return n

    # -- receiving ----------------------------------------------------------------------------------------
    @staticmethod
    def _unprocessed(client: IMAPClient) -> list[int]:
        # NOOP first: servers (dovecot among them) may only notice newly delivered mail at a check point,
        # and SEARCH alone is not one.
        client.noop()
        return sorted(client.search(["NOT", "DELETED", "UNKEYWORD", PROCESSED_FLAG]))

    def list_new(self) -> list[str]:
        """UIDs in the inbox folder that are neither deleted nor flagged processed, oldest first."""

        uids = self._run("SEARCH", self._unprocessed)
        self._listed = set(uids)
        self._listed_validity = self._uidvalidity
        return [str(u) for u in uids]

    def fetch(self, uid: str) -> bytes:
        """The raw message, fetched with BODY.PEEK[] so that it stays unread.

        The size (RFC822.SIZE) is asked first: a message over ``mail.max_message_mb`` is never downloaded,
        only its header block (BODY.PEEK[HEADER]).

        :raises MessageTooLarge: the message is over the cap (carrying its size and headers)
        :raises TransportError: the uid is not in the folder (any more), or UIDVALIDITY changed
        """
        n = self._check_listing(uid)
        cap = self.settings.mail.max_message_bytes

        def op(client: IMAPClient) -> Any:
            self._check_listing(uid)  # again: a reconnect may have brought a new UIDVALIDITY
            size = client.fetch([n], ["RFC822.SIZE"]).get(n, {}).get(b"RFC822.SIZE")
            if size is not None and int(size) > cap:
                head = client.fetch([n], ["BODY.PEEK[HEADER]"]).get(n, {}).get(b"BODY[HEADER]")
                raise MessageTooLarge(
                    f"Message uid {uid} in {self.source} is {size} bytes, more than mail.max_message_mb "
                    f"({cap} bytes)",
                    size=int(size),
                    headers=bytes(head or b""),
                )
            return client.fetch([n], ["BODY.PEEK[]"])

        data = self._run("FETCH", op)
        body = data.get(n, {}).get(b"BODY[]")
        if body is None:
            raise TransportError(f"Message uid {uid} is no longer in {self.source}.")
        return bytes(body)

    def acknowledge(self, uid: str) -> None:
        """Move the message to the processed folder (or flag it ``$DubanProcessed``). Idempotent."""
        n = self._check_listing(uid)
        folder = self.imap.processed_folder

        def op(client: IMAPClient) -> None:
            self._check_listing(uid)  # again: a reconnect may have brought a new UIDVALIDITY
            if not self._flag_mode and not self._processed_ready:
                try:
                    self._ensure_folder(client, folder)
                    self._processed_ready = True
                except imap_errors.IMAPClientAbortError:
                    raise
                except imaplib.IMAP4.error as e:
                    log.warning(
                        'IMAP folder "%s" cannot be created on %s (%s); marking processed mail with %s instead',
                        folder,
                        self._where(),
                        e,
                        PROCESSED_FLAG,
                    )
                    self._flag_mode = True
            if self._flag_mode:
                client.add_flags([n], [PROCESSED_FLAG], silent=True)
                return
            try:
                self._move(client, n, folder)
            except imap_errors.IMAPClientAbortError:
                raise
            except imaplib.IMAP4.error as e:
                if "TRYCREATE" not in _text(e).upper():
                    raise
                # Someone deleted the processed folder since we made sure of it: make it again, once.
                self._known_folders.discard(folder)
                self._ensure_folder(client, folder)
                self._move(client, n, folder)

        self._run("acknowledge", op)
        self._listed.discard(n)

    def _move(self, client: IMAPClient, uid: int, folder: str) -> None:
        if self._capable(client, "MOVE"):
            client.move([uid], folder)
        else:
            move_by_copy(client, uid, folder, uidplus=self._capable(client, "UIDPLUS"))

    def wait(self, timeout_s: float) -> bool:
        """IMAP IDLE on the inbox folder until something arrives (True) or the timeout passes (False).

        Without IDLE (or with ``imap.idle = false``) this sleeps and returns False: nothing is known to have
        arrived, and the service's poll interval decides when to look.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        client = self._run("connect", lambda c: c)
        if not (self.imap.idle and self._capable(client, "IDLE")):
            time.sleep(max(0.0, timeout_s))
            return False
        # Something may have come between the caller's list_new() and now: IDLE would not report it.
        if set(self._run("SEARCH", self._unprocessed)) - self._listed:
            return True
        try:
            return self._idle(client, deadline)
        except _DROPPED as e:
            log.warning("IMAP connection to %s dropped during IDLE (%s)", self._where(), e)
            self._drop_connection()
            return True  # reconnect on the next call; something may have arrived meanwhile
        except imaplib.IMAP4.error as e:
            raise TransportError(f"IMAP IDLE on {self._where()} failed: {_text(e)}") from e

    def _idle(self, client: IMAPClient, deadline: float) -> bool:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            client.idle()
            try:
                responses = client.idle_check(timeout=min(left, IDLE_RENEW_S))
            finally:
                _, more = client.idle_done()
            for resp in [*responses, *more]:
                if (
                    len(resp) >= 2
                    and resp[1] in (b"EXISTS", b"RECENT")
                    and isinstance(resp[0], int)
                    and resp[0]
                ):
                    return True

    # -- sending ------------------------------------------------------------------------------------------
    def _smtp_where(self) -> str:
        return f"{self.smtp_cfg.host}:{self.smtp_cfg.port}"

    def _smtp_connect(self) -> WatchedSMTP:
        cfg = self.smtp_cfg
        ctx = tls_context(verify=cfg.verify_tls, ca_file=cfg.ca_file)
        conn: WatchedSMTP
        try:
            if cfg.security == "ssl":
                conn = WatchedSMTPSSL(cfg.host, cfg.port, timeout=TIMEOUT_S, context=ctx)
            else:
                conn = WatchedSMTP(cfg.host, cfg.port, timeout=TIMEOUT_S)
                if cfg.security == "starttls":
                    conn.starttls(context=ctx)
            conn.ehlo_or_helo_if_needed()
        except (OSError, smtplib.SMTPException) as e:
            raise TransportError(
                f"Cannot connect to the SMTP server {self._smtp_where()} (security={cfg.security}): {e}. "
                "Check mail.smtp.host, port and security (ssl: 465, starttls: 587)."
            ) from e
        if cfg.username:
            try:
                conn.login(cfg.username, cfg.password)
            except smtplib.SMTPAuthenticationError as e:
                _quiet_quit(conn)
                raise LoginError(
                    f"SMTP login to {self._smtp_where()} as {cfg.username} failed: {e.smtp_code} "
                    f"{_smtp_text(e.smtp_error)}. Check mail.smtp.username and DUBAN_SMTP_PASSWORD."
                ) from e
            except smtplib.SMTPNotSupportedError as e:
                _quiet_quit(conn)
                raise TransportError(
                    f"The SMTP server {self._smtp_where()} offers no login (AUTH) on this connection; "
                    'use mail.smtp.security = "starttls" or "ssl", or leave mail.smtp.username empty.'
                ) from e
            except (OSError, smtplib.SMTPException) as e:
                _quiet_quit(conn)
                raise TransportError(
                    f"SMTP login to {self._smtp_where()} as {cfg.username} failed: {e}"
                ) from e
        return conn

    def _smtp_ready(self) -> WatchedSMTP:
        # A connection kept from an earlier send may have been closed by the server meanwhile; find out
        # with NOOP *before* sending, so that a message is never sent twice by a retry after DATA.
        if self._smtp is not None:
            try:
                code, _ = self._smtp.noop()
                if code == 250:
                    return self._smtp
            except (OSError, smtplib.SMTPException):
                pass
            _quiet_quit(self._smtp)
            self._smtp = None
        self._smtp = self._smtp_connect()
        return self._smtp

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: list[str],
        message_id: str,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Send over SMTP, then (if ``imap.sent_folder`` is set) APPEND a copy there, marked \\Seen.

        Recipients the server refuses while accepting others are logged as a warning (the message went out).
        ``on_accepted`` runs right after the server's 250 to DATA, before the Sent copy.

        :raises LoginError: SMTP AUTH failed
        :raises SendUncertain: the connection dropped after the whole message was written, before the answer
        :raises TransportError: the message was not accepted for any recipient
        """
        if not recipients:
            raise TransportError(f"Message {message_id} has no recipients.")
        conn = self._smtp_ready()
        conn.handed_over = False
        try:
            refused = conn.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as e:
            detail = "; ".join(f"{a}: {c} {_smtp_text(m)}" for a, (c, m) in e.recipients.items())
            permanent = all(c >= 500 for c, _ in e.recipients.values())
            raise (DeliveryRefused if permanent else TransportError)(
                f"SMTP server {self._smtp_where()} refused every recipient ({detail})."
            ) from e
        except smtplib.SMTPSenderRefused as e:
            raise TransportError(
                f"SMTP server {self._smtp_where()} refused the sender {sender}: {e.smtp_code} "
                f"{_smtp_text(e.smtp_error)}. Is mail.from_address the account's own address?"
            ) from e
        except smtplib.SMTPResponseException as e:
            raise (DeliveryRefused if e.smtp_code >= 500 else TransportError)(
                f"SMTP server {self._smtp_where()} did not accept {message_id}: {e.smtp_code} "
                f"{_smtp_text(e.smtp_error)}"
            ) from e
        except (OSError, smtplib.SMTPException) as e:
            _quiet_quit(conn)
            self._smtp = None
            if conn.handed_over:
                raise SendUncertain(
                    f"SMTP server {self._smtp_where()} received all of {message_id} but the connection "
                    f"ended before its answer ({e}): it may have been sent."
                ) from e
            raise TransportError(f"Sending {message_id} over {self._smtp_where()} failed: {e}") from e
        if on_accepted is not None:
            on_accepted()
        if refused:
            log.warning(
                "SMTP server %s refused %d recipient(s) of %s: %s",
                self._smtp_where(),
                len(refused),
                message_id,
                ", ".join(refused),
            )
        if self.imap.sent_folder:
            try:
                self._append_sent(raw)
            except (TransportError, OSError, imaplib.IMAP4.error) as e:
                log.warning(
                    "%s was sent, but no copy could be kept in %s: %s", message_id, self.imap.sent_folder, e
                )

    def _append_sent(self, raw: bytes) -> None:
        folder = self.imap.sent_folder

        message_id = _header_message_id(raw)

        def op(client: IMAPClient) -> None:
            self._ensure_folder(client, folder)
            if message_id and self._in_folder(client, folder, message_id):
                return  # the server keeps SMTP-sent mail in this folder itself (Coremail can): no second copy
            client.append(folder, raw, flags=[b"\\Seen"])

        self._run("APPEND", op)

    def _in_folder(self, client: IMAPClient, folder: str, message_id: str) -> bool:
        self._select(client, folder, readonly=True)
        try:
            return bool(client.search(["HEADER", "Message-ID", message_id]))
        finally:
            self._select(client, self.imap.folder)

    def was_sent(self, message_id: str) -> bool | None:
        """True when ``imap.sent_folder`` holds the Message-ID; otherwise None, never False: SMTP may have
        accepted the message before the copy was appended (or with no sent folder configured at all)."""
        folder = self.imap.sent_folder
        if not folder:
            return None

        def op(client: IMAPClient) -> bool:
            if folder not in self._known_folders and not client.folder_exists(folder):
                return False
            return self._in_folder(client, folder, message_id)

        return True if self._run("SEARCH in sent folder", op) else None

    # -- housekeeping -------------------------------------------------------------------------------------
    def check(self) -> str:
        """Log in to IMAP and SMTP and describe both.

        :raises LoginError: either server rejected the credentials
        :raises TransportError: a server cannot be reached, or the inbox folder cannot be opened
        """

        def op(client: IMAPClient) -> str:
            caps = {c.decode() for c in client.capabilities()}
            status = client.folder_status(self.imap.folder, ["MESSAGES", "UIDVALIDITY"])
            processed = self.imap.processed_folder
            if processed:
                where = "exists" if client.folder_exists(processed) else "will be created on first use"
                ack = f'moved to "{processed}" ({where}; {"MOVE" if "MOVE" in caps else "COPY + EXPUNGE"})'
            else:
                ack = f"flagged {PROCESSED_FLAG}"
            return (
                f"IMAP {self._where()} ({self.imap.security}) as {self.imap.username}: "
                f'folder "{self.imap.folder}" holds {status.get(b"MESSAGES", "?")} message(s), '
                f"UIDVALIDITY {status.get(b'UIDVALIDITY', '?')}; processed mail is {ack}; "
                f"IDLE {'yes' if 'IDLE' in caps and self.imap.idle else 'no'}; "
                f"sent copies {'in ' + repr(self.imap.sent_folder) if self.imap.sent_folder else 'not kept'}."
            )

        lines = [self._run("check", op)]
        conn = self._smtp_ready()
        features = " ".join(sorted(k.upper() for k in conn.esmtp_features))
        who = f"as {self.smtp_cfg.username}" if self.smtp_cfg.username else "without login"
        lines.append(f"SMTP {self._smtp_where()} ({self.smtp_cfg.security}) {who}: OK ({features}).")
        return "\n".join(lines)

    def close(self) -> None:
        if self._smtp is not None:
            _quiet_quit(self._smtp)
            self._smtp = None
        self._drop_connection()


def _header_message_id(raw: bytes) -> str:
    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return str(head.get("Message-ID") or "").strip()


def _quiet_logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error) as e:  # the connection may be gone; logging out is a courtesy
        log.info("IMAP logout failed: %s", e)
        with contextlib.suppress(OSError):
            client.shutdown()


def _quiet_quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException) as e:
        log.info("SMTP QUIT failed: %s", e)
        with contextlib.suppress(OSError):
            conn.close()


def _text(e: BaseException) -> str:
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in e.args]
    return " ".join(parts) or type(e).__name__


def _smtp_text(msg: bytes | str) -> str:
    return msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)


__all__ = ["PROCESSED_FLAG", "ImapSmtpTransport", "WatchedSMTP", "WatchedSMTPSSL", "move_by_copy", "tls_context"]
