"""Microsoft Graph (msal + requests): for a bureau on Microsoft 365, where EWS is switched off (Exchange Online
disabled it by default on 2026-10-01 and ends it on 2027-04-01) and exchangelib will not learn Graph.

duban signs in as an Entra ID application with the client-credentials flow (msal's ConfidentialClientApplication,
application permissions Mail.ReadWrite and Mail.Send). msal keeps the token in memory and gets a new one five
minutes before it expires; a 401 from Graph (a token revoked or expired early) drops it and asks once more.

Polling lists the inbox (``GET /users/{mailbox}/mailFolders/inbox/messages``, ids, dates and sizes only, oldest
first, following ``@odata.nextLink``); ``fetch`` reads the MIME (``…/messages/{id}/$value``) without marking it
read; ``acknowledge`` moves the message into the processed folder under the inbox (created if missing), only
after the registry committed it. ``send`` posts the base64 MIME to ``/users/{mailbox}/sendMail``, which keeps
a copy in Sent Items. Throttling (429, 503) is waited out as Retry-After asks, up to ``max_wait_s`` in all.

Every request asks for immutable ids (``Prefer: IdType="ImmutableId"``): a message's id then survives a move
between folders, so an id the registry remembers keeps naming the same message.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests

from mailer.common.config import GraphSettings, Settings
from mailer.common.errors import DeliveryRefused, LoginError, MessageTooLarge, SendUncertain, TransportError
from mailer.transport.base import unnamed_recipients
from mailer.transport.httpcut import never_connected

log = logging.getLogger(__name__)

_PAGE = 100
# PR_MESSAGE_SIZE, the size Exchange stores for a message: Graph's message resource has no size of its own.
_SIZE_PROP = "Integer 0x0E08"
_SIZE_EXPAND = f"singleValueExtendedProperties($filter=id eq '{_SIZE_PROP}')"
# sendMail takes at most 4 MB of request body (Graph's limit for one request); the MIME goes base64-encoded.
SEND_LIMIT = 4 * 2**20
_MAX_RETRY_AFTER_S = 3600.0


def _odata_string(value: str) -> str:
    """``value`` as an OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _seg(value: str) -> str:
    """One URL path segment (a message id may hold ``/`` ``+`` ``=``)."""
    return quote(value, safe="")


def _error_of(r: requests.Response) -> tuple[str, str]:
    """Graph's error code and message from a response body (both "" when the body is not Graph's JSON)."""
    try:
        err = r.json().get("error") or {}
    except ValueError:
        return "", r.text[:200]
    if isinstance(err, dict):
        return str(err.get("code") or ""), str(err.get("message") or "")
    return str(err), ""


class _Session(requests.Session):
    """requests.Session with a timeout and a TLS trust for every request, as msal and Graph calls need.

    ``verify`` goes with each request: set on the session only, it would lose to REQUESTS_CA_BUNDLE in the
    environment (requests merges the environment over the session's setting), and the bureau's CA would be
    ignored wherever that variable is set.
    """

    def __init__(self, *, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        kwargs["verify"] = self._verify
        return super().request(method, url, *args, **kwargs)


class GraphTransport:
    """One Microsoft 365 mailbox, reached through Microsoft Graph as an application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg: GraphSettings = settings.mail.graph
        self.mailbox = (self.cfg.mailbox or settings.mail.from_address).strip()
        self.source = f"graph:{self.mailbox}"
        self.base = self.cfg.graph_url.rstrip("/")
        origin = urlsplit(self.base)
        # A token is for one resource: its scope is the Graph host, whatever the version path.
        self.scope = f"{origin.scheme}://{origin.netloc}/.default"
        self._origin = f"{origin.scheme}://{origin.netloc}"
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None
        self._processed_id: str | None = None
        self._sizes: dict[str, int] = {}

    @property
    def uidvalidity(self) -> int | None:
        return None

    # -- signing in ---------------------------------------------------------------------------------------
    def _user(self) -> str:
        return f"{self.base}/users/{quote(self.mailbox, safe='@')}"

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = _Session(verify=self.cfg.ca_file or True, timeout=self.cfg.timeout_s)
        return self._session

    def _msal(self) -> msal.ConfidentialClientApplication:
        if self._app is not None:
            return self._app
        cfg = self.cfg
        missing = [
            name
            for name, value in (
                ("mail.graph.tenant_id", cfg.tenant_id),
                ("mail.graph.client_id", cfg.client_id),
                (
                    "环境变量 DUBAN_GRAPH_CLIENT_SECRET（或 DUBAN_GRAPH_CLIENT_SECRET_FILE）",
                    cfg.client_secret,
                ),
            )
            if not value.strip()
        ]
        if missing:
            raise TransportError(
                f"Microsoft Graph 设置不完整，缺少：{'、'.join(missing)}。可运行 duban setup mail 设置。"
            )
        if "@" not in self.mailbox:
            raise TransportError(
                f"mail.graph.mailbox（或 mail.from_address）“{self.mailbox}”不是邮箱地址，"
                "请写局办公室邮箱的用户主体名称（UPN），如 bgs@jyj.gov.cn。"
            )
        authority = f"{cfg.authority.rstrip('/')}/{cfg.tenant_id.strip()}"
        try:
            self._app = msal.ConfidentialClientApplication(
                cfg.client_id.strip(),
                client_credential=cfg.client_secret,
                authority=authority,
                # The authority is configured by the operator, not found by discovery; asking Microsoft's
                # instance-discovery service would also fail for 21Vianet's sovereign cloud and on loopback.
                instance_discovery=False,
                # Our session: the same TLS trust and timeout as the Graph calls, and no hidden retries.
                http_client=self._http(),
                token_cache=msal.TokenCache(),
            )
        except ValueError as e:
            # msal reads the tenant's OpenID configuration first: an unknown tenant fails there (AADSTS90002).
            raise LoginError(
                f"Microsoft 365 租户“{cfg.tenant_id}”不存在或无法识别（{authority}）。"
                "请核对 mail.graph.tenant_id：应为 Entra ID（Azure AD）“概述”页上的“目录(租户) ID”。"
                f"（{str(e)[:300]}）"
            ) from e
        except requests.RequestException as e:
            raise TransportError(f"无法连接 Microsoft 登录服务 {authority}：{e}") from e
        return self._app

    def _token(self) -> str:
        """An access token for Graph: msal's cached one while it has five minutes left, else a new one."""
        app = self._msal()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as e:
            raise TransportError(f"无法连接 Microsoft 登录服务 {self.cfg.authority}：{e}") from e
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        raise self._token_error(result if isinstance(result, dict) else {})

    def _token_error(self, result: dict[str, Any]) -> TransportError:
        code = str(result.get("error") or "")
        desc = str(result.get("error_description") or "")
        first = desc.splitlines()[0][:300] if desc else code
        who = f"应用（客户端）ID {self.cfg.client_id}，租户 {self.cfg.tenant_id}"
        if "AADSTS7000222" in desc:
            return LoginError(
                f"Microsoft 365 登录失败：客户端密码已过期（{who}）。请在 Entra ID 应用注册的“证书和密码”中新建"
                f"客户端密码，更新环境变量 DUBAN_GRAPH_CLIENT_SECRET。（{first}）"
            )
        if code == "invalid_client" or "AADSTS7000215" in desc:
            return LoginError(
                f"Microsoft 365 登录失败：客户端密码不正确（{who}）。请核对环境变量 DUBAN_GRAPH_CLIENT_SECRET："
                f"应填写密码的“值”，不是“密码 ID”。（{first}）"
            )
        if "AADSTS700016" in desc or code == "unauthorized_client":
            return LoginError(
                f"Microsoft 365 登录失败：该租户中没有此应用（{who}）。请核对 mail.graph.client_id 和 "
                f"mail.graph.tenant_id。（{first}）"
            )
        if code == "invalid_tenant" or "AADSTS90002" in desc:
            return LoginError(
                f"Microsoft 365 租户“{self.cfg.tenant_id}”不存在。请核对 mail.graph.tenant_id。（{first}）"
            )
        return LoginError(f"Microsoft 365 登录失败（{who}）：{code} {first}")

    def _forget_token(self) -> None:
        """Drop the cached access token so that the next request gets a new one (msal has no force refresh
        for the client-credentials flow)."""
        if self._app is None:
            return
        cache = self._app.token_cache
        for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(at)

    # -- requests -----------------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        sending: str = "",
        quiet: tuple[tuple[int, str], ...] = (),
    ) -> requests.Response:
        """One Graph request, with a new token once on 401 and throttling waited out within ``max_wait_s``.

        ``sending`` (the Message-ID) marks the one request that sends mail: a connection lost after it went
        out, or a gateway's 5xx, then means "perhaps sent" (SendUncertain), never a silent retry.
        ``quiet`` lists (status, Graph error code) pairs returned to the caller instead of raised.
        """
        waited = 0.0
        refreshed = False
        attempt = 0
        while True:
            token = self._token()
            h = {"Authorization": f"Bearer {token}", "Prefer": 'IdType="ImmutableId"', **(headers or {})}
            try:
                r = self._http().request(method, url, params=params, json=json_body, data=data, headers=h)
            except requests.RequestException as e:
                if sending and not never_connected(e):
                    raise SendUncertain(
                        f"Microsoft Graph 在收到 {sending} 的发送请求后断开了连接或未在时限内答复（{e}）："
                        "该邮件可能已经发出。"
                    ) from e
                if isinstance(e, requests.exceptions.SSLError):
                    raise TransportError(
                        f"与 {self._origin} 的 TLS 连接失败：{e}。如经单位代理上网，请把代理的根证书设为 "
                        "mail.graph.ca_file。"
                    ) from e
                raise TransportError(f"无法连接 Microsoft Graph {self._origin}（{what}）：{e}") from e
            status = r.status_code
            if status == 401 and not refreshed:
                # The token may have been revoked or have expired early: one new token, one more try.
                log.info("Graph answered 401 to %s; getting a new token", what)
                refreshed = True
                self._forget_token()
                continue
            if status in (429, 503):
                delay = self._retry_after(r, attempt)
                if waited + delay > self.cfg.max_wait_s:
                    code, _ = _error_of(r)
                    raise TransportError(
                        f"Microsoft Graph 正在限流（HTTP {status} {code}），要求等待 {delay:.0f} 秒，"
                        f"超过 mail.graph.max_wait_s = {self.cfg.max_wait_s} 秒。本次{what}未执行，下次轮询时再试。"
                    )
                log.info("Graph throttled %s (HTTP %s); waiting %.1f s as asked", what, status, delay)
                time.sleep(delay)
                waited += delay
                attempt += 1
                continue
            if status < 400:
                return r
            code, _ = _error_of(r)
            if (status, code) in quiet:
                return r
            raise self._graph_error(r, what, sending=sending)

    @staticmethod
    def _retry_after(r: requests.Response, attempt: int) -> float:
        raw = r.headers.get("Retry-After", "").strip()
        try:
            return min(max(float(raw), 0.0), _MAX_RETRY_AFTER_S)
        except ValueError:
            return float(min(2**attempt, 30))  # none given (or an HTTP date): back off on our own

    def _graph_error(self, r: requests.Response, what: str, *, sending: str) -> TransportError:
        status = r.status_code
        code, message = _error_of(r)
        detail = f"HTTP {status} {code}：{message[:300]}".rstrip("：")
        if status == 401:
            return LoginError(
                f"Microsoft Graph 拒绝了新取得的访问令牌（{detail}）。请核对 mail.graph.tenant_id 是否为邮箱所在"
                "的租户，以及 mail.graph.authority / graph_url 是否属于同一个云（世纪互联版须两项都改）。"
            )
        if status == 403:
            return LoginError(
                f"Microsoft Graph 拒绝访问邮箱 {self.mailbox}（{detail}）。请管理员在 Entra ID 应用注册"
                "“API 权限”中添加 Microsoft Graph 应用程序权限 Mail.ReadWrite 和 Mail.Send，并“代表组织授予管理员"
                "同意”；如设置了应用程序访问策略（ApplicationAccessPolicy），须把该邮箱包括在内。"
            )
        if status == 404 and code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound",
                                      "ErrorNonExistentMailbox", "Request_ResourceNotFound"):  # fmt: skip
            return TransportError(
                f"Microsoft 365 中找不到邮箱 {self.mailbox}（{detail}）。请核对 mail.graph.mailbox：应为局办公室"
                "邮箱的用户主体名称（UPN），且该邮箱在 Exchange Online 中（不在本地 Exchange 上）。"
            )
        if sending:
            if status == 413 or code in ("ErrorMessageSizeExceeded", "RequestEntityTooLarge"):
                return DeliveryRefused(f"Microsoft Graph 拒收 {sending}：邮件过大（{detail}）。")
            if status >= 500:
                # A gateway or server error after the request arrived: Exchange may have sent it all the same.
                return SendUncertain(
                    f"Microsoft Graph 对 {sending} 的发送请求答复了服务器错误（{detail}）：该邮件可能已经发出。"
                )
            if 400 <= status < 500:
                return DeliveryRefused(f"Microsoft Graph 拒绝发送 {sending}（{detail}）。")
        return TransportError(f"Microsoft Graph {what}失败（{detail}）。")

    def _get_json(self, url: str, what: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        r = self._request("GET", url, what=what, params=params)
        try:
            data = r.json()
        except ValueError as e:
            raise TransportError(f"Microsoft Graph {what}的答复不是 JSON：{r.text[:200]}") from e
        if not isinstance(data, dict):
            raise TransportError(f"Microsoft Graph {what}的答复格式不对：{r.text[:200]}")
        return data

    # -- receiving ----------------------------------------------------------------------------------------
    def list_new(self) -> list[str]:
        """Ids of every message still in the inbox, oldest first (no bodies; every page followed)."""
        url = f"{self._user()}/mailFolders/inbox/messages"
        params: dict[str, str] | None = {
            "$select": "id,receivedDateTime",
            "$orderby": "receivedDateTime asc",
            "$top": str(_PAGE),
            "$expand": _SIZE_EXPAND,
        }
        ids: list[str] = []
        while True:
            data = self._get_json(url, "列出收件箱", params)
            for item in data.get("value") or []:
                uid = str(item.get("id") or "")
                if not uid:
                    continue
                ids.append(uid)
                size = _size_of(item)
                if size is not None:
                    self._sizes[uid] = size
            link = data.get("@odata.nextLink")
            if not link:
                return ids
            # The bearer token goes with the next request: only ever to the configured Graph host.
            if not str(link).startswith(self._origin + "/"):
                raise TransportError(
                    f"Microsoft Graph 给出的下一页地址不在 {self._origin}：{str(link)[:120]}"
                )
            url, params = str(link), None

    def fetch(self, uid: str) -> bytes:
        """The message's MIME (``$value``); reading it this way does not mark it read.

        :raises MessageTooLarge: the message is over ``mail.max_message_mb`` (only its headers are read)
        :raises TransportError: the message is gone or cannot be read
        """
        cap = self.settings.mail.max_message_bytes
        message = f"{self._user()}/messages/{_seg(uid)}"
        size = self._sizes.get(uid)
        if size is None:
            size = _size_of(
                self._get_json(message, "读取邮件大小", {"$select": "id", "$expand": _SIZE_EXPAND})
            )
        if size is not None and size > cap:
            data = self._get_json(message, "读取邮件头", {"$select": "internetMessageHeaders"})
            head = "".join(
                f"{h.get('name')}: {h.get('value')}\r\n" for h in data.get("internetMessageHeaders") or []
            )
            raise MessageTooLarge(
                f"Graph message {uid[:24]}… is {size} bytes, more than mail.max_message_mb ({cap} bytes)",
                size=size,
                headers=head.encode("utf-8") + b"\r\n",
            )
        r = self._request("GET", f"{message}/$value", what="读取邮件")
        if not r.content:
            raise TransportError(f"Microsoft Graph 邮件 {uid[:24]}… 没有 MIME 内容。")
        return r.content

    def _processed_folder(self) -> str:
        if self._processed_id is not None:
            return self._processed_id
        name = self.cfg.processed_folder or "已处理"
        children = f"{self._user()}/mailFolders/inbox/childFolders"

        def find() -> str | None:
            data = self._get_json(
                children,
                "查找已处理文件夹",
                {"$filter": f"displayName eq {_odata_string(name)}", "$select": "id,displayName"},
            )
            found = [f for f in data.get("value") or [] if f.get("displayName") == name and f.get("id")]
            return str(found[0]["id"]) if found else None

        folder = find()
        if folder is None:
            r = self._request(
                "POST", children, what="建立已处理文件夹", json_body={"displayName": name},
                quiet=((409, "ErrorFolderExists"),),
            )  # fmt: skip
            if r.status_code == 409:  # another duban (or a person) made it meanwhile
                folder = find()
            else:
                folder = str(r.json().get("id") or "") or None
                log.info('Created Graph folder "%s" under the inbox of %s', name, self.mailbox)
            if folder is None:
                raise TransportError(f"Microsoft Graph 文件夹“{name}”已建立，但在收件箱下找不到。")
        self._processed_id = folder
        return folder

    def acknowledge(self, uid: str) -> None:
        """Move the message into the processed folder (created under the inbox if missing). Idempotent: a
        message no longer in the mailbox under this id was moved before."""
        target = self._processed_folder()
        r = self._request(
            "POST",
            f"{self._user()}/messages/{_seg(uid)}/move",
            what="移动已处理邮件",
            json_body={"destinationId": target},
            quiet=((404, "ErrorItemNotFound"),),
        )
        if r.status_code == 404:
            log.info("Graph message %s… was already moved", uid[:24])
        self._sizes.pop(uid, None)

    def wait(self, timeout_s: float) -> bool:
        """Graph is polled here: sleep ``timeout_s``; False, since nothing is known to have arrived."""
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
        """POST the base64 MIME to sendMail (Graph keeps the copy in Sent Items, its default for sendMail).

        Recipients not named in To/Cc are added as a Bcc header (Graph sends MIME to its headers' addresses;
        Exchange takes Bcc out of what the recipients get). The request is made once: a 429/503 answer means
        Graph did not take it and it is asked again after Retry-After; anything else lost after the request
        went out is SendUncertain.

        :raises LoginError: the credentials or the permissions were rejected
        :raises SendUncertain: the connection dropped or a server error came after the request went out
        :raises DeliveryRefused: Graph refused this message (too large, malformed, bad recipients)
        :raises TransportError: Graph could not be reached, or refused for a reason not of this message
        """
        if not recipients:
            raise TransportError(f"Message {message_id} has no recipients.")
        bcc = unnamed_recipients(raw, recipients)
        mime = (f"Bcc: {', '.join(bcc)}\r\n".encode("ascii") + raw) if bcc else raw
        body = base64.b64encode(mime)
        if len(body) > SEND_LIMIT:
            raise DeliveryRefused(
                f"邮件 {message_id} 编码后 {len(body) / 2**20:.1f} MB，超过 Microsoft Graph 单次发送 4 MB 的上限，"
                "未发送。请减小附件（如通报 PDF）后重发。"
            )
        self._token()  # a failure to sign in is before anything was asked: not sent
        self._request(
            "POST",
            f"{self._user()}/sendMail",
            what="发送邮件",
            data=body,
            headers={"Content-Type": "text/plain"},
            sending=message_id,
        )
        if on_accepted is not None:
            on_accepted()

    def was_sent(self, message_id: str) -> bool | None:
        """True when Sent Items holds a message with this InternetMessageId; otherwise None, never False:
        sendMail answers 202 before Exchange files the Sent Items copy."""
        data = self._get_json(
            f"{self._user()}/mailFolders/sentitems/messages",
            "查找已发送邮件",
            {"$filter": f"internetMessageId eq {_odata_string(message_id)}", "$select": "id"},
        )
        return True if data.get("value") else None

    # -- housekeeping -------------------------------------------------------------------------------------
    def check(self) -> str:
        """Sign in, read the inbox's message count, find or create the processed folder, and describe them."""
        inbox = self._get_json(
            f"{self._user()}/mailFolders/inbox", "读取收件箱", {"$select": "displayName,totalItemCount"}
        )
        self._processed_folder()
        count = inbox.get("totalItemCount")
        return (
            f"Microsoft Graph {self._origin}（租户 {self.cfg.tenant_id}，应用 {self.cfg.client_id}）邮箱 "
            f"{self.mailbox}：收件箱有 {count if count is not None else '?'} 封邮件；已处理的邮件移入收件箱下的"
            f"“{self.cfg.processed_folder}”文件夹；发出的邮件保存在“已发送邮件”中。"
        )

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except OSError as e:
                log.info("Closing the Graph session failed: %s", e)
        self._session = None
        self._processed_id = None


def _size_of(item: dict[str, Any]) -> int | None:
    # Graph answers with its own spelling of the property id ("Integer 0xe08"): compare the tag's number.
    for prop in item.get("singleValueExtendedProperties") or []:
        kind, _, tag = str(prop.get("id", "")).partition(" ")
        try:
            if kind.lower() == "integer" and int(tag, 16) == 0x0E08:
                return int(prop.get("value"))
        except (TypeError, ValueError):
            return None
    return None


__all__ = ["SEND_LIMIT", "GraphTransport"]
