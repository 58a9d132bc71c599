"""The one mail transport interface, and the factory that picks an implementation from the settings.

Every transport does the same four things for the service: send a finished RFC 822 message, tell whether a
message with a given Message-ID was already sent (where it can), list and fetch what came in, and acknowledge
a message once the registry has recorded it (design principle 2: archive → record → acknowledge). Nothing
here parses mail; ``mailer.read.mailread`` does that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Protocol, runtime_checkable

from mailer.common.config import Settings
from mailer.common.errors import ConfigError

log = logging.getLogger(__name__)


def unnamed_recipients(raw: bytes, recipients: list[str]) -> list[str]:
    """The ``recipients`` that ``raw``'s To and Cc headers do not name. Exchange (EWS and Graph) sends a MIME
    message to its headers' addresses, so these must be added as Bcc; SMTP takes the envelope as it is."""
    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    named = {a.lower() for _, a in getaddresses([*head.get_all("To", []), *head.get_all("Cc", [])])}
    return [a for a in recipients if a.lower() not in named]


@runtime_checkable
class Transport(Protocol):
    """A mailbox to send from and read from.

    ``source`` names the mailbox for the registry (``folder:/abs/inbox/drop``, ``imap:host:993/INBOX``,
    ``ews:bgs@example.gov.cn``, ``graph:bgs@example.gov.cn``); uids are only meaningful together with it (and, for IMAP, ``uidvalidity``).
    Connections are opened lazily, on the first call that needs one.
    """

    source: str

    @property
    def uidvalidity(self) -> int | None:
        """IMAP UIDVALIDITY of the inbox folder as last seen (None for transports without it)."""
        ...

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: list[str],
        message_id: str,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Send ``raw`` (a complete RFC 822 message carrying ``message_id``) from ``sender`` to ``recipients``.

        ``on_accepted`` is called the moment the server has taken the message (SMTP 250 after DATA, the
        EWS CreateItem answer, the file renamed into place), before any bookkeeping such as a Sent copy, so
        the caller can record it as sent while nothing else can fail in between.

        :raises LoginError: the server rejected the credentials
        :raises SendUncertain: the whole message was handed over but the answer was lost: it may have gone
        :raises TransportError: the message was not accepted (nothing was sent)
        """
        ...

    def was_sent(self, message_id: str) -> bool | None:
        """Whether a message with this Message-ID went out: True where a copy proves it, False only where the
        transport knows it did not (the folder transport), None where it cannot tell (no Sent copy proves
        nothing over SMTP, and Exchange may file the Sent Items copy late)."""
        ...

    def list_new(self) -> list[str]:
        """The uids of the messages not yet acknowledged, oldest first."""
        ...

    def fetch(self, uid: str) -> bytes:
        """The raw RFC 822 bytes of one message, without changing its state (no \\Seen).

        :raises TransportError: the message is gone or cannot be read
        """
        ...

    def acknowledge(self, uid: str) -> None:
        """Take the message out of what ``list_new`` returns (moved to the processed folder). Idempotent."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` seconds for new mail; True only when the transport learned that
        something arrived (IMAP IDLE, a file in the drop folder), False when the time simply passed —
        polling-only transports always return False and leave the timing to the service's interval."""
        ...

    def check(self) -> str:
        """Connect and log in, and describe the mailbox in a few lines for a person.

        :raises LoginError: the credentials were rejected
        :raises TransportError: the server cannot be reached or refuses the operation
        """
        ...

    def close(self) -> None:
        """Log out and close connections; never raises."""
        ...


def make_transport(settings: Settings) -> Transport:
    """The transport that ``settings.mail.transport`` names, not yet connected.

    :raises ConfigError: the transport name is not known
    """
    kind = settings.mail.transport
    if kind == "folder":
        from mailer.transport.folder import FolderTransport

        return FolderTransport(settings)
    if kind == "imap":
        from mailer.transport.imap_smtp import ImapSmtpTransport

        return ImapSmtpTransport(settings)
    if kind == "exchange":
        # exchangelib takes half a second to import; only a home that uses Exchange pays for it.
        from mailer.transport.exchange import ExchangeTransport

        return ExchangeTransport(settings)
    if kind == "graph":
        try:
            import msal  # noqa: F401 - only to tell a missing optional extra from a bug
        except ImportError as e:
            raise ConfigError(
                "mail.transport = \"graph\" 需要 msal 软件包，当前未安装。"
                "请运行 pip install 'duban[graph]'（或 pip install msal）后重试。"
            ) from e
        from mailer.transport.graph import GraphTransport

        return GraphTransport(settings)
    raise ConfigError(f'mail.transport = "{kind}" is not known. Use "folder", "imap", "exchange" or "graph".')


@contextmanager
def open_transport(settings: Settings) -> Iterator[Transport]:
    """Open the configured transport for a block of work and close it afterwards.

    A failure while closing is logged, never raised, and never hides an exception raised inside the block.

    :raises ConfigError: the transport name is not known
    """
    transport = make_transport(settings)
    try:
        yield transport
    finally:
        try:
            transport.close()
        except Exception as e:  # noqa: BLE001 - closing must not mask the block's own exception
            log.info("Closing %s failed: %s", transport.source, e)
