"""Group-robot webhooks: the request body each platform documents, its signing, one POST, its answer.

WeCom (企业微信群机器人), developer.work.weixin.qq.com/document/path/91770 "群机器人配置说明":
  POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY, JSON
  ``{"msgtype": "text", "text": {"content": …, "mentioned_mobile_list": […]}}`` (content ≤ 2048 bytes UTF-8)
  or ``{"msgtype": "markdown", "markdown": {"content": …}}`` (≤ 4096 bytes); no signing — the key in the
  address is the credential. Answer ``{"errcode": 0, "errmsg": "ok"}``; 93000 = invalid webhook url.
  20 messages a minute per robot.
DingTalk (钉钉自定义机器人), open.dingtalk.com/document/group/custom-robot-access and
  …/robot-message-type: POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN, with 加签
  ``&timestamp=<ms>&sign=<urlEncode(base64(HmacSHA256(key=secret, msg="{timestamp}\\n{secret}")))>``, the
  timestamp within an hour of the server's clock. Body ``{"msgtype": "text", "text": {"content": …},
  "at": {"atMobiles": […], "isAtAll": false}}`` or ``{"msgtype": "markdown", "markdown": {"title": …,
  "text": …}, "at": {…}}``; the @ only shows when the text holds "@mobile". Answer ``{"errcode": 0,
  "errmsg": "ok"}``; 310000 = sign not match / keywords / IP. 20 messages a minute per robot, else throttled
  for 10 minutes.
Feishu/Lark (飞书自定义机器人), open.feishu.cn/document/client-docs/bot-v3/add-custom-bot "自定义机器人使用指南":
  POST https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN, body ``{"timestamp": "<s>", "sign": …,
  "msg_type": "text", "content": {"text": …}}`` or ``"msg_type": "post", "content": {"post": {"zh_cn":
  {"title": …, "content": [[{"tag": "text", "text": …}], …]}}}``; sign = base64(HmacSHA256(key=
  "{timestamp}\\n{secret}", msg=b"")) — the key and message are the other way round from DingTalk's.
  Answer ``{"code": 0, "msg": "success", …}``; 19021 = sign match fail or timestamp not within one hour.
  100 a minute, 5 a second; body ≤ 20 KB.
(Confirmed against the platforms' documentation as quoted in the library search, 2026-12.)

Only the standard library: a webhook is one JSON POST, and a transport here may import nothing of ours but
config and the leaf modules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mailer.common.errors import DubanError
from mailer.common.robotconfig import mask

TIMEOUT_S = 15
# Documented per-platform limits on the message, in UTF-8 bytes (text, markdown).
_LIMITS = {"wecom": (2048, 4096), "dingtalk": (20000, 20000), "feishu": (18000, 18000)}


class RobotError(DubanError):
    """A webhook did not take the message. ``uncertain``: the request went out but no answer came (it may
    have been posted), so posting again could double it."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain


@dataclass(frozen=True)
class Message:
    """What to say: a title (DingTalk markdown, Feishu post), plain text, markdown."""

    title: str
    text: str
    markdown: str


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HmacSHA256(secret, "{timestamp}\\n{secret}")), then URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote(base64.b64encode(digest).decode(), safe="")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: the string "{timestamp}\\n{secret}" is the HMAC *key*, the message is empty."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_request(
    platform: str,
    url: str,
    message: Message,
    *,
    fmt: str = "text",
    secret: str = "",
    at_mobiles: tuple[str, ...] = (),
    now: float | None = None,
) -> tuple[str, dict[str, Any]]:
    """The address to POST to and the JSON body, as the platform documents them (module docstring)."""
    now = time.time() if now is None else now
    text_limit, md_limit = _LIMITS[platform]
    if platform == "wecom":
        if fmt == "markdown":
            return url, {"msgtype": "markdown", "markdown": {"content": _cut(message.markdown, md_limit)}}
        text: dict[str, Any] = {"content": _cut(message.text, text_limit)}
        if at_mobiles:
            text["mentioned_mobile_list"] = list(at_mobiles)
        return url, {"msgtype": "text", "text": text}
    if platform == "dingtalk":
        mention = "".join(f" @{m}" for m in at_mobiles)  # DingTalk shows the @ only where the text names it
        at = {"atMobiles": list(at_mobiles), "isAtAll": False}
        if fmt == "markdown":
            body: dict[str, Any] = {
                "msgtype": "markdown",
                "markdown": {"title": message.title, "text": _cut(message.markdown + mention, md_limit)},
                "at": at,
            }
        else:
            body = {
                "msgtype": "text",
                "text": {"content": _cut(message.text + mention, text_limit)},
                "at": at,
            }
        if secret:
            ts = int(now * 1000)
            url += f"{'&' if '?' in url else '?'}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"
        return url, body
    if fmt == "markdown":
        # Feishu's webhook takes no markdown message; its 富文本 "post" keeps the title and the lines.
        lines = [line for line in message.text.split("\n")[1:] if line.strip()]
        body = {
            "msg_type": "post",
            "content": {
                "post": {
                    "zh_cn": {
                        "title": message.title,
                        "content": [[{"tag": "text", "text": _cut(line, text_limit)}] for line in lines],
                    }
                }
            },
        }
    else:
        body = {"msg_type": "text", "content": {"text": _cut(message.text, text_limit)}}
    if secret:
        ts = int(now)
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
    return url, body


_HINTS = {
    ("wecom", 93000): "Webhook 地址无效（key 错误或机器人已被移出群），请在群机器人页面重新复制地址",
    ("wecom", 45009): "发送太频繁（每分钟最多 20 条），稍后自动重试",
    ("dingtalk", 310000): "钉钉拒收：加签密钥不对、服务器时间不准，或与机器人的关键词/IP 设置不符",
    ("dingtalk", 300001): "access_token 无效，请在机器人设置页重新复制 Webhook 地址",
    ("dingtalk", 410100): "发送太频繁（每分钟最多 20 条），稍后自动重试",
    ("feishu", 19021): "飞书签名校验失败：密钥不对，或服务器时间与标准时间相差超过 1 小时",
    ("feishu", 19024): "消息中没有机器人设置的关键词",
    ("feishu", 19022): "本机 IP 不在机器人的 IP 白名单中",
    ("feishu", 11232): "飞书限流，稍后自动重试",
}


def _verdict(platform: str, status: int, raw: bytes) -> None:
    """Raise unless the answer says the message was taken (errcode / code 0)."""
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        where = f"HTTP {status}" if status >= 300 else "应答不是 JSON"
        raise RobotError(f"{where}：{raw[:200].decode('utf-8', 'replace')}")
    key = "code" if platform == "feishu" and "code" in answer else "errcode"
    if platform == "feishu" and key not in answer:
        key = "StatusCode"  # the older Feishu answer, still sent by some deployments
    code = answer.get(key)
    if code == 0 and status < 300:
        return
    msg = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
    hint = _HINTS.get((platform, code)) if isinstance(code, int) else None
    raise RobotError(f"HTTP {status}，{key} {code}：{msg}" + (f"。{hint}" if hint else ""))


def post(
    platform: str,
    url: str,
    message: Message,
    *,
    fmt: str = "text",
    secret: str = "",
    at_mobiles: tuple[str, ...] = (),
    timeout: float = TIMEOUT_S,
) -> None:
    """POST ``message`` to the robot at ``url``.

    :raises RobotError: refused (HTTP error, errcode/code ≠ 0) or unreachable — in Chinese, with the key
        and secret masked; ``uncertain`` when the request was sent and the answer never came
    """
    target, body = build_request(platform, url, message, fmt=fmt, secret=secret, at_mobiles=at_mobiles)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(
        target, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # http(s) only: checked in robotconfig
                _verdict(platform, resp.status, resp.read(65536))
        except urllib.error.HTTPError as e:
            _verdict(platform, e.code, e.read(65536) if e.fp is not None else b"")
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise RobotError(f"连接超时（{timeout:g} 秒内未连上）：{reason}") from e
            raise RobotError(f"无法连接机器人服务器：{reason}") from e
        except (TimeoutError, http.client.RemoteDisconnected, ConnectionResetError) as e:
            # The request was written; the platform may have posted it before the answer was lost.
            raise RobotError(f"已发出请求但未收到应答（{type(e).__name__}: {e}）", uncertain=True) from e
        except (OSError, http.client.HTTPException) as e:
            raise RobotError(f"与机器人服务器通信出错：{type(e).__name__}: {e}") from e
    except RobotError as e:
        raise RobotError(mask(str(e), url, secret), uncertain=e.uncertain) from None
