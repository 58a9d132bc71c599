"""Whether an HTTP request that failed can have reached the server: shared by the EWS and Graph transports.

A send over HTTP is uncertain once its request may have been read by the server: a connection refused, or a
timeout while connecting, proves it was not; a reset or a read timeout after the request went out proves
nothing, and must not be retried blindly (design principle 3).
"""

from __future__ import annotations

import ssl

import requests


def never_connected(e: BaseException) -> bool:
    """Whether the chain of ``e`` shows the connection was never made (refused, or timed out connecting):
    then the request cannot have reached the server (nor when the server's certificate was refused, which
    happens in the TLS handshake). exchangelib re-raises these as ErrorTimeoutExpired
    from inside its ``except`` (the cause is in ``__context__``); requests and urllib3 wrap theirs in
    ``args`` and ``reason``."""
    todo: list[object] = [e]
    seen: set[int] = set()
    while todo:
        x = todo.pop()
        if not isinstance(x, BaseException) or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ConnectionRefusedError | requests.exceptions.ConnectTimeout):
            return True
        # The server's certificate is checked in the handshake, before a byte of the request is written.
        if isinstance(x, ssl.SSLCertVerificationError):
            return True
        if type(x).__name__ in ("NewConnectionError", "ConnectTimeoutError"):  # urllib3's, not imported here
            return True
        todo += [x.__cause__, x.__context__, getattr(x, "reason", None), *x.args[:1]]
    return False
