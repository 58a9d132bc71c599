"""The duban home and its settings: duban.toml, DUBAN_* overrides, secrets from outside the repo.

A home is a folder holding ``duban.toml`` and the data folders ``templates/``, ``registry/``, ``inbox/``
and ``outbox/``. Every path in the settings is relative to the home unless absolute.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mailer.common.errors import ConfigError
from mailer.common.files import private_dir, write_atomic
from mailer.common.holidays import load_holidays
from mailer.common.robotconfig import RobotSettings, parse_robots
from mailer.common.workdays import Calendar

HOME_FOLDERS = ("templates", "registry", "inbox", "outbox")
TRANSPORTS = ("folder", "imap", "exchange", "graph")
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
    # Forms sent after the send day: due = the day they went out + this many working days, when that is
    # later than the calendar's due date (0: never move it). See mailer.registry.latestart.
    late_due_workdays: int = 5


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
class GraphSettings:
    """Microsoft 365 (Exchange Online) over Microsoft Graph, as an Entra ID application (client credentials).

    ``authority`` and ``graph_url`` default to the global cloud; Microsoft 365 operated by 21Vianet (世纪互联)
    uses https://login.chinacloudapi.cn and https://microsoftgraph.chinacloudapi.cn/v1.0, and tests point
    both at a loopback server.
    """

    tenant_id: str = ""  # the directory (tenant) id, a GUID, or the tenant's domain name
    client_id: str = ""  # the application (client) id of the app registration
    client_secret: str = field(default="", repr=False)  # DUBAN_GRAPH_CLIENT_SECRET(_FILE) only
    mailbox: str = ""  # the user principal name of the mailbox; default: mail.from_address
    processed_folder: str = "已处理"  # under the inbox; created on first use
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    max_wait_s: int = 120  # the longest duban waits in all on one throttled (429/503) request
    timeout_s: int = 60
    ca_file: str = ""  # a TLS-inspecting proxy's CA; default: the system's


@dataclass(frozen=True)
class MailSettings:
    transport: str = "folder"  # folder | imap | exchange | graph
    from_address: str = "bgs@jyj.example.gov.cn"
    from_name: str = "局办公室"
    message_id_domain: str = ""  # default: the domain of from_address
    max_attachment_bytes: int = 20 * 2**20
    # A message that may have gone out (the server's answer was lost): "hold" it for `duban outbox resend`,
    # or "resend" it at once with （重发） in the subject.
    uncertain: str = "hold"
    # The whole message, attachments included as sent (base64: a third larger than the files). Government
    # mail systems commonly cap at 50 MB; a larger message is not read into memory, only recorded and answered.
    max_message_mb: float = 50.0
    imap: ImapSettings = ImapSettings()
    smtp: SmtpSettings = SmtpSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    graph: GraphSettings = GraphSettings()

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 2**20)


@dataclass(frozen=True)
class SenderSettings:
    """Whom to believe a message is from (mailer/read/senders.py) and how often to answer one address."""

    sender_check: str = "strict"  # strict | relaxed | off (meaning: mailer/read/senders.py, README)
    # authserv-ids of the receiving servers whose Authentication-Results count; "(unnamed)" for a server
    # that writes none (Exchange Online).
    trusted_authserv_ids: list[str] = field(default_factory=list)
    verify_dkim: bool = False  # verify DKIM signatures ourselves when no trusted results are present
    dns_server: str = ""  # "127.0.0.1:53" for the DKIM key lookups; empty: the system resolver
    dns_timeout_s: int = 5
    answers_per_day: int = 3  # error answers to one address per day before it is quarantined


@dataclass(frozen=True)
class ServiceSettings:
    poll_minutes: int = 5
    # Hold the first sending of a new plan, and sending after more than a day without a tick, until
    # `duban confirm` (or `duban serve --yes`). See mailer.service.startgate.
    confirm_start: bool = True
    libreoffice: str = "soffice"
    pdf_timeout_s: int = 120
    # LibreOffice instances converting a long notice's parts at the same time (mailer/word/pdfparallel.py):
    # 0 = one per CPU; 1 = the whole document in one conversion.
    pdf_parts: int = 0


@dataclass(frozen=True)
class WebSettings:
    """The web console (mailer.web): ``listen = "127.0.0.1:8470"`` also starts it inside `duban serve`."""

    listen: str = ""  # host:port; "" = not started by `duban serve`
    # Mark the session cookie Secure: set it when a reverse proxy serves the console over https.
    secure_cookies: bool = False
    session_hours: int = 12


# 公开方式 as GB/T 9704-2012 and the 政府信息公开条例 word it; "" leaves the 附注 out.
DISCLOSURES = ("此件公开发布", "此件主动公开", "此件依申请公开", "此件不予公开", "")


@dataclass(frozen=True)
class NoticeSettings:
    """The consolidated notice's 版记 and 公开方式 (GB/T 9704-2012 7.3.6 and 7.4)."""

    cc: tuple[str, ...] = ()  # 抄送机关, in order
    issuer: str = ""  # 印发机关; empty: the notice's 发文机关署名
    disclosure: str = ""  # one of DISCLOSURES


@dataclass(frozen=True)
class LightSettings:
    """亮灯 (mailer.render.lights): how near a milestone's date turns a task yellow."""

    yellow_workdays: int = 5  # a milestone due within this many working days, not reported done: yellow


@dataclass(frozen=True)
class Settings:
    """Everything duban needs to know about one home."""

    home: Path
    registry_url: str = ""  # empty: sqlite file in registry/
    # PostgreSQL only: this home's tables live in their own schema, so several homes (a city bureau and
    # its county bureaus) share one database without seeing each other's rows.
    registry_schema: str = ""
    templates_dir: Path = Path("templates")
    registry_dir: Path = Path("registry")
    inbox_dir: Path = Path("inbox")
    outbox_dir: Path = Path("outbox")
    key_file: str = ""  # empty: ~/.config/duban/secret.key; relative: to the home
    cycle: CycleSettings = CycleSettings()
    mail: MailSettings = MailSettings()
    service: ServiceSettings = ServiceSettings()
    senders: SenderSettings = SenderSettings()
    notice: NoticeSettings = NoticeSettings()
    lights: LightSettings = LightSettings()
    web: WebSettings = WebSettings()
    # The home's working days: holidays.toml over chinese_calendar (mailer.common.workdays). Not a duban.toml key;
    # load_settings reads holidays.toml into it, so each home counts with its own holidays.
    calendar: Calendar = field(default_factory=Calendar, compare=False, repr=False, metadata={"toml": False})
    # The [[robots]] tables: group robots told beside the mail (mailer.common.robotconfig checks them).
    robots: tuple[RobotSettings, ...] = field(default=(), metadata={"toml": False})

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
            # psycopg (v3) is the driver duban ships for PostgreSQL; SQLAlchemy's bare default is psycopg2.
            for bare in ("postgresql://", "postgres://"):
                if url.startswith(bare):
                    url = "postgresql+psycopg://" + url[len(bare) :]
            if self.registry_schema:
                # libpq's options parameter: every connection of this home starts in its own schema.
                url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{self.registry_schema}"
            return url
        return f"sqlite:///{self.registry / 'registry.sqlite3'}"

    @property
    def message_id_domain(self) -> str:
        return self.mail.message_id_domain or self.mail.from_address.rpartition("@")[2] or "duban.local"

    def secret_key(self) -> bytes:
        """The key that signs form tokens: DUBAN_SECRET_KEY, else the key file (created on first use).

        :raises ConfigError: when the key is shorter than 32 bytes, or the key file cannot be created
        """
        from mailer.common import secretkey

        env = os.environ.get("DUBAN_SECRET_KEY")
        if env:
            return secretkey.from_env(env)
        return secretkey.from_file(self.key_path)

    @property
    def key_path(self) -> Path:
        """The key file: ``key_file`` (relative to the home, may lie inside it), else the per-user default."""
        return self.path(self.key_file) if self.key_file else default_key_file()


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "duban" / "secret.key"


# Secrets never live in duban.toml; they come from these variables (or *_FILE pointing to a file).
_SECRET_ENV = {
    ("mail", "imap", "password"): "DUBAN_IMAP_PASSWORD",
    ("mail", "smtp", "password"): "DUBAN_SMTP_PASSWORD",
    ("mail", "exchange", "password"): "DUBAN_EWS_PASSWORD",
    ("mail", "exchange", "client_secret"): "DUBAN_EWS_CLIENT_SECRET",
    ("mail", "graph", "client_secret"): "DUBAN_GRAPH_CLIENT_SECRET",
}


def find_home(explicit: Path | None) -> Path:
    """The home: --home, else DUBAN_HOME, else the current directory.

    :raises ConfigError: when the folder named does not exist (only `duban init` creates a home)
    """
    env = os.environ.get("DUBAN_HOME")
    if explicit is not None:
        # click hands DUBAN_HOME over as --home: name what the user really set
        home, how = explicit, "DUBAN_HOME" if env and Path(env) == explicit else "--home"
    elif env:
        home, how = Path(env), "DUBAN_HOME"
    else:
        return Path.cwd().resolve()
    home = home.expanduser().resolve()
    if not home.is_dir():
        state = "不是文件夹" if home.exists() else "不存在"
        raise ConfigError(
            f"{how} 指定的目录 {home} {state}。duban 不会自动建立目录：请检查路径拼写；"
            f"要新建 duban 目录，运行 `duban init {home}`。"
        )
    return home


_TYPE_CN = {"int": "整数", "float": "数字", "str": "文字", "bool": "true/false", "list": "列表", "tuple": "列表"}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls) if f.metadata.get("toml", True)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{CONFIG_NAME} 中的“{where}{key}”不是可用的设置项。可用的有：{'、'.join(known)}。")
        f = known[key]
        default = f.default if f.default is not MISSING else None
        if isinstance(value, dict):
            kwargs[key] = _build(type(default), value, f"{where}{key}.")
        elif default is not None and not isinstance(value, type(default)):
            # bool is an int in Python; Path fields accept strings.
            if isinstance(default, Path) and isinstance(value, str):
                value = Path(value)
            elif isinstance(default, tuple) and isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = tuple(value)
            elif isinstance(default, float) and isinstance(value, int):
                value = float(value)
            else:
                kind = type(default).__name__
                example = '["…", "…"]' if isinstance(default, list | tuple) else repr(default)
                raise ConfigError(
                    f"{CONFIG_NAME} 中“{where}{key}”的值 {value!r} 类型不对，"
                    f"应写成{_TYPE_CN.get(kind, kind)}，如 {example}。"
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
                raise ConfigError(f"环境变量 {var}_FILE 指向的文件 {os.environ[var + '_FILE']!r} 无法读取：{e}") from e
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
            raise ConfigError(f"配置文件 {cfg} 格式有误（不是有效的 TOML）：{e}") from e
    for (_, section, key), var in _SECRET_ENV.items():
        if key in data.get("mail", {}).get(section, {}):
            raise ConfigError(
                f"配置文件 {cfg} 中不得写入密码“mail.{section}.{key}”。请删去该行，改用环境变量 {var}（或 {var}_FILE）。"
            )
    robots = parse_robots(data.pop("robots", None), CONFIG_NAME)
    kwargs = _build(Settings, data, "")
    settings = _apply_secrets(Settings(home=home, robots=robots, **kwargs))
    c = settings.cycle
    if not 1 <= c.send_day <= 28 or not 1 <= c.due_day <= 28:
        raise ConfigError(f"cycle.send_day={c.send_day}、due_day={c.due_day}：请使用 1–28 日（如 10 和 20）。")
    if c.send_day >= c.due_day:
        raise ConfigError(f"发送日 cycle.send_day（{c.send_day}日）必须早于截止日 cycle.due_day（{c.due_day}日）。")
    if settings.mail.max_message_mb <= 0:
        raise ConfigError(
            f"{CONFIG_NAME} 中 mail.max_message_mb = {settings.mail.max_message_mb}：请写以 MB 计的大小，如 50。"
        )
    if settings.mail.transport not in TRANSPORTS:
        raise ConfigError(
            f"mail.transport = “{settings.mail.transport}”无法识别。请写 folder、imap、exchange 或 graph"
            "（也可运行 duban setup mail 设置）。"
        )
    _check_senders(settings.senders)
    if settings.mail.uncertain not in ("hold", "resend"):
        raise ConfigError(
            f"mail.uncertain = “{settings.mail.uncertain}”无法识别。请写 hold（由局办公室用 duban outbox resend "
            "决定是否重发）或 resend（立即重发，主题注明（重发））。"
        )
    _check_notice(settings.notice)
    check_registry_settings(settings)
    yw = settings.lights.yellow_workdays
    if isinstance(yw, bool) or not isinstance(yw, int) or not 0 <= yw <= 60:
        raise ConfigError(
            f"{CONFIG_NAME} 中 lights.yellow_workdays = {settings.lights.yellow_workdays!r}：请写 0–60 之间的"
            "工作日天数（如 5：节点到期前5个工作日内未报完成即亮黄灯）。"
        )
    # Read last and as a whole: a wrong holidays.toml stops every command (check, serve) with its list of
    # mistakes instead of being half used.
    return replace(settings, calendar=Calendar(load_holidays(home)))


def check_registry_settings(s: Settings, *, password_ok: bool = False) -> None:
    """registry_url and registry_schema make sense together (and, in duban.toml, carry no password).

    :raises ConfigError: naming the setting and the fix
    """
    url = s.registry_url
    if s.registry_schema:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", s.registry_schema):
            raise ConfigError(
                f"registry_schema = “{s.registry_schema}”不是可用的模式名。请只用小写英文字母、数字和下划线，"
                '以字母开头，如 registry_schema = "county_a"。'
            )
        if not url.startswith(("postgresql", "postgres:")):
            raise ConfigError(
                "registry_schema 只用于 PostgreSQL 登记簿：请同时设置 registry_url，"
                '如 registry_url = "postgresql+psycopg://duban@db.example.gov.cn/duban"；使用 SQLite 时请删去 registry_schema。'
            )
        if "search_path" in url:
            raise ConfigError("registry_url 中已用 options 指定 search_path，请删去它，只用 registry_schema 指定模式。")
    if url.startswith(("postgresql", "postgres:")):
        from urllib.parse import urlsplit

        if urlsplit(url).password and not password_ok:
            raise ConfigError(
                f"{CONFIG_NAME} 的 registry_url 中不得写入数据库密码。请删去密码，改用环境变量 PGPASSWORD，"
                "或数据库服务账户的 ~/.pgpass 文件（权限 0600）。"
            )


def _check_senders(p: SenderSettings) -> None:
    if p.sender_check not in ("strict", "relaxed", "off"):
        raise ConfigError(
            f"senders.sender_check = “{p.sender_check}”无法识别。请写 strict（严格）、relaxed（宽松）或 off（关闭）。"
        )
    if not isinstance(p.trusted_authserv_ids, list) or not all(
        isinstance(x, str) and x.strip() for x in p.trusted_authserv_ids
    ):
        raise ConfigError(
            f"senders.trusted_authserv_ids = {p.trusted_authserv_ids!r} 应为邮件服务器名称的列表，"
            '如 ["mx.example.gov.cn"]。'
        )
    if p.dns_server and not re.fullmatch(r"[0-9A-Za-z.:\[\]-]+", p.dns_server):
        raise ConfigError(f"senders.dns_server = “{p.dns_server}”不是地址，请写成如 \"10.1.1.53:53\"。")
    if p.answers_per_day < 1:
        raise ConfigError(f"senders.answers_per_day = {p.answers_per_day}：请写 1 或更大的数（如 3）。")


def _check_notice(n: NoticeSettings) -> None:
    if n.disclosure not in DISCLOSURES:
        raise ConfigError(
            f'{CONFIG_NAME} 中 notice.disclosure = "{n.disclosure}" 不是公开方式的规范写法。'
            f"请写为以下之一：{'、'.join(f'“{d}”' for d in DISCLOSURES if d)}，或删去此项（不标注）。"
        )
    blank = [i + 1 for i, name in enumerate(n.cc) if not name.strip()]
    if blank:
        raise ConfigError(
            f"{CONFIG_NAME} 中 notice.cc 的第{'、'.join(map(str, blank))}项为空。"
            '请删去空项，例如 cc = ["县委教育工委", "县政府督查室"]。'
        )


DEFAULT_TOML = """\
# duban home configuration. Every path is relative to this folder unless absolute.
# Secrets never go here: set DUBAN_IMAP_PASSWORD, DUBAN_SMTP_PASSWORD, DUBAN_EWS_PASSWORD,
# DUBAN_EWS_CLIENT_SECRET, DUBAN_GRAPH_CLIENT_SECRET (or the same names ending in _FILE), and
# DUBAN_SECRET_KEY or key_file.

# registry_url = "postgresql+psycopg://duban@db/duban"   # default: registry/registry.sqlite3
# registry_schema = "county_a"  # PostgreSQL: this home's own schema (several homes in one database)
#                               # the password comes from PGPASSWORD or ~/.pgpass, never from this file
# key_file = "~/.config/duban/secret.key"                # signs form tokens; created on first use
#                                                        # (a relative path is inside the home)

[cycle]
first_month = 6          # reports are due monthly from this month ("从6月起")
send_day = 10            # forms go out on this day of the month
due_day = 20             # "每月20日前"
remind_days_before = 3   # working days before the due date
grace_days = 1           # working days after the due date before assembling without the missing
timezone = "Asia/Shanghai"
workdays_only = true     # reminders skip weekends and public holidays (holidays.toml, else chinese-calendar)
late_due_workdays = 5    # forms sent after send_day: due = sent + 5 working days (if later than due_day)

[mail]
transport = "folder"     # folder (embedded default) | imap | exchange | graph (Microsoft 365)
from_address = "bgs@jyj.example.gov.cn"
from_name = "局办公室"
# uncertain = "hold"     # a message that may have gone out: hold for `duban outbox resend` | "resend" (（重发）)

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

# [mail.graph]            # Microsoft 365 (Exchange Online): an Entra ID app with Mail.ReadWrite + Mail.Send
# tenant_id = "00000000-0000-0000-0000-000000000000"
# client_id = "00000000-0000-0000-0000-000000000000"
# mailbox = "bgs@jyj.example.gov.cn"
# processed_folder = "已处理"

[service]
poll_minutes = 5
confirm_start = true     # a new plan's first mails, and mails after a day of downtime, wait for `duban confirm`

[senders]
# Who wrote a message is not only its From header (README, "Sender policy").
#   strict  : quarantine when the trusted server's SPF, DKIM or DMARC says fail (softfail too, unless a
#             DKIM signature passed), when the envelope sender's domain differs from the From domain
#             (unless the office's directory row allows it), or when our own DKIM check fails
#   relaxed : quarantine only on DMARC fail, or SPF/DKIM fail with nothing passing
#   off     : the From header alone decides (as before)
sender_check = "strict"
trusted_authserv_ids = []     # e.g. ["mx.example.gov.cn"]; "(unnamed)" for Exchange Online's results
verify_dkim = false           # check DKIM ourselves where the server adds no trusted results
# dns_server = "10.1.1.53:53" # for those DKIM key lookups; default: the system resolver
answers_per_day = 3           # error answers to one address per day; then quarantined, bureau told once

[notice]                 # the consolidated notice's 版记 and 公开方式 (GB/T 9704-2012)
# cc = ["县委教育工委", "县政府督查室"]   # 抄送机关
# issuer = "台山市教育局办公室"           # 印发机关; default: the notice's 发文机关署名
# disclosure = "此件主动公开"             # 此件公开发布 | 此件主动公开 | 此件依申请公开 | 此件不予公开

[lights]                 # 亮灯: red = a milestone overdue or the office late; green = on schedule
yellow_workdays = 5      # yellow: a milestone due within this many working days and not reported done,
                         # or the report awaiting approval / returned

# Group robots told beside the mail (docs/使用说明.md, 工作群同步提醒): one [[robots]] per group. The webhook
# address and the 加签 secret are secrets: name an environment variable or a file, never the value.
# [[robots]]
# platform = "dingtalk"                      # wecom | dingtalk | feishu
# name = "局办公室群"
# all = true                                 # or offices = ["基财股"]
# events = ["forms", "reminders", "escalations", "publication"]
# url_env = "DUBAN_ROBOT_BUREAU_URL"         # or url_file = "…"
# secret_env = "DUBAN_ROBOT_BUREAU_SECRET"   # or secret_file = "…"; none for wecom
"""


def init_home(directory: Path) -> Path:
    """Create a duban home: the four folders and a commented duban.toml (kept if present).

    :returns: the resolved home path
    """
    directory = directory.resolve()
    for name in HOME_FOLDERS:
        private_dir(directory / name)
    cfg = directory / CONFIG_NAME
    if not cfg.exists():
        write_atomic(cfg, DEFAULT_TOML.encode("utf-8"))
    return directory
