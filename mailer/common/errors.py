"""The exception hierarchy. Only the CLI turns these into exit codes (1) and messages."""


class DubanError(Exception):
    """Base class: anything the CLI may show to a user as 'Error: ...'."""


class ConfigError(DubanError):
    """duban.toml or a DUBAN_* variable is missing or invalid."""


class RegistryError(DubanError):
    """The registry cannot be opened, migrated, or does not hold what was asked for."""


class PlanImportError(DubanError):
    """A notice, task list or directory file cannot be imported; nothing was changed."""


class TemplateError(DubanError):
    """A Word or mail template cannot be rendered with the data given."""


class UnsafeAttachment(DubanError):
    """An attachment was refused before parsing (size, zip bomb, macros, encryption, not a docx)."""


class FormParseError(DubanError):
    """A returned form could not be read at all (no form table); findings are not exceptions."""


class TransportError(DubanError):
    """SMTP, IMAP, Exchange or the folder mailbox refused or dropped the operation."""


class LoginError(TransportError):
    """Connected, but the server rejected the credentials."""


class SendUncertain(TransportError):
    """The whole message was handed to the server, but its answer never came (the connection dropped or timed
    out after the SMTP DATA terminator, or after the EWS CreateItem request): it may or may not have gone out,
    so sending it again could deliver it twice."""


class DeliveryRefused(TransportError):
    """The server refused this message for good (a 5xx answer: unknown recipient, rejected content);
    sending it again cannot help."""


class ConversionError(DubanError):
    """LibreOffice is missing, timed out, or produced no output."""


class ServiceLocked(DubanError):
    """Another duban service already runs on this home."""


class MessageTooLarge(TransportError):
    """A message is larger than ``mail.max_message_mb``: it was not read whole. Carries what could be had
    cheaply, its size and its header block, so that it can be recorded and answered all the same."""

    def __init__(self, message: str, *, size: int, headers: bytes) -> None:
        super().__init__(message)
        self.size = size
        self.headers = headers
