"""Mail transports: the drop folder (embedded default), IMAP + SMTP, and Exchange Web Services.

Use :func:`open_transport`; the Exchange implementation (and exchangelib) is imported only when chosen.
"""

from mailer.transport.base import Transport, make_transport, open_transport

__all__ = ["Transport", "make_transport", "open_transport"]
