"""Serving the console: in the foreground (`duban web`) or on a thread beside the service (`duban serve`
with ``[web] listen``), with uvicorn on the address given."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from mailer.common.config import Settings
from mailer.common.errors import ConfigError

log = logging.getLogger(__name__)


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8470" → ("127.0.0.1", 8470); "[::1]:8470" for IPv6.

    :raises ConfigError: when it is not host:port
    """
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"网页控制台的监听地址“{text}”无效：请写成 主机:端口，如 127.0.0.1:8470。")
    return host, int(port)


def _server(settings: Settings, listen: str, *, send_now: bool, clock: Callable[[], dt.datetime] | None) -> object:
    try:
        import uvicorn

        from mailer.web.app import create_app
    except ImportError as e:
        raise ConfigError(
            f"网页控制台需要可选组件 web（缺少 {e.name}）：请运行 pip install 'duban[web]'。"
        ) from e
    host, port = parse_listen(listen)
    app = create_app(settings, send_now=send_now, clock=clock)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, proxy_headers=False)
    return uvicorn.Server(config)


def run(settings: Settings, listen: str, *, clock: Callable[[], dt.datetime] | None = None) -> None:
    """Serve in the foreground until Ctrl-C / SIGTERM (`duban web`); actions send their mail at once."""
    server = _server(settings, listen, send_now=True, clock=clock)
    log.info("duban console on http://%s", listen)
    server.run()  # type: ignore[attr-defined]


class WebThread:
    """The console on a daemon thread inside `duban serve`: the service sends the mail actions queue."""

    def __init__(self, settings: Settings, listen: str) -> None:
        self.server = _server(settings, listen, send_now=False, clock=None)
        self.thread = threading.Thread(target=self.server.run, name="duban-web", daemon=True)  # type: ignore[attr-defined]

    def start(self) -> None:
        self.thread.start()
        log.info("duban console on http://%s", self.server.config.host + ":" + str(self.server.config.port))  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout=10)
