"""The ``[[robots]]`` tables of duban.toml: group robots (WeCom, DingTalk, Feishu) that hear what the mail says.

A robot is one group chat's webhook: the bureau's own group (``all = true``) or the groups of some offices
(``offices = ["基财股", …]``), told of the ``events`` it is subscribed to. The webhook address and the 加签
secret are credentials (anyone holding them can post into the group), so duban.toml only *names* where they
are: an environment variable (``url_env``, ``secret_env``) or a file outside the repository (``url_file``,
``secret_file``). They are read when a post is made, never at start-up, so a missing variable shows as one
robot's problem in `duban check` instead of stopping the mail service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from mailer.common.errors import ConfigError

PLATFORMS = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}
EVENTS = {"forms": "表格发出", "reminders": "催报", "escalations": "逾期", "publication": "通报印发"}
FORMATS = ("text", "markdown")
# A bare key/token (what the clerk copies from the robot's page) becomes the platform's documented address.
BASE_URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/",
}
_KEYS = (
    "platform", "name", "offices", "all", "events", "format", "url_env", "url_file", "secret_env",
    "secret_file", "at_mobiles",
)  # fmt: skip
_EXAMPLE = (
    '例如：\n[[robots]]\nplatform = "dingtalk"\nname = "局办公室群"\nall = true\n'
    'events = ["forms", "reminders", "escalations", "publication"]\n'
    'url_env = "DUBAN_ROBOT_BUREAU_URL"\nsecret_env = "DUBAN_ROBOT_BUREAU_SECRET"'
)


@dataclass(frozen=True)
class RobotSettings:
    """One group robot. ``offices`` empty and ``all`` true: the bureau's group, told about every office."""

    platform: str
    name: str
    events: tuple[str, ...] = tuple(EVENTS)
    offices: tuple[str, ...] = ()
    all: bool = False
    format: str = "text"  # text | markdown (Feishu: markdown is sent as a 富文本 "post")
    url_env: str = ""
    url_file: str = ""
    secret_env: str = ""
    secret_file: str = ""
    at_mobiles: tuple[str, ...] = field(default=(), repr=False)  # @ these members (DingTalk, WeCom text)

    @property
    def label(self) -> str:
        """ "钉钉机器人“局办公室群”", as the clerk's messages name it."""
        return f"{PLATFORMS[self.platform]}机器人“{self.name}”"

    def covers(self, office: str) -> bool:
        return self.all or office in self.offices

    def url(self, home: Path) -> str:
        """The webhook address (a bare key or token is completed to the platform's address).

        :raises ConfigError: when the variable is unset or the file cannot be read
        """
        value = _read(self, "url", home)
        if not value:
            raise ConfigError(f"{self.label}的网址未设置：{_where(self, 'url')}为空。")
        if "://" not in value:
            return BASE_URLS[self.platform] + quote(value, safe="")
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"{self.label}的网址不是 http(s) 地址，请复制机器人设置页上的 Webhook 地址。")
        return value

    def secret(self, home: Path) -> str:
        """The 加签 secret ("" when the robot is not set to sign).

        :raises ConfigError: when a variable or file is named but empty or unreadable
        """
        if not (self.secret_env or self.secret_file):
            return ""
        value = _read(self, "secret", home)
        if not value:
            raise ConfigError(f"{self.label}的加签密钥未设置：{_where(self, 'secret')}为空。")
        return value


def _where(robot: RobotSettings, what: str) -> str:
    env, file = getattr(robot, f"{what}_env"), getattr(robot, f"{what}_file")
    return f"环境变量 {env}" if env else f"文件 {file}"


def _read(robot: RobotSettings, what: str, home: Path) -> str:
    env, file = getattr(robot, f"{what}_env"), getattr(robot, f"{what}_file")
    if env:
        return os.environ.get(env, "").strip()
    path = Path(file).expanduser()
    path = path if path.is_absolute() else home / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"{robot.label}：{_where(robot, what)}无法读取（{e.strerror or e}）。") from e


def mask(text: str, url: str, secret: str = "") -> str:
    """``text`` with the webhook's key/token and the secret replaced by their first 4 characters and "…",
    for log lines and recorded errors (the address itself is a credential)."""
    secrets = [secret] if secret else []
    parts = urlsplit(url)
    secrets += [v for k, v in parse_qsl(parts.query) if k in ("key", "access_token") and v]
    if "/hook/" in parts.path:
        secrets.append(parts.path.rsplit("/", 1)[-1])
    for s in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, s[:4] + "…").replace(quote(s, safe=""), s[:4] + "…")
    return text


def masked_url(url: str) -> str:
    return mask(url, url)


def parse_robots(raw: Any, config_name: str = "duban.toml") -> tuple[RobotSettings, ...]:
    """The ``[[robots]]`` array of tables, checked.

    :raises ConfigError: naming the robot, the key and what to write instead
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ConfigError(f"{config_name} 中的 robots 应写成 [[robots]] 表（每个机器人一段）。{_EXAMPLE}")
    out: list[RobotSettings] = []
    for i, data in enumerate(raw, 1):
        where = f"{config_name} 第{i}个 [[robots]]"
        unknown = [k for k in data if k not in _KEYS]
        if unknown:
            raise ConfigError(
                f"{where} 中的“{'、'.join(unknown)}”不是可用的设置项。可用的有：{'、'.join(_KEYS)}。"
            )
        platform = data.get("platform")
        if platform not in PLATFORMS:
            raise ConfigError(
                f"{where} 的 platform = {platform!r} 无法识别。请写 wecom（企业微信）、dingtalk（钉钉）或 feishu（飞书）。"
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f'{where} 缺少 name（群的名称，用于提示），如 name = "局办公室群"。')
        where = f"{config_name} 中的机器人“{name}”"
        events = _names(data.get("events", list(EVENTS)), where, "events")
        bad = [e for e in events if e not in EVENTS]
        if bad or not events:
            raise ConfigError(
                f"{where} 的 events 中“{'、'.join(bad) or '（空）'}”无法识别。可写："
                + "、".join(f"{k}（{v}）" for k, v in EVENTS.items())
                + "。"
            )
        offices = _names(data.get("offices", []), where, "offices")
        everyone = data.get("all", False)
        if not isinstance(everyone, bool):
            raise ConfigError(f"{where} 的 all 应写 true 或 false。")
        if everyone == bool(offices):
            raise ConfigError(
                f'{where}：请写 all = true（局办公室群，通报所有股室），或 offices = ["基财股", …]（只通报这些股室），'
                "二者选一。"
            )
        fmt = data.get("format", "text")
        if fmt not in FORMATS:
            raise ConfigError(f"{where} 的 format = {fmt!r} 无法识别。请写 text（纯文字）或 markdown。")
        strings = {k: data.get(k, "") for k in ("url_env", "url_file", "secret_env", "secret_file")}
        for k, v in strings.items():
            if not isinstance(v, str):
                raise ConfigError(f'{where} 的 {k} 应写成文字，如 "DUBAN_ROBOT_BUREAU_URL"。')
        if bool(strings["url_env"]) == bool(strings["url_file"]):
            raise ConfigError(
                f'{where}：Webhook 地址是密钥，不写在 {config_name} 中。请写 url_env = "环境变量名" '
                '或 url_file = "文件路径"（二者选一）。'
            )
        if strings["secret_env"] and strings["secret_file"]:
            raise ConfigError(f"{where}：secret_env 与 secret_file 只能写一个。")
        if platform == "wecom" and (strings["secret_env"] or strings["secret_file"]):
            raise ConfigError(f"{where}：企业微信群机器人没有加签，请删去 secret_env / secret_file。")
        mobiles = _names(data.get("at_mobiles", []), where, "at_mobiles")
        if mobiles and platform == "feishu":
            raise ConfigError(f"{where}：飞书自定义机器人不能按手机号 @ 人，请删去 at_mobiles。")
        if any(not m.isdigit() for m in mobiles):
            raise ConfigError(f'{where} 的 at_mobiles 应为手机号码（只含数字），如 ["13800001111"]。')
        out.append(
            RobotSettings(
                platform=platform,
                name=name.strip(),
                events=tuple(events),
                offices=tuple(offices),
                all=everyone,
                format=fmt,
                at_mobiles=tuple(mobiles),
                **strings,
            )
        )
    names = [r.name for r in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{config_name} 中有同名的机器人“{'、'.join(twice)}”：请给每个机器人不同的 name。")
    return tuple(out)


def _names(value: Any, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f'{where} 的 {key} 应写成列表，如 {key} = ["…", "…"]。')
    return [v.strip() for v in value]
