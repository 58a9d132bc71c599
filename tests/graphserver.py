"""A loopback Microsoft Graph for the tests: the Entra ID token endpoint and the Graph v1.0 mail calls, answered
from recorded responses (``tests/samples/graph/``) over HTTPS (msal accepts only an https authority).

It keeps just enough state to make a run coherent — the inbox (id → MIME, oldest first), whether the processed
folder exists, what was moved and sent, the tokens it issued — and records every request (method, path,
query, headers, body), so tests assert exactly what the transport asked for. Faults are scripted per test:
``script`` queues answers for the next matching requests (a 429 with Retry-After, a 503, a 403…),
``expire_tokens()`` makes the issued tokens answer 401 InvalidAuthenticationToken, ``cut_send`` cuts the
connection on sendMail ("kept": after taking the message, "lost": without it).

Use :meth:`GraphServer.start` as a context manager, then :meth:`GraphServer.settings` for a home pointed here.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mailserver import DOMAIN, HOST, make_cert

from mailer.common.config import GraphSettings, Settings

SAMPLES = Path(__file__).resolve().parent / "samples" / "graph"
TENANT = "5f1c3e9a-7b2d-4c8e-9a6f-0d3b2e1c4a57"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "graph-secret~Q8x.not-a-real-one"
MAILBOX = f"bgs@{DOMAIN}"
# The three messages of messages_page1.json / messages_page2.json, oldest first, and the processed folder.
_ID = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AyF0vnbj1HkKNFl1ZbSEnIAAAAHfs0"
GRAPH_INBOX = (_ID + "AAA", _ID + "BAA", _ID + "CAA")
PROCESSED_FOLDER = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AyF0vnbj1HkKNFl1ZbSEnIAAAAHdrnAAA"


@dataclass
class GraphRequest:
    """One request the server received."""

    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class GraphServer:
    mime: dict[str, bytes] = field(default_factory=dict)  # the inbox, in the order of the recorded listing
    processed_exists: bool = True
    token_lifetime: int = 3599
    cut_send: str = ""  # "kept" | "lost": cut the connection on the next sendMail
    sent: list[bytes] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    requests: list[GraphRequest] = field(default_factory=list)
    script: list[tuple[str, int, str, dict[str, str]]] = field(default_factory=list)
    on_move: Any = None  # called with the message id before a move is carried out
    port: int = 0
    ca_file: Path = Path()
    _tokens: set[str] = field(default_factory=set)
    _issued: int = 0

    @property
    def base(self) -> str:
        return f"https://{HOST}:{self.port}"

    def graph(self) -> list[GraphRequest]:
        """The requests to Graph itself (not to the sign-in service)."""
        return [r for r in self.requests if r.path.startswith("/v1.0/")]

    def token_requests(self) -> list[GraphRequest]:
        return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    def calls(self) -> list[str]:
        """``METHOD /path`` of every Graph request, the mailbox prefix cut off."""
        prefix = f"/v1.0/users/{MAILBOX}"
        return [f"{r.method} {r.path.removeprefix(prefix)}" for r in self.graph()]

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def then(self, pattern: str, status: int, sample: str, headers: dict[str, str] | None = None) -> None:
        """Answer the next request whose ``METHOD /path`` matches ``pattern`` with ``sample`` and ``status``."""
        self.script.append((pattern, status, sample, headers or {}))

    @staticmethod
    def sample(name: str) -> str:
        return (SAMPLES / name).read_text(encoding="utf-8")

    def _fill(self, name: str, **values: Any) -> str:
        text = self.sample(name).replace("{BASE}", self.base).replace("{TENANT}", TENANT)
        for k, v in values.items():
            text = text.replace("{" + k + "}", str(v))
        return text

    # -- answers --------------------------------------------------------------------------------------------
    def answer(self, req: GraphRequest) -> tuple[int, str, dict[str, str]]:
        """(status, JSON text, extra headers) for one request."""
        call = f"{req.method} {req.path}"
        for i, (pattern, status, sample, headers) in enumerate(self.script):
            if re.search(pattern, call):
                del self.script[i]
                return status, self._fill(sample), headers
        if req.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return 200, self._fill("openid-configuration.json"), {}
        if req.path.endswith("/v2.0/.well-known/openid-configuration"):
            return 400, self._fill("tenant_not_found.json"), {}
        if req.path == f"/{TENANT}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(req.text).items()}
            if form.get("client_id") != CLIENT_ID:
                return 400, self._fill("token_unknown_app.json"), {}
            if form.get("client_secret") != CLIENT_SECRET:
                return 401, self._fill("token_invalid_client.json"), {}
            self._issued += 1
            token = f"eyJ0eXAiOiJKV1QiLCJub25jZSI6Ij.{self._issued}.sig"
            self._tokens.add(token)
            body = json.loads(self._fill("token.json", TOKEN=token))
            body["expires_in"] = body["ext_expires_in"] = self.token_lifetime
            return 200, json.dumps(body), {}
        if not req.path.startswith("/v1.0/"):
            return 404, "{}", {}
        if req.headers.get("authorization", "").removeprefix("Bearer ") not in self._tokens:
            return 401, self._fill("error_401_expired.json"), {"WWW-Authenticate": 'Bearer realm=""'}
        user = f"/v1.0/users/{MAILBOX}"
        if not req.path.startswith(user + "/"):
            return 404, self._fill("error_404_invalid_user.json"), {}
        rest = req.path.removeprefix(user)
        if req.method == "GET" and rest == "/mailFolders/inbox/messages":
            return 200, self._listing(req), {}
        if req.method == "GET" and rest == "/mailFolders/inbox":
            return 200, self._fill("inbox.json", COUNT=len(self.mime)), {}
        if rest == "/mailFolders/inbox/childFolders":
            if req.method == "POST":
                if self.processed_exists:
                    return 409, self._fill("error_409_folder_exists.json"), {}
                self.processed_exists = True
                return 201, self._fill("childFolder_created.json"), {}
            return 200, self._fill("childFolders_found.json" if self.processed_exists else "childFolders_none.json"), {}
        if req.method == "GET" and rest == "/mailFolders/sentitems/messages":
            wanted = re.fullmatch(r"internetMessageId eq '(.*)'", req.query.get("$filter", ""))
            ids = {(BytesHeaderParser().parsebytes(raw).get("Message-ID") or "").strip() for raw in self.sent}
            hit = wanted is not None and wanted.group(1).replace("''", "'") in ids
            return 200, self._fill("sentitems_match.json" if hit else "sentitems_empty.json"), {}
        if req.method == "POST" and rest == "/sendMail":
            self.sent.append(base64.b64decode(req.body))
            return 202, "", {}
        m = re.fullmatch(r"/messages/([^/]+)(/\$value|/move)?", rest)
        if m:
            uid, what = m.group(1), m.group(2) or ""
            if uid not in self.mime:
                return 404, self._fill("error_404_item.json"), {}
            if what == "/$value":
                return 200, self.mime[uid].decode("latin-1"), {"Content-Type": "text/plain"}
            if what == "/move":
                target = json.loads(req.body).get("destinationId")
                if target != PROCESSED_FOLDER:
                    return 404, self._fill("error_404_item.json"), {}
                if self.on_move is not None:
                    self.on_move(uid)
                del self.mime[uid]
                self.moved.append(uid)
                return 201, self._fill("moved.json", ID=uid), {}
            head = BytesHeaderParser().parsebytes(self.mime[uid])
            headers = json.dumps([{"name": k, "value": str(v)} for k, v in head.items()], ensure_ascii=False)
            return 200, self._fill("headers.json", ID=uid, HEADERS=headers), {}
        return 404, self._fill("error_404_item.json"), {}

    def _listing(self, req: GraphRequest) -> str:
        """The recorded two pages, less what was moved away meanwhile; sizes are the MIME's."""
        page = 2 if "$skip" in req.query else 1
        data = json.loads(self._fill(f"messages_page{page}.json"))
        for i, item in enumerate(data["value"]):
            uid = item["id"]
            size = len(self.mime.get(uid, b""))
            item["singleValueExtendedProperties"][0]["value"] = str(size)
            data["value"][i] = item
        data["value"] = [item for item in data["value"] if item["id"] in self.mime]
        return json.dumps(data, ensure_ascii=False)

    # -- serving --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def start(self) -> Iterator[GraphServer]:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                req = GraphRequest(
                    self.command, unquote(url.path), query, {k.lower(): v for k, v in self.headers.items()}, body
                )
                server_self.requests.append(req)
                if req.path.endswith("/sendMail") and server_self.cut_send:
                    mode, server_self.cut_send = server_self.cut_send, ""
                    if mode == "kept":
                        server_self.sent.append(base64.b64decode(req.body))
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                status, text, headers = server_self.answer(req)
                # $value is the message's bytes as stored (kept through latin-1); everything else JSON in UTF-8.
                data = text.encode("latin-1") if req.path.endswith("/$value") else text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json; charset=utf-8"))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        with tempfile.TemporaryDirectory(prefix="duban-graph-") as tmp:
            cert, key = make_cert(Path(tmp))
            self.ca_file = Path(tmp) / "ca.pem"
            self.ca_file.write_bytes(cert.read_bytes())
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            httpd = ThreadingHTTPServer((HOST, 0), Handler)
            httpd.daemon_threads = True
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
            self.port = int(httpd.server_address[1])
            thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="graph-server", daemon=True)
            thread.start()
            try:
                yield self
            finally:
                httpd.shutdown()
                httpd.server_close()
                thread.join(timeout=5)

    def reset(self, mime: dict[str, bytes] | None = None) -> None:
        """A fresh mailbox for the next test (the server, its certificate and its tokens stay)."""
        self.mime = dict(mime or {})
        self.processed_exists = True
        self.token_lifetime = 3599
        self.cut_send = ""
        self.sent, self.moved, self.requests, self.script = [], [], [], []
        self.on_move = None
        self._tokens.clear()

    def settings(self, base: Settings, **overrides: Any) -> Settings:
        """``base`` with the graph transport pointed here (authority and Graph URL on loopback)."""
        values: dict[str, Any] = {
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mailbox": MAILBOX,
            "authority": self.base,
            "graph_url": self.base + "/v1.0",
            "ca_file": str(self.ca_file),
            "max_wait_s": 5,
            "timeout_s": 10,
        }
        values.update(overrides)
        mail = replace(base.mail, transport="graph", from_address=MAILBOX, graph=GraphSettings(**values))
        return dataclasses.replace(base, mail=mail)
