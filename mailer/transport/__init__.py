"""Mail transports: the drop folder (embedded default), IMAP + SMTP, Exchange Web Services, Microsoft Graph.

Use :func:`open_transport`; the Exchange and Graph implementations (exchangelib, msal) are imported only when
chosen.
"""

from mailer.transport.base import Transport, make_transport, open_transport

__all__ = ["Transport", "make_transport", "open_transport"]
