"""Sign-in for the console: signed session cookies, a CSRF token per session, and a limit on failed logins.

The session cookie (Starlette's SessionMiddleware: signed, HttpOnly, SameSite=Lax, Secure when configured)
is signed with a key derived from the home's secret key, so it is never the key that signs form tokens.
It holds the account id and a stamp of its password hash: a password change ends every older session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from typing import Any

from starlette.requests import Request

from mailer.common.config import Settings
from mailer.web.accounts import Account, load_account

MAX_FAILURES = 5
WINDOW_S = 15 * 60


def session_key(settings: Settings) -> str:
    """The cookie signing key: HMAC of a fixed label under the home's secret key."""
    return hmac.new(settings.secret_key(), b"duban web console session v1", hashlib.sha256).hexdigest()


class LoginLimiter:
    """At most MAX_FAILURES failed logins per user name and per client address in WINDOW_S seconds; after
    that the name (or address) is refused, even with the right password, until the window has passed.

    Kept in memory: the console is one process, and a restart forgetting the count is acceptable."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max, self.window = max_failures, window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def locked_for(self, user: str, ip: str) -> int:
        """Seconds until ``user``/``ip`` may try again; 0 when not locked."""
        now = time.monotonic()
        with self._lock:
            waits = [
                int(q[0] + self.window - now) + 1
                for q in (self._recent(f"u:{user.strip().lower()}", now), self._recent(f"ip:{ip}", now))
                if len(q) >= self.max
            ]
        return max(waits, default=0)

    def failed(self, user: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"u:{user.strip().lower()}", f"ip:{ip}"):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{user.strip().lower()}", None)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every POST form carries it back."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def csrf_ok(request: Request, form: Any) -> bool:
    sent, expected = str(form.get("csrf", "")), str(request.session.get("csrf", ""))
    return bool(sent and expected) and hmac.compare_digest(sent, expected)


def log_in(request: Request, account: Account) -> None:
    request.session.clear()  # a fresh session (and CSRF token) at login: no fixation
    request.session.update({"uid": account.id, "stamp": account.stamp})
    csrf_token(request)


def current_account(request: Request) -> Account | None:
    """The signed-in account, or None (no session, the account gone or its password changed)."""
    if "account" in request.scope:
        return request.scope["account"]  # type: ignore[no-any-return]
    uid, stamp = request.session.get("uid"), request.session.get("stamp")
    account = None
    if isinstance(uid, int) and isinstance(stamp, str):
        account = load_account(request.app.state.engine, uid, stamp)
        if account is None:
            request.session.clear()
    request.scope["account"] = account
    return account
