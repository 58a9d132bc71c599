"""The duban home and its settings: duban.toml, DUBAN_* overrides, secrets from outside the repo.

A home is a folder holding ``duban.toml`` and the data folders ``templates/``, ``registry/``, ``inbox/``
and ``outbox/``. Every path in the settings is relative to the home unless absolute.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError

HOME_FOLDERS = ("templates", "registry", "inbox", "outbox")
CONFIG_NAME = "duban.toml"


@dataclass(frozen=True)
class CycleSettings:
    """When things happen in a period. Defaults follow the notice: monthly from June, due the 20th."""

    first_month: int = 6
    last_month: int = 12
    send_day: int = 10
    due_day: int = 20
    remind_days_before: int = 3
    grace_days: int = 1
    approval_remind_days: int = 2
    timezone: str = "Asia/Shanghai"
    workdays_only: bool = True


@dataclass(frozen=True)
class ImapSettings:
    host: str = "localhost"
    port: int = 993
    security: str = "ssl"  # ssl | starttls | none
    username: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    processed_folder: str = "已处理"
    sent_folder: str = ""  # empty: do not keep a copy in Sent
    idle: bool = True
    verify_tls: bool = True
    ca_file: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 465
    security: str = "ssl"  # ssl | starttls | none
    username: str = ""
    password: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_file: str = ""


@dataclass(frozen=True)
class ExchangeSettings:
    endpoint: str = ""  # https://mail.example.gov.cn/EWS/Exchange.asmx
    primary_address: str = ""
    auth: str = "ntlm"  # ntlm | basic | oauth2
    username: str = ""
    password: str = field(default="", repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    tenant_id: str = ""
    processed_folder: str = "已处理"
    server_version: str = ""  # e.g. "15.1.2507.6"; skips version guessing
    max_wait_s: int = 300
    ca_file: str = ""


@dataclass(frozen=True)
class MailSettings:
    transport: str = "folder"  # folder | imap | exchange
    from_address: str = "bgs@jyj.example.gov.cn"
    from_name: str = "局办公室"
    message_id_domain: str = ""  # default: the domain of from_address
    max_attachment_bytes: int = 20 * 2**20
    # The whole message, attachments included as sent (base64: a third larger than the files). Government
    # mail systems commonly cap at 50 MB; a larger message is not read into memory, only recorded and answered.
    max_message_mb: float = 50.0
    imap: ImapSettings = ImapSettings()
    smtp: SmtpSettings = SmtpSettings()
    exchange: ExchangeSettings = ExchangeSettings()

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 2**20)


@dataclass(frozen=True)
class ServiceSettings:
    poll_minutes: int = 5
    libreoffice: str = "soffice"
    pdf_timeout_s: int = 120


@dataclass(frozen=True)
class Settings:
    """Everything duban needs to know about one home."""

    home: Path
    registry_url: str = ""  # empty: sqlite file in registry/
    templates_dir: Path = Path("templates")
    registry_dir: Path = Path("registry")
    inbox_dir: Path = Path("inbox")
    outbox_dir: Path = Path("outbox")
    key_file: str = ""  # empty: ~/.config/duban/secret.key
    cycle: CycleSettings = CycleSettings()
    mail: MailSettings = MailSettings()
    service: ServiceSettings = ServiceSettings()

    def path(self, p: Path | str) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else self.home / p

    @property
    def templates(self) -> Path:
        return self.path(self.templates_dir)

    @property
    def registry(self) -> Path:
        return self.path(self.registry_dir)

    @property
    def inbox(self) -> Path:
        return self.path(self.inbox_dir)

    @property
    def outbox(self) -> Path:
        return self.path(self.outbox_dir)

    @property
    def database_url(self) -> str:
        if self.registry_url:
            url = self.registry_url
            # A relative sqlite path is relative to the home, not to wherever duban was started.
            prefix = "sqlite:///"
            if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
                url = prefix + str(self.home / url[len(prefix) :])
            return url
        return f"sqlite:///{self.registry / 'registry.sqlite3'}"

    @property
    def message_id_domain(self) -> str:
        return self.mail.message_id_domain or self.mail.from_address.rpartition("@")[2] or "duban.local"

    def secret_key(self) -> bytes:
        """The key that signs form tokens: DUBAN_SECRET_KEY, else the key file (never inside the repo).

        :raises ConfigError: when neither is set and the key file cannot be created
        """
        env = os.environ.get("DUBAN_SECRET_KEY")
        if env:
            return env.encode()
        path = Path(self.key_file).expanduser() if self.key_file else default_key_file()
        if path.exists():
            return path.read_bytes().strip()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode())
        except FileExistsError:
            pass
        except OSError as e:
            raise ConfigError(
                f"No DUBAN_SECRET_KEY and the key file {path} cannot be created ({e}). "
                "Set DUBAN_SECRET_KEY or key_file in duban.toml to a path outside the repository."
            ) from e
        return path.read_bytes().strip()


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "duban" / "secret.key"


# Secrets never live in duban.toml; they come from these variables (or *_FILE pointing to a file).
_SECRET_ENV = {
    ("mail", "imap", "password"): "DUBAN_IMAP_PASSWORD",
    ("mail", "smtp", "password"): "DUBAN_SMTP_PASSWORD",
    ("mail", "exchange", "password"): "DUBAN_EWS_PASSWORD",
    ("mail", "exchange", "client_secret"): "DUBAN_EWS_CLIENT_SECRET",
}


def find_home(explicit: Path | None) -> Path:
    """The home: --home, else DUBAN_HOME, else the current directory."""
    if explicit is not None:
        return explicit.resolve()
    env = os.environ.get("DUBAN_HOME")
    return Path(env).resolve() if env else Path.cwd().resolve()


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f'Unknown key "{where}{key}" in {CONFIG_NAME}. Known: {", ".join(known)}.')
        f = known[key]
        default = f.default if f.default is not MISSING else None
        if isinstance(value, dict):
            kwargs[key] = _build(type(default), value, f"{where}{key}.")
        elif default is not None and not isinstance(value, type(default)):
            # bool is an int in Python; Path fields accept strings.
            if isinstance(default, Path) and isinstance(value, str):
                value = Path(value)
            elif isinstance(default, float) and isinstance(value, int):
                value = float(value)
            else:
                raise ConfigError(
                    f'"{where}{key}" in {CONFIG_NAME} is {value!r}; expected a {type(default).__name__} '
                    f"like {default!r}."
                )
            kwargs[key] = value
        else:
            kwargs[key] = value
    return cls(**kwargs) if cls is not Settings else kwargs


def _apply_secrets(s: Settings) -> Settings:
    mail = s.mail
    for (_, section, key), var in _SECRET_ENV.items():
        value = os.environ.get(var)
        if value is None and os.environ.get(var + "_FILE"):
            try:
                value = Path(os.environ[var + "_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"{var}_FILE={os.environ[var + '_FILE']!r} cannot be read: {e}") from e
        if value is not None:
            sub = replace(getattr(mail, section), **{key: value})
            mail = replace(mail, **{section: sub})
    return replace(s, mail=mail)


def load_settings(home: Path | None = None) -> Settings:
    """Read ``duban.toml`` of the home (if any), then apply DUBAN_* secrets from the environment.

    :raises ConfigError: naming the key, the bad value and an example of a good one
    """
    home = find_home(home)
    cfg = home / CONFIG_NAME
    data: dict[str, Any] = {}
    if cfg.exists():
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg} is not valid TOML: {e}") from e
    for (_, section, key), var in _SECRET_ENV.items():
        if key in data.get("mail", {}).get(section, {}):
            raise ConfigError(
                f'{cfg}: "mail.{section}.{key}" must not be written in the file. Set {var} (or {var}_FILE).'
            )
    kwargs = _build(Settings, data, "")
    settings = _apply_secrets(Settings(home=home, **kwargs))
    c = settings.cycle
    if not 1 <= c.send_day <= 28 or not 1 <= c.due_day <= 28:
        raise ConfigError(f"cycle.send_day={c.send_day} / due_day={c.due_day}: use days 1–28 (e.g. 10 and 20).")
    if c.send_day >= c.due_day:
        raise ConfigError(f"cycle.send_day ({c.send_day}) must come before cycle.due_day ({c.due_day}).")
    if settings.mail.max_message_mb <= 0:
        raise ConfigError(
            f"mail.max_message_mb = {settings.mail.max_message_mb} in {CONFIG_NAME}: use a size in MB like 50."
        )
    if settings.mail.transport not in ("folder", "imap", "exchange"):
        raise ConfigError(
            f'mail.transport = "{settings.mail.transport}" is not known. Use "folder", "imap" or "exchange".'
        )
    return settings


DEFAULT_TOML = """\
# duban home configuration. Every path is relative to this folder unless absolute.
# Secrets never go here: set DUBAN_IMAP_PASSWORD, DUBAN_SMTP_PASSWORD, DUBAN_EWS_PASSWORD,
# DUBAN_EWS_CLIENT_SECRET (or the same names ending in _FILE), and DUBAN_SECRET_KEY or key_file.

# registry_url = "postgresql+psycopg://duban@db/duban"   # default: registry/registry.sqlite3
# key_file = "~/.config/duban/secret.key"                # signs form tokens; created on first use

[cycle]
first_month = 6          # reports are due monthly from this month ("从6月起")
send_day = 10            # forms go out on this day of the month
due_day = 20             # "每月20日前"
remind_days_before = 3   # working days before the due date
grace_days = 1           # working days after the due date before assembling without the missing
timezone = "Asia/Shanghai"
workdays_only = true     # reminders skip weekends and Chinese public holidays

[mail]
transport = "folder"     # folder (embedded default) | imap | exchange
from_address = "bgs@jyj.example.gov.cn"
from_name = "局办公室"

# [mail.imap]
# host = "mail.example.gov.cn"
# port = 993
# security = "ssl"        # ssl | starttls | none
# username = "bgs@jyj.example.gov.cn"
# processed_folder = "已处理"

# [mail.smtp]
# host = "mail.example.gov.cn"
# port = 465
# security = "ssl"
# username = "bgs@jyj.example.gov.cn"

# [mail.exchange]
# endpoint = "https://mail.example.gov.cn/EWS/Exchange.asmx"
# primary_address = "bgs@jyj.example.gov.cn"
# auth = "ntlm"           # ntlm | basic | oauth2
# username = "JYJ\\\\bgs"

[service]
poll_minutes = 5
"""


def init_home(directory: Path) -> Path:
    """Create a duban home: the four folders and a commented duban.toml (kept if present).

    :returns: the resolved home path
    """
    directory = directory.resolve()
    for name in HOME_FOLDERS:
        (directory / name).mkdir(parents=True, exist_ok=True)
    cfg = directory / CONFIG_NAME
    if not cfg.exists():
        cfg.write_text(DEFAULT_TOML, encoding="utf-8")
    return directory
