"""Exchange Web Services (exchangelib): for a bureau on on-premises Exchange (NTLM or basic) or, until
Microsoft retires EWS there, Exchange Online (OAuth2 client credentials).

Never autodiscovers: the endpoint is configured (``mail.exchange.endpoint``), and with
``mail.exchange.server_version`` no version-guessing request is made either. The credentials are checked
once with exchangelib's fail-fast policy, so a wrong password fails at once with a LoginError (with
``FaultTolerance`` a 401 looks like throttling and is retried for up to ``max_wait``, which can also lock
the account); only then is ``FaultTolerance(max_wait=max_wait_s)`` switched on for the real work.

Polling is server-side: FindItem over the inbox, everything still there (acknowledged items are moved to
the processed folder, so read/unread state, which people change, does not matter), sorted by
``datetime_received``, returning only ids. ``fetch`` is GetItem for the MIME content. Sending is CreateItem
with the raw MIME and ``SendAndSaveCopy`` into Sent Items.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    FaultTolerance,
    Identity,
    Mailbox,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib import errors as ews
from exchangelib.ewsdatetime import EWSTimeZone
from exchangelib.folders import SHALLOW, Folder, SingleFolderQuerySet
from exchangelib.protocol import BaseProtocol, FailFast
from exchangelib.services import CreateFolder

from mailer.common.config import ExchangeSettings, Settings
from mailer.common.errors import LoginError, MessageTooLarge, SendUncertain, TransportError
from mailer.transport.base import unnamed_recipients
from mailer.transport.httpcut import never_connected as _never_connected

log = logging.getLogger(__name__)

T = TypeVar("T")
EXCHANGE_ONLINE = "https://outlook.office365.com/EWS/Exchange.asmx"
_POLL_PAGE = 100


def _version(text: str) -> Version | None:
    """``15.1.2507.6`` → Version(build=Build(15, 1, 2507, 6)); empty → None (exchangelib will ask)."""
    if not text.strip():
        return None
    try:
        parts = [int(p) for p in text.strip().split(".")]
    except ValueError:
        raise TransportError(
            f'mail.exchange.server_version = "{text}" is not a version number; use e.g. "15.1.2507.6".'
        ) from None
    return Version(build=Build(*parts[:4]))


def _use_ca_file(ca_file: str) -> None:
    """Verify the server against ``ca_file`` (the bureau's internal CA).

    exchangelib takes the HTTP adapter class from a process-wide attribute, so this affects every
    Exchange connection of the process; a duban process talks to one Exchange server.
    """

    class RootCAAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn=conn, url=url, verify=ca_file, cert=cert)

    BaseProtocol.HTTP_ADAPTER_CLS = RootCAAdapter


class ExchangeTransport:
    """One Exchange mailbox: its inbox is read, its Sent Items keep what is sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg: ExchangeSettings = settings.mail.exchange
        self.address = self.cfg.primary_address or settings.mail.from_address
        self.endpoint = self.cfg.endpoint or (EXCHANGE_ONLINE if self.cfg.auth == "oauth2" else "")
        self.source = f"ews:{self.address}"
        self._account: Account | None = None
        self._inbox: Any = None
        self._processed: Any = None
        self._sent: Any = None

    @property
    def uidvalidity(self) -> int | None:
        return None

    # -- connection ---------------------------------------------------------------------------------------
    def _who(self) -> str:
        return self.cfg.username or self.cfg.client_id or self.address

    def _credentials(self) -> tuple[Any, str]:
        cfg = self.cfg
        if cfg.auth == "oauth2":
            if not (cfg.client_id and cfg.client_secret and cfg.tenant_id):
                raise TransportError(
                    "Exchange OAuth2 needs mail.exchange.client_id, tenant_id and DUBAN_EWS_CLIENT_SECRET."
                )
            creds = OAuth2Credentials(
                client_id=cfg.client_id,
                client_secret=cfg.client_secret,
                tenant_id=cfg.tenant_id,
                identity=Identity(primary_smtp_address=self.address),
            )
            return creds, OAUTH2
        if cfg.auth not in ("ntlm", "basic"):
            raise TransportError(
                f'mail.exchange.auth = "{cfg.auth}" is not known. Use "ntlm", "basic" or "oauth2".'
            )
        return Credentials(cfg.username or self.address, cfg.password), NTLM if cfg.auth == "ntlm" else BASIC

    def _connect(self) -> Account:
        if not self.endpoint:
            raise TransportError(
                "mail.exchange.endpoint is not set. Use the EWS URL, e.g. "
                "https://mail.example.gov.cn/EWS/Exchange.asmx (autodiscover is not used)."
            )
        if not self.address or "@" not in self.address:
            raise TransportError(
                "mail.exchange.primary_address (or mail.from_address) must be the mailbox address."
            )
        if self.cfg.ca_file:
            _use_ca_file(self.cfg.ca_file)
        creds, auth_type = self._credentials()
        config = Configuration(
            service_endpoint=self.endpoint,
            credentials=creds,
            auth_type=auth_type,
            version=_version(self.cfg.server_version),
            retry_policy=FailFast(),
        )
        with self._errors("connect"):
            try:
                tz = EWSTimeZone(self.settings.cycle.timezone)
            except ews.UnknownTimeZone:
                tz = None
            account = Account(
                primary_smtp_address=self.address,
                config=config,
                autodiscover=False,
                # Client-credentials OAuth2 is an application acting for the mailbox: impersonation.
                access_type=IMPERSONATION if self.cfg.auth == "oauth2" else DELEGATE,
                default_timezone=tz,
            )
            # exchangelib caches one Protocol per (endpoint, credentials) across the process, with its
            # config: set fail-fast explicitly, in case an earlier connection left FaultTolerance on it.
            account.protocol.config.retry_policy = FailFast()
            self._inbox = account.inbox  # GetFolder: the first request, and the credential check
            account.protocol.config.retry_policy = FaultTolerance(max_wait=self.cfg.max_wait_s)
        self._account = account
        return account

    def _acc(self) -> Account:
        return self._account or self._connect()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn exchangelib and HTTP errors into our LoginError/TransportError with a clear message."""
        try:
            yield
        except (LoginError, TransportError):
            raise
        except ews.UnauthorizedError as e:
            raise LoginError(
                f"Exchange login to {self.endpoint} as {self._who()} failed: {e}. "
                "Check mail.exchange.username (DOMAIN\\user for NTLM) and DUBAN_EWS_PASSWORD."
            ) from e
        except ews.CASError as e:
            raise TransportError(f"Exchange {what} at {self.endpoint} failed (CAS error): {e}") from e
        except (ews.ErrorServerBusy, ews.RateLimitError) as e:
            wait = getattr(e, "back_off", None) or getattr(e, "wait", None)
            if isinstance(wait, int | float):
                detail = f"it asks to wait {wait:.0f} s, longer than mail.exchange.max_wait_s = {self.cfg.max_wait_s}"
            else:
                detail = f"it stayed busy for mail.exchange.max_wait_s = {self.cfg.max_wait_s} s"
            raise TransportError(
                f"Exchange {self.endpoint} is throttling duban (ErrorServerBusy): {detail}. {what} was not done; "
                "it is tried again at the next poll."
            ) from e
        except ews.ErrorTimeoutExpired as e:
            # exchangelib also reports refused and dropped connections so ("Reraised from ConnectionError").
            raise TransportError(
                f"Cannot reach Exchange at {self.endpoint}, or it did not answer in time ({what}): {e}"
            ) from e
        except requests.exceptions.Timeout as e:
            raise TransportError(f"Exchange {self.endpoint} did not answer in time during {what}: {e}") from e
        except requests.exceptions.SSLError as e:
            raise TransportError(
                f"TLS to {self.endpoint} failed: {e}. Set mail.exchange.ca_file to the bureau's CA certificate."
            ) from e
        except requests.exceptions.ConnectionError as e:
            raise TransportError(f"Cannot reach Exchange at {self.endpoint} ({what}): {e}") from e
        except ews.EWSError as e:
            raise TransportError(f"Exchange {what} failed: {type(e).__name__}: {e}") from e

    def _call(self, what: str, fn: Callable[[Account], T]) -> T:
        with self._errors(what):
            return fn(self._acc())

    def _processed_folder(self, acc: Account) -> Any:
        if self._processed is not None:
            return self._processed
        name = self.cfg.processed_folder or "已处理"

        def find() -> Any:
            query = SingleFolderQuerySet(account=acc, folder=self._inbox).depth(SHALLOW).only("name")
            return next((f for f in query.filter(name=name) if not isinstance(f, Exception)), None)

        folder = find()
        if folder is None:
            # CreateFolder directly: Folder.save() would also map the whole folder tree into exchangelib's
            # cache (a GetFolder of every well-known folder and a deep FindFolder) for nothing.
            CreateFolder(account=acc).get(
                parent_folder=self._inbox, folders=[Folder(parent=self._inbox, name=name)]
            )
            log.info('Created Exchange folder "%s" under the inbox of %s', name, self.address)
            folder = find()
            if folder is None:
                raise TransportError(
                    f'Exchange folder "{name}" was created but cannot be found under the inbox.'
                )
        self._processed = folder
        return folder

    # -- receiving ----------------------------------------------------------------------------------------
    def list_new(self) -> list[str]:
        """Ids of every item still in the inbox, oldest first (one FindItem; no item bodies)."""

        def op(acc: Account) -> list[str]:
            qs = self._inbox.all().order_by("datetime_received").only("datetime_received")
            qs.page_size = _POLL_PAGE
            return [item.id for item in qs if not isinstance(item, Exception) and item.id]

        return self._call("FindItem on the inbox", op)

    def fetch(self, uid: str) -> bytes:
        """The item's MIME content (GetItem). Reading it does not mark it read.

        :raises MessageTooLarge: the item's size is over ``mail.max_message_mb`` (only its headers are read)
        :raises TransportError: the item is gone or has no MIME content
        """
        cap = self.settings.mail.max_message_bytes

        def op(acc: Account) -> bytes:
            # The size first (and the headers, cheap): an item over the cap is never downloaded.
            items = list(acc.fetch(ids=[(uid, None)], folder=self._inbox, only_fields=["size", "headers"]))
            item = items[0] if items else None
            if isinstance(item, Exception):
                raise item
            size = getattr(item, "size", None)
            if item is not None and size is not None and size > cap:
                head = "".join(f"{h.name}: {h.value}\r\n" for h in (item.headers or []))
                raise MessageTooLarge(
                    f"Exchange item {uid[:24]}… is {size} bytes, more than mail.max_message_mb ({cap} bytes)",
                    size=size,
                    headers=head.encode("utf-8") + b"\r\n",
                )
            items = list(acc.fetch(ids=[(uid, None)], folder=self._inbox, only_fields=["mime_content"]))
            item = items[0] if items else None
            if isinstance(item, Exception):
                raise item
            if item is None or not item.mime_content:
                raise TransportError(f"Exchange item {uid[:24]}… has no MIME content.")
            data = item.mime_content
            return data if isinstance(data, bytes) else str(data).encode("utf-8")

        return self._call("GetItem", op)

    def acknowledge(self, uid: str) -> None:
        """Move the item to the processed folder (created under the inbox if missing). Idempotent."""

        def op(acc: Account) -> None:
            target = self._processed_folder(acc)
            result = acc.bulk_move(ids=[(uid, None)], to_folder=target)
            for r in result:
                if isinstance(r, ews.ErrorItemNotFound):
                    log.info("Exchange item %s… was already moved", uid[:24])
                elif isinstance(r, Exception):
                    raise r

        self._call("MoveItem", op)

    def wait(self, timeout_s: float) -> bool:
        """Exchange is polled: sleep ``timeout_s``; False, since nothing is known to have arrived (the
        service's poll interval decides when to look)."""
        time.sleep(max(0.0, timeout_s))
        return False

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
        """CreateItem with the raw MIME, sent and saved to Sent Items.

        Recipients not named in the To/Cc headers are added as Bcc (Exchange sends to the headers' ones).
        The CreateItem request is made once, fail-fast: with exchangelib's FaultTolerance a dropped connection
        can be retried, and a request the server had already carried out would send the message twice.

        :raises LoginError: the credentials were rejected
        :raises SendUncertain: the connection dropped or timed out after the request went out (it may have
            been sent; ``was_sent`` looks in Sent Items)
        :raises TransportError: Exchange refused the message, or could not be reached at all
        """
        if not recipients:
            raise TransportError(f"Message {message_id} has no recipients.")
        bcc = [Mailbox(email_address=a) for a in unnamed_recipients(raw, recipients)]

        def prepare(acc: Account) -> Any:
            if self._sent is None:
                self._sent = acc.sent
            return acc

        acc = self._call("connect", prepare)  # a failure here is before anything was asked: not sent
        msg = Message(account=acc, folder=self._sent, mime_content=raw, is_read=True)
        if bcc:
            msg.bcc_recipients = bcc
        config = acc.protocol.config
        policy = config.retry_policy
        config.retry_policy = FailFast()
        try:
            with self._errors("CreateItem (send)"):
                try:
                    msg.send_and_save()
                except (ews.ErrorTimeoutExpired, requests.exceptions.ConnectionError, OSError) as e:
                    if _never_connected(e):
                        raise TransportError(
                            f"Cannot reach Exchange at {self.endpoint} to send {message_id}: {e}"
                        ) from e
                    raise SendUncertain(
                        f"Exchange {self.endpoint} dropped the connection after CreateItem for {message_id} "
                        f"was sent, before its answer ({e}): it may have been sent."
                    ) from e
        finally:
            config.retry_policy = policy
        if on_accepted is not None:
            on_accepted()

    def was_sent(self, message_id: str) -> bool | None:
        """True when Sent Items holds an item with this InternetMessageId; otherwise None, never False:
        Exchange may file the copy of a message it did send some time later."""

        def op(acc: Account) -> bool:
            if self._sent is None:
                self._sent = acc.sent
            return bool(self._sent.filter(message_id=message_id).only("message_id").count())

        return True if self._call("FindItem in Sent Items", op) else None

    # -- housekeeping -------------------------------------------------------------------------------------
    def check(self) -> str:
        """Log in (fail-fast), count the inbox, find or create the processed folder, and describe them."""

        def op(acc: Account) -> str:
            inbox = self._inbox
            folder = self._processed_folder(acc)
            count = getattr(inbox, "total_count", None)
            return (
                f"Exchange {self.endpoint} ({self.cfg.auth}) as {self._who()} for {self.address}: "
                f"inbox holds {count if count is not None else '?'} item(s); processed mail is moved to "
                f'"{folder.name}"; sent mail is kept in Sent Items; server version '
                f"{self.cfg.server_version or 'asked from the server'}."
            )

        return self._call("check", op)

    def close(self) -> None:
        if self._account is not None:
            try:
                self._account.protocol.close()
            except (OSError, ews.EWSError) as e:
                log.info("Closing the Exchange session failed: %s", e)
        self._account = None
        self._inbox = self._processed = self._sent = None
