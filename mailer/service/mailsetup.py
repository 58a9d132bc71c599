"""Setting up real mail: the ``[mail]`` section of duban.toml written from a few answers, and the login tested.

A new home keeps the folder transport and the example sender, which is right for the demo and wrong for a
bureau: its forms would be written to ``outbox/mail/`` and never leave the machine. ``duban setup mail``
(in ``cli/setup.py``) asks for the server, tests the login with the passwords from the environment, and only
then edits duban.toml — with tomlkit, so the file's comments and every other setting stay as they were.
Passwords are never written; the clerk is told which variables to set. ``duban check`` uses
:func:`is_example_address` to refuse a home whose directory is real while its mail is not.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from mailer.common.config import CONFIG_NAME, MailSettings, Settings, load_settings
from mailer.common.errors import ConfigError
from mailer.common.files import write_atomic
from mailer.transport.base import open_transport

EXAMPLE_SENDER = MailSettings().from_address
# RFC 2606 / 6761 names that can never be a real mailbox, and the example.* domains of our samples.
_RESERVED_TLDS = {"example", "test", "invalid", "localhost", "local"}
SECURITY = ("ssl", "starttls", "none")
TRANSPORTS = ("imap", "exchange", "graph")
EXCHANGE_AUTH = ("ntlm", "basic", "oauth2")


def is_example_address(addr: str) -> bool:
    """True for an address no real bureau has: an ``example`` domain label or a reserved top-level name."""
    domain = addr.strip().rpartition("@")[2].lower().strip(".")
    labels = domain.split(".")
    return not domain or "example" in labels or labels[-1] in _RESERVED_TLDS


@dataclass
class MailChoice:
    """What the clerk answered: the transport, the sender, and the keys of its ``mail.*`` tables."""

    transport: str
    from_address: str
    from_name: str = ""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # "imap" / "smtp" / "exchange" → keys


def secret_variables(choice: MailChoice) -> list[str]:
    """The environment variables the chosen transport reads its passwords from."""
    if choice.transport == "imap":
        return ["DUBAN_IMAP_PASSWORD", "DUBAN_SMTP_PASSWORD"]
    if choice.transport == "graph":
        return ["DUBAN_GRAPH_CLIENT_SECRET"]
    if choice.tables.get("exchange", {}).get("auth") == "oauth2":
        return ["DUBAN_EWS_CLIENT_SECRET"]
    return ["DUBAN_EWS_PASSWORD"]


def edit_mail_section(text: str, choice: MailChoice) -> str:
    """``text`` (a duban.toml) with the ``[mail]`` section set to ``choice``; comments and everything
    else kept. Keys of the chosen tables not named in ``choice`` (processed_folder…) stay as they were.

    :raises ConfigError: the text is not valid TOML
    """
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(
            f"{CONFIG_NAME} is not valid TOML: {e}. Fix it first, then run `duban setup mail`."
        ) from e
    mail = doc.get("mail")
    if mail is None:
        mail = tomlkit.table()
        doc["mail"] = mail
    mail["transport"] = choice.transport
    mail["from_address"] = choice.from_address
    if choice.from_name:
        mail["from_name"] = choice.from_name
    for name, keys in choice.tables.items():
        table = mail.get(name)
        if table is None:
            table = tomlkit.table()
            mail[name] = table
        for k, v in keys.items():
            if v is not None and v != "":
                table[k] = v
    return tomlkit.dumps(doc)


def candidate_settings(home: Path, text: str) -> Settings:
    """The settings ``text`` would give the home, passwords from the environment, without writing it.

    :raises ConfigError: the text does not load (the message names the key)
    """
    with tempfile.TemporaryDirectory(prefix="duban-setup-") as tmp:
        Path(tmp, CONFIG_NAME).write_text(text, encoding="utf-8")
        settings = load_settings(Path(tmp))
    # Every path is relative to the home and resolved on use: moving the home back makes them the home's.
    return dataclasses.replace(settings, home=home)


def with_passwords(settings: Settings, passwords: dict[str, str]) -> Settings:
    """``settings`` with passwords given for this test only (``{"imap": …, "smtp": …, "exchange": …,
    "graph": …}``)."""
    mail = settings.mail
    for section, value in passwords.items():
        if value:
            oauth = section == "graph" or (section == "exchange" and mail.exchange.auth == "oauth2")
            key = "client_secret" if oauth else "password"
            mail = dataclasses.replace(
                mail, **{section: dataclasses.replace(getattr(mail, section), **{key: value})}
            )
    return dataclasses.replace(settings, mail=mail)


def try_login(settings: Settings) -> str:
    """Log in to the configured server(s) without sending anything (IMAP LOGIN + SMTP EHLO/AUTH; an EWS
    call that reads the inbox; for Graph a token and a read of the inbox); returns the transport's description.

    :raises LoginError: the credentials were rejected
    :raises TransportError: a server cannot be reached or refuses
    """
    with open_transport(settings) as t:
        return t.check()


def write_config(home: Path, text: str) -> Path:
    """Replace the home's duban.toml with ``text`` (atomically: never half a file), keeping its mode."""
    path = home / CONFIG_NAME
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    write_atomic(path, text.encode("utf-8"))
    if mode is not None:
        path.chmod(mode)
    return path
