"""Real mail servers on loopback for the tests: a private dovecot (IMAP + LMTP) and an aiosmtpd SMTP server
that delivers every accepted message into dovecot over LMTP, so SMTP → IMAP is the real path.

Use the ``mail_servers`` fixture (session scope; tests/conftest.py imports it), or start them by hand, e.g.
for a benchmark (tests/ is on sys.path under pytest; elsewhere import ``tests.mailserver`` from the repo)::

    from mailserver import MailServers
    with MailServers.start() as servers:            # or, from the repository: python -m tests.mailserver
        settings = servers.settings(home_settings, user="bgs@jyj.example.gov.cn")
        servers.deliver(raw, to="bgs@jyj.example.gov.cn")   # straight into the mailbox over LMTP
        ...

``EwsServer`` is the Exchange counterpart: a loopback EWS endpoint answering from recorded responses.

Nothing here touches the system dovecot: the configuration, sockets, state, logs and Maildirs all live in one
temporary directory that is removed at the end. dovecot runs in the foreground as a child process (as root it
drops privileges to its own users; mail is stored as ``nobody``). When dovecot is not installed the fixture
skips, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import html
import logging
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mailer.common.config import ImapSettings, MailSettings, Settings, SmtpSettings

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LMTP_BINARY = "/usr/lib/dovecot/lmtp"
DOMAIN = "jyj.example.gov.cn"
USERS: dict[str, str] = {
    f"bgs@{DOMAIN}": "bgs-secret-1",  # 局办公室: duban's own mailbox
    f"jcg@{DOMAIN}": "jcg-secret-2",  # a lead office (基财股 in the tests)
    f"leader@{DOMAIN}": "leader-secret-3",  # a supervising leader
    f"signer@{DOMAIN}": "signer-secret-4",  # the signer (局长)
}
HOST = "127.0.0.1"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: the sockets stay bound until all are chosen (one at a time, the kernel
    may hand out the port it just released, and two servers then collide)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in socks]


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


@dataclass
class Dovecot:
    """A private dovecot instance: IMAP (plain/STARTTLS and SSL ports) and LMTP on a unix socket."""

    root: Path
    cert: Path
    key: Path
    imap_port: int = 0
    imaps_port: int = 0
    disable_move: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def lmtp_socket(self) -> Path:
        return self.root / "run" / "lmtp"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "dovecot.log"

    def config(self) -> str:
        r = self.root
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            login_user, internal_user = "dovenull", "dovecot"
        else:  # unprivileged: every process runs as the current user
            mail_user = pwd.getpwuid(os.geteuid())
            login_user = internal_user = mail_user.pw_name
        caps = ""
        if self.disable_move:
            caps = (
                "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ "
                "UIDPLUS NAMESPACE CHILDREN SPECIAL-USE\n"
            )
        return f"""\
instance_name = duban-test-{r.name}
base_dir = {r}/run
state_dir = {r}/state
log_path = {self.log_file}
info_log_path = {self.log_file}
protocols = imap lmtp
listen = {HOST}
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{r}/mail/%u/Maildir
mail_uid = {mail_user.pw_uid}
mail_gid = {mail_user.pw_gid}
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 1 secs
postmaster_address = postmaster@{DOMAIN}
{caps}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {r}/users
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={r}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service doveadm {{
  inet_listener {{
    port = 0
  }}
}}
"""

    def start(self) -> None:
        r = self.root
        for sub in ("run", "state", "log", "mail"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        (r / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in USERS.items()), encoding="utf-8")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(r / "mail", nobody.pw_uid, nobody.pw_gid)
        if not (self.imap_port and self.imaps_port):
            self.imap_port, self.imaps_port = free_ports(2)
        conf = r / "dovecot.conf"
        conf.write_text(self.config(), encoding="utf-8")
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"dovecot exited at start ({self.proc.returncode}): {out}\n{self._log()}")
            if self._listening():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start listening within 15 s.\n{self._log()}")

    def _listening(self) -> bool:
        if not self.lmtp_socket.exists():
            return False
        for port in (self.imap_port, self.imaps_port):
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) != 0:
                    return False
        return True

    def _log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return "(no dovecot log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()


class LmtpRelay:
    """aiosmtpd handler: hand each accepted message to dovecot over LMTP (per-recipient answers kept)."""

    def __init__(self, lmtp_socket: Path) -> None:
        self.lmtp_socket = lmtp_socket
        self.delivered: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        try:
            refused = await asyncio.get_running_loop().run_in_executor(
                None, self._deliver, envelope.mail_from, list(envelope.rcpt_tos), content
            )
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = next(iter(e.recipients.values()))
            return f"{code} {msg.decode(errors='replace')}"
        except (OSError, smtplib.SMTPException) as e:
            return f"451 4.3.0 LMTP delivery failed: {e}"
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), content))
        if refused:
            return "250 OK (some recipients refused by LMTP: " + ", ".join(refused) + ")"
        return "250 OK"

    def _deliver(self, sender: str, rcpts: list[str], content: bytes) -> dict[str, Any]:
        # One LMTP transaction per recipient: LMTP answers DATA once per recipient, which smtplib reads as
        # one reply, so a multi-recipient transaction looks failed although every copy was saved.
        refused: dict[str, Any] = {}
        for rcpt in rcpts:
            try:
                with smtplib.LMTP(str(self.lmtp_socket), timeout=30) as lmtp:
                    refused.update(lmtp.sendmail(sender, [rcpt], content))
            except smtplib.SMTPRecipientsRefused as e:
                if len(rcpts) == 1:
                    raise
                refused.update(e.recipients)
        if refused and len(refused) == len(rcpts):
            raise smtplib.SMTPRecipientsRefused(refused)
        return refused


class DroppingRelay(LmtpRelay):
    """Delivers like :class:`LmtpRelay`, then cuts the connection instead of answering the DATA: the message
    is in the mailbox, and the client never hears so (a server or network failing at the worst moment)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            server.transport.abort()  # RST: the "250 OK" below goes nowhere
        return answer


class CuttingAtRcpt(LmtpRelay):
    """Cuts the connection at RCPT TO, before any of the message was sent: certainly not delivered."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        server.transport.abort()
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if isinstance(auth_data, LoginPassword):
        user = auth_data.login.decode()
        if USERS.get(user.lower()) == auth_data.password.decode():
            return AuthResult(success=True, auth_data=user)
    return AuthResult(success=False, handled=False)


@dataclass
class MailServers:
    """dovecot + an SMTP server (STARTTLS port and SSL port) sharing one certificate."""

    root: Path
    dovecot: Dovecot
    relay: LmtpRelay
    smtp_port: int
    smtps_port: int
    controllers: list[Any] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))

    @property
    def ca_file(self) -> Path:
        return self.dovecot.cert

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    @classmethod
    @contextlib.contextmanager
    def start(cls, *, disable_move: bool = False) -> Iterator[MailServers]:
        """Start dovecot and the SMTP servers; stop both and remove every file at the end."""
        from aiosmtpd.controller import Controller

        # aiosmtpd logs a deprecation warning on every successful AUTH; keep test output readable.
        logging.getLogger("mail.log").setLevel(logging.ERROR)

        # Under /tmp (not pytest's 0700 tmp dirs): the mail processes run as "nobody" and must reach it.
        root = Path(tempfile.mkdtemp(prefix="duban-mail-", dir="/tmp"))
        root.chmod(0o755)
        dovecot = Dovecot(root, *make_cert(root), disable_move=disable_move)
        controllers: list[Any] = []
        try:
            dovecot.start()
            relay = LmtpRelay(dovecot.lmtp_socket)
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(dovecot.cert, dovecot.key)
            common: dict[str, Any] = {
                "hostname": HOST,
                "server_hostname": "localhost",
                "authenticator": authenticator,
                "auth_require_tls": True,
                "data_size_limit": 50 * 2**20,
            }
            for attempt in range(5):
                # Distinct ports; another process may still take one between the choice and the bind.
                smtp_port, smtps_port = free_ports(2)
                plain = Controller(relay, port=smtp_port, tls_context=server_ctx, **common)
                # aiosmtpd only counts STARTTLS as TLS for AUTH; on the implicit-TLS port everything is TLS.
                implicit = Controller(
                    relay, port=smtps_port, ssl_context=server_ctx, **{**common, "auth_require_tls": False}
                )
                try:
                    for c in (plain, implicit):
                        c.start()
                        controllers.append(c)
                    break
                except OSError:
                    for c in controllers:
                        with contextlib.suppress(Exception):
                            c.stop()
                    controllers.clear()
                    if attempt == 4:
                        raise
            yield cls(root, dovecot, relay, smtp_port, smtps_port, controllers)
        finally:
            for c in controllers:
                with contextlib.suppress(Exception):
                    c.stop()
            dovecot.stop()
            shutil.rmtree(root, ignore_errors=True)

    # -- helpers for tests ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def dropping_smtp(self, *, at: str = "data") -> Iterator[int]:
        """One more SMTP server (STARTTLS, AUTH) that cuts the connection after delivering the message
        (``at="data"``, :class:`DroppingRelay`) or at RCPT TO (``at="rcpt"``, :class:`CuttingAtRcpt`);
        yields its port."""
        from aiosmtpd.controller import Controller

        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(self.dovecot.cert, self.dovecot.key)
        port = free_port()
        controller = Controller(
            (DroppingRelay if at == "data" else CuttingAtRcpt)(self.dovecot.lmtp_socket), port=port, hostname=HOST, server_hostname="localhost",
            authenticator=authenticator, auth_require_tls=True, tls_context=server_ctx,
        )  # fmt: skip
        controller.start()
        try:
            yield port
        finally:
            with contextlib.suppress(Exception):
                controller.stop()

    def settings(
        self,
        base: Settings,
        *,
        user: str = f"bgs@{DOMAIN}",
        password: str | None = None,
        imap_security: str = "ssl",
        smtp_security: str = "starttls",
        **imap_overrides: Any,
    ) -> Settings:
        """``base`` with the imap transport pointed at these servers, logging in as ``user``."""
        pw = self.users[user] if password is None else password
        imap_port = self.imaps_port if imap_security == "ssl" else self.imap_port
        smtp_port = self.smtps_port if smtp_security == "ssl" else self.smtp_port
        imap = ImapSettings(
            host=HOST, port=imap_port, security=imap_security, username=user, password=pw,
            ca_file=str(self.ca_file), **imap_overrides,
        )  # fmt: skip
        smtp = SmtpSettings(
            host=HOST,
            port=smtp_port,
            security=smtp_security,
            username=user,
            password=pw,
            ca_file=str(self.ca_file),
        )
        mail: MailSettings = replace(base.mail, transport="imap", from_address=user, imap=imap, smtp=smtp)
        return dataclasses.replace(base, mail=mail)

    def imap_client(self, user: str) -> Any:
        """A logged-in IMAPClient (SSL, verified against the test CA) for looking behind the transport."""
        from imapclient import IMAPClient

        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        client = IMAPClient(HOST, port=self.imaps_port, ssl=True, ssl_context=ctx, timeout=30)
        client.login(user, self.users[user])
        return client

    def deliver(self, raw: bytes, *, to: str, sender: str = f"jcg@{DOMAIN}") -> None:
        """Put a message straight into a mailbox over LMTP (as the MTA would)."""
        with smtplib.LMTP(str(self.dovecot.lmtp_socket), timeout=30) as lmtp:
            lmtp.sendmail(sender, [to], raw)

    def reset(self, user: str) -> None:
        """Empty the user's mailbox: every message gone, every folder but INBOX deleted."""
        client = self.imap_client(user)
        try:
            folders = [name for _, _, name in client.list_folders()]
            for name in sorted(folders, key=len, reverse=True):
                if name.upper() == "INBOX":
                    continue
                with contextlib.suppress(Exception):
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search(["ALL"])
            if uids:
                client.delete_messages(uids)
                client.expunge()
        finally:
            client.logout()


# -- Exchange (EWS) ----------------------------------------------------------------------------------------

EWS_SAMPLES = Path(__file__).resolve().parent / "samples" / "ews"
_EWS_STORE = "AAMkADk0YjNlZjk1LTc1ZjMtNGE4Zi1iMzFlLTkzZGU0ODk2NzE0Ng"
_EWS_ITEM = (
    _EWS_STORE
    + "BGAAAAAAB4pDmVrLpTS4WnJ8p6S0GbBwBbkNOLlFfiQ7f5F6UeLKHqAAAAAAEMAABbkNOLlFfiQ7f5F6UeLKHqAAAwyL"
)
# The two items of FindItem_inbox.xml, oldest first, and the folder ids of the recorded responses.
EWS_INBOX_ITEMS = (_EWS_ITEM + "a1AAA=", _EWS_ITEM + "a2AAA=")
EWS_SENT_FOLDER = _EWS_STORE + "AuAAAAAAB4pDmVrLpTS4WnJ8p6S0GbAQBbkNOLlFfiQ7f5F6UeLKHqAAAAAAEJAAA="
EWS_PROCESSED_FOLDER = _EWS_STORE + "AuAAAAAAB4pDmVrLpTS4WnJ8p6S0GbAQBbkNOLlFfiQ7f5F6UeLKHqAAAwyKMQAAA="


@dataclass
class EwsRequest:
    """One request the EWS endpoint received: the SOAP operation, its XML body, the Authorization header."""

    operation: str
    body: str
    authorization: str
    path: str = ""


@dataclass
class EwsServer:
    """A loopback EWS endpoint that answers each SOAP operation with a recorded response from
    ``tests/samples/ews/`` and records every request, so tests can assert what the transport sent.

    It keeps just enough state to make a run coherent: the inbox items (id → MIME), whether the processed
    folder exists, and the Message-IDs of what was sent. Set ``busy`` to answer ErrorServerBusy.
    """

    username: str = "JYJ\\bgs"
    password: str = "ews-secret"
    mime: dict[str, bytes] = field(default_factory=dict)
    processed_exists: bool = True
    busy: bool = False
    # Cut the connection (RST) instead of answering CreateItem: "kept" after sending the message (it is in
    # Sent Items), "lost" without sending it. Applies to the next request only.
    reset_create: str = ""
    sent: list[bytes] = field(default_factory=list)
    requests: list[EwsRequest] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/EWS/Exchange.asmx"

    def operations(self) -> list[str]:
        return [r.operation for r in self.requests if r.operation]

    def last(self, operation: str) -> EwsRequest:
        return [r for r in self.requests if r.operation == operation][-1]

    @staticmethod
    def sample(name: str) -> str:
        return (EWS_SAMPLES / name).read_text(encoding="utf-8")

    def answer(self, operation: str, body: str) -> tuple[int, str]:
        """The (HTTP status, XML) for one request."""
        if self.busy:
            return 500, self.sample("ErrorServerBusy.xml")
        if operation == "GetFolder":
            m = re.search(r'DistinguishedFolderId Id="(\w+)"', body)
            return 200, self.sample(f"GetFolder_{m.group(1) if m else 'inbox'}.xml")
        if operation == "FindFolder":
            return 200, self.sample(
                "FindFolder_processed.xml" if self.processed_exists else "FindFolder_none.xml"
            )
        if operation == "CreateFolder":
            self.processed_exists = True
            return 200, self.sample("CreateFolder.xml")
        if operation == "FindItem":
            if EWS_SENT_FOLDER in body or 'DistinguishedFolderId Id="sentitems"' in body:
                wanted = re.search(r"<t:Constant Value=\"([^\"]*)\"", body)
                sent_ids = {
                    (BytesHeaderParser().parsebytes(raw).get("Message-ID") or "").strip() for raw in self.sent
                }
                hit = wanted is not None and html.unescape(wanted.group(1)) in sent_ids
                return 200, self.sample("FindItem_sent_match.xml" if hit else "FindItem_empty.xml")
            # The recorded listing, less the items that were moved away meanwhile.
            xml = self.sample("FindItem_inbox.xml")
            blocks = re.findall(r"\s*<t:Message>.*?</t:Message>", xml, flags=re.DOTALL)
            kept = [b for b in blocks if re.search(r'Id="([^"]+)"', b).group(1) in self.mime]  # type: ignore[union-attr]
            for b in blocks:
                if b not in kept:
                    xml = xml.replace(b, "")
            n = str(len(kept))
            xml = re.sub(
                r'(IndexedPagingOffset|TotalItemsInView)="\d+"', lambda m: f'{m.group(1)}="{n}"', xml
            )
            return 200, xml
        if operation == "GetItem":
            item = re.search(r'<t:ItemId Id="([^"]+)"', body)
            item_id = item.group(1) if item else ""
            if item_id not in self.mime:
                return 200, self.sample("GetItem_notfound.xml")
            if "item:Size" in body:  # the size (and headers) asked first: never the body of a huge item
                head = BytesHeaderParser().parsebytes(self.mime[item_id])
                headers = "".join(
                    f'<t:InternetMessageHeader HeaderName="{html.escape(k)}">{html.escape(str(v))}'
                    "</t:InternetMessageHeader>"
                    for k, v in head.items()
                )
                xml = self.sample("GetItem_size.xml").replace("{SIZE}", str(len(self.mime[item_id])))
                return 200, xml.replace("{HEADERS}", headers).replace("{ITEM_ID}", item_id)
            xml = self.sample("GetItem_mime.xml")
            xml = xml.replace("{MIME_BASE64}", base64.b64encode(self.mime[item_id]).decode())
            return 200, xml.replace("{ITEM_ID}", item_id)
        if operation == "MoveItem":
            item = re.search(r'<t:ItemId Id="([^"]+)"', body)
            if item is None or self.mime.pop(item.group(1), None) is None:
                return 200, self.sample("MoveItem_notfound.xml")
            return 200, self.sample("MoveItem.xml")
        if operation == "CreateItem":
            mime = re.search(r"<t:MimeContent[^>]*>([^<]*)</t:MimeContent>", body)
            if mime:
                self.sent.append(base64.b64decode(mime.group(1)))
            return 200, self.sample("CreateItem_sent.xml")
        return 500, f"<error>no recorded response for {operation}</error>"

    @contextlib.contextmanager
    def start(self) -> Iterator[EwsServer]:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                auth = self.headers.get("Authorization") or ""
                op = re.search(r"<s:Body><m:(\w+)[ >]", body)
                server_self.requests.append(EwsRequest(op.group(1) if op else "", body, auth, self.path))
                expected = (
                    "Basic "
                    + base64.b64encode(f"{server_self.username}:{server_self.password}".encode()).decode()
                )
                if auth != expected:
                    self._reply(401, server_self.sample("401.html"), "text/html", realm=True)
                    return
                if op and op.group(1) == "CreateItem" and server_self.reset_create:
                    mode, server_self.reset_create = server_self.reset_create, ""
                    if mode == "kept":
                        server_self.answer("CreateItem", body)
                    self._reset()
                    return
                status, xml = server_self.answer(op.group(1) if op else "", body)
                self._reply(status, xml, "text/xml; charset=utf-8")

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def _reply(self, status: int, text: str, ctype: str, *, realm: bool = False) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if realm:
                    self.send_header("WWW-Authenticate", 'Basic realm="mail.jyj.example.gov.cn"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        httpd = ThreadingHTTPServer((HOST, 0), Handler)
        httpd.daemon_threads = True
        self.port = int(httpd.server_address[1])
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="ews-server", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)

    def settings(self, base: Settings, *, password: str | None = None, max_wait_s: int = 5) -> Settings:
        """``base`` with the exchange transport pointed here: basic auth, fixed version, no autodiscover."""
        from mailer.common.config import ExchangeSettings

        ex = ExchangeSettings(
            endpoint=self.url,
            primary_address=f"bgs@{DOMAIN}",
            auth="basic",
            username=self.username,
            password=self.password if password is None else password,
            server_version="15.1.2507.6",
            max_wait_s=max_wait_s,
        )
        mail = replace(base.mail, transport="exchange", from_address=f"bgs@{DOMAIN}", exchange=ex)
        return dataclasses.replace(base, mail=mail)


@contextlib.contextmanager
def from_other_address(source: str = "127.0.0.2") -> Iterator[None]:
    """Make new TCP connections come from ``source`` (another loopback address).

    dovecot penalises failed logins per client address (each next login from it waits seconds), so tests
    that log in wrongly on purpose do it from here, not from 127.0.0.1 where every other test logs in.
    """
    real = socket.create_connection

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        kwargs.pop("source_address", None)
        timeout = args[0] if args else kwargs.pop("timeout", socket.getdefaulttimeout())
        return real(address, timeout, (source, 0))

    socket.create_connection = create_connection  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.create_connection = real


def dovecot_available() -> str | None:
    """None when dovecot can run here, else the reason it cannot."""
    if not Path(DOVECOT).exists():
        return f"dovecot is not installed ({DOVECOT} missing; apt-get install dovecot-imapd dovecot-lmtpd)"
    if not Path(LMTP_BINARY).exists():
        return f"dovecot LMTP is not installed ({LMTP_BINARY} missing; apt-get install dovecot-lmtpd)"
    if shutil.which("openssl") is None:
        return "the openssl command is not installed"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the IMAP test servers cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """dovecot + SMTP on loopback for the whole session (each test resets the mailboxes it uses)."""
    reason = dovecot_available()
    if reason:
        _skip_or_fail(reason)
    with MailServers.start() as servers:
        yield servers


def _main() -> None:
    """``python -m tests.mailserver``: run the servers until Ctrl-C, printing how to reach them."""
    with MailServers.start() as s:
        lines = [
            f"IMAP  {HOST}:{s.imap_port} (plain/STARTTLS), {HOST}:{s.imaps_port} (SSL)",
            f"SMTP  {HOST}:{s.smtp_port} (STARTTLS), {HOST}:{s.smtps_port} (SSL)",
            f"CA    {s.ca_file}",
            *(f"user  {u}  {p}" for u, p in s.users.items()),
        ]
        print("\n".join(lines), flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    _main()
