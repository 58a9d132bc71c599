"""Group robots beside the mail, against a loopback HTTP server that plays WeCom, DingTalk and Feishu.

The server checks every request against the platform's documented format exactly (the JSON keys, msgtype /
msg_type, and the signature recomputed here with the same secret, timestamps within an hour) and answers
as the platform does: errcode/code 0, or the platform's own refusal (WeCom 93000, DingTalk 310000, Feishu
19021). Some paths answer HTTP 500, and one port refuses connections.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from mailer.common.config import load_settings
from mailer.common.errors import ConfigError
from mailer.common.robotconfig import parse_robots
from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Document, Period, RobotPost, RobotPostState
from mailer.registry.store import atomic, open_registry
from mailer.service.checks import run_checks
from mailer.service.cycle import run_once
from mailer.service.demo import EXAMPLES, at
from mailer.service.robots import MAX_ATTEMPTS, RateLimiter, post_pending, tell_robots
from mailer.service.statusnotes import robot_lines
from mailer.transport import webhook
from mailer.transport.base import open_transport

SECRET = "SEC0123456789abcdef-test-secret"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@dataclass
class Hit:
    platform: str
    token: str
    body: dict[str, Any]
    problems: list[str]


@dataclass
class FakePlatforms:
    """What the loopback server saw; ``fail`` maps a token to "500" (HTTP 500) or "refuse" (errcode ≠ 0)."""

    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)

    def url(self, platform: str, token: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {
            "wecom": f"{base}/cgi-bin/webhook/send?key={token}",
            "dingtalk": f"{base}/robot/send?access_token={token}",
            "feishu": f"{base}/open-apis/bot/v2/hook/{token}",
        }[platform]

    def to(self, token: str) -> list[Hit]:
        return [h for h in self.hits if h.token == token]


def _recent(ts: float) -> bool:
    return abs(time.time() - ts) < 3600  # all three platforms: within an hour of the server's clock


def _keys(obj: Any, *expected: str) -> list[str]:
    if not isinstance(obj, dict) or set(obj) != set(expected):
        return [f"keys {sorted(obj) if isinstance(obj, dict) else type(obj).__name__} != {sorted(expected)}"]
    return []


def check_wecom(query: dict[str, list[str]], body: Any) -> list[str]:
    """群机器人配置说明: key in the query; text {content, mentioned_mobile_list?} or markdown {content}."""
    problems = [] if set(query) == {"key"} else [f"query {sorted(query)}"]
    problems += _keys(body, "msgtype", body.get("msgtype", "?"))
    if body.get("msgtype") == "text":
        text = body["text"]
        problems += (
            [] if set(text) in ({"content"}, {"content", "mentioned_mobile_list"}) else [f"text {text}"]
        )
        problems += [] if len(text["content"].encode()) <= 2048 else ["content over 2048 bytes"]
    elif body.get("msgtype") == "markdown":
        problems += _keys(body["markdown"], "content")
    else:
        problems.append(f"msgtype {body.get('msgtype')}")
    return problems


def check_dingtalk(query: dict[str, list[str]], body: Any) -> list[str]:
    """自定义机器人 加签: timestamp (ms) and sign in the query, sign = base64(HmacSHA256(secret,
    "{timestamp}\\n{secret}")) URL-encoded; body text {content} or markdown {title, text}, at {atMobiles, isAtAll}."""
    problems = [] if set(query) == {"access_token", "timestamp", "sign"} else [f"query {sorted(query)}"]
    if not problems:
        ts = query["timestamp"][0]
        want = base64.b64encode(
            hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
        )
        if query["sign"][0] != want.decode():  # parse_qs has undone the URL-encoding
            problems.append("sign not match")
        if not _recent(int(ts) / 1000):
            problems.append("timestamp not in ms within an hour")
    problems += _keys(body, "msgtype", body.get("msgtype", "?"), "at")
    problems += _keys(body.get("at"), "atMobiles", "isAtAll")
    if body.get("msgtype") == "text":
        problems += _keys(body["text"], "content")
    elif body.get("msgtype") == "markdown":
        problems += _keys(body["markdown"], "title", "text")
    else:
        problems.append(f"msgtype {body.get('msgtype')}")
    return problems


def check_feishu(query: dict[str, list[str]], body: Any) -> list[str]:
    """自定义机器人使用指南 签名校验: timestamp (s, a string) and sign in the body, sign =
    base64(HmacSHA256(key="{timestamp}\\n{secret}", msg="")); text {text} or post {post: {zh_cn: {title, content}}}."""
    problems = [] if not query else [f"query {sorted(query)}"]
    problems += _keys(body, "timestamp", "sign", "msg_type", "content")
    if problems:
        return problems
    ts = body["timestamp"]
    want = base64.b64encode(hmac.new(f"{ts}\n{SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
    if body["sign"] != want:
        problems.append("sign match fail")
    if not (isinstance(ts, str) and ts.isdigit() and _recent(int(ts))):
        problems.append("timestamp not seconds within an hour")
    if body["msg_type"] == "text":
        problems += _keys(body["content"], "text")
    elif body["msg_type"] == "post":
        post = body["content"]["post"]["zh_cn"]
        problems += _keys(post, "title", "content")
        for line in post["content"]:
            problems += [p for el in line for p in _keys(el, "tag", "text")]
            problems += [] if all(el["tag"] == "text" for el in line) else ["tag"]
    else:
        problems.append(f"msg_type {body['msg_type']}")
    return problems


REFUSALS = {
    "wecom": {"errcode": 93000, "errmsg": "invalid webhook url"},
    "dingtalk": {"errcode": 310000, "errmsg": "sign not match"},
    "feishu": {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"},
}
OK = {"wecom": {"errcode": 0, "errmsg": "ok"}, "dingtalk": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "msg": "success", "data": {}}}  # fmt: skip


@pytest.fixture(scope="module")
def platforms() -> Iterator[FakePlatforms]:
    state = FakePlatforms()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/cgi-bin/webhook/send":
                platform, token, check = "wecom", query.get("key", [""])[0], check_wecom
            elif parts.path == "/robot/send":
                platform, token, check = "dingtalk", query.get("access_token", [""])[0], check_dingtalk
            else:
                platform, token, check = "feishu", parts.path.rsplit("/", 1)[-1], check_feishu
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw.decode("utf-8"))
            problems = check(query, body)
            if not self.headers["Content-Type"].startswith("application/json"):
                problems.append("content type")
            state.hits.append(Hit(platform, token, body, problems))
            mode = state.fail.get(token, "")
            if mode == "hang":  # took the request, then never answers
                time.sleep(1.0)
                return
            if mode == "500":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"<html>Internal Server Error</html>")
                return
            answer = REFUSALS[platform] if problems or mode == "refuse" else OK[platform]
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


MSG = webhook.Message("【督办】测试标题", "【督办】测试标题\n第二行\n第三行", "#### 【督办】测试标题\n- 一项")


@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_each_platform_gets_its_documented_body_and_signature(platforms, platform, fmt):
    """
    GIVEN the loopback server checking each platform's documented body and signature
    WHEN  a text and a markdown message are posted to each, signed where the platform signs
    THEN  the server finds nothing wrong (and answered 0, else post would have raised)
    """
    token = f"ok-{platform}-{fmt}"
    secret = "" if platform == "wecom" else SECRET
    mobiles = ("13800001111",) if platform != "feishu" else ()
    webhook.post(platform, platforms.url(platform, token), MSG, fmt=fmt, secret=secret, at_mobiles=mobiles)
    (hit,) = platforms.to(token)
    assert hit.problems == []
    if platform == "dingtalk":
        assert hit.body["at"] == {"atMobiles": ["13800001111"], "isAtAll": False}
        shown = hit.body["text"]["content"] if fmt == "text" else hit.body["markdown"]["text"]
        assert shown.endswith("@13800001111")  # DingTalk shows the @ only where the text names it
    if platform == "feishu" and fmt == "markdown":
        post = hit.body["content"]["post"]["zh_cn"]
        assert post["title"] == "【督办】测试标题"
        assert post["content"] == [[{"tag": "text", "text": "第二行"}], [{"tag": "text", "text": "第三行"}]]


@pytest.mark.parametrize(
    ("platform", "code", "hint"),
    [
        ("dingtalk", "310000", "加签密钥不对"),
        ("feishu", "19021", "签名校验失败"),
        ("wecom", "93000", "Webhook 地址无效"),
    ],
)
def test_a_wrong_secret_or_key_is_refused_with_the_platforms_code_in_chinese(platforms, platform, code, hint):
    token = f"refused-{platform}-{WECOM_KEY}"
    platforms.fail[token] = "refuse"
    secret = "" if platform == "wecom" else "SEC-the-wrong-one"
    with pytest.raises(webhook.RobotError) as e:
        webhook.post(platform, platforms.url(platform, token), MSG, secret=secret)
    assert code in str(e.value) and hint in str(e.value)
    assert not e.value.uncertain
    if platform != "wecom":
        assert platforms.to(token)[-1].problems == [
            "sign not match" if platform == "dingtalk" else "sign match fail"
        ]


def test_unreachable_and_500_are_refusals_with_the_key_masked(platforms):
    port = _closed_port()
    with pytest.raises(webhook.RobotError) as e:
        webhook.post("wecom", f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}", MSG)
    assert "无法连接" in str(e.value) and not e.value.uncertain
    platforms.fail["five-hundred"] = "500"
    with pytest.raises(webhook.RobotError) as e:
        webhook.post("dingtalk", platforms.url("dingtalk", "five-hundred"), MSG, secret=SECRET)
    assert str(e.value).startswith("HTTP 500")
    assert SECRET not in str(e.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"platform": "qq", "name": "群"}], "platform = 'qq' 无法识别"),
        ([{"platform": "wecom", "name": "群", "all": True}], "Webhook 地址是密钥"),
        ([{"platform": "wecom", "name": "群", "url_env": "X"}], "二者选一"),
        (
            [{"platform": "wecom", "name": "群", "all": True, "offices": ["基财股"], "url_env": "X"}],
            "二者选一",
        ),
        ([{"platform": "wecom", "name": "群", "all": True, "url_env": "X", "secret_env": "Y"}], "没有加签"),
        (
            [{"platform": "dingtalk", "name": "群", "all": True, "url_env": "X", "events": ["mail"]}],
            "“mail”无法识别",
        ),
        (
            [{"platform": "feishu", "name": "群", "all": True, "url_env": "X", "webhook": "https://…"}],
            "“webhook”不是可用的设置项",
        ),
        ([{"platform": "feishu", "name": "群", "all": True, "url_env": "X"}] * 2, "同名的机器人“群”"),
    ],
)
def test_robot_configuration_mistakes_are_named_in_chinese(raw, message):
    with pytest.raises(ConfigError) as e:
        parse_robots(raw)
    assert message in str(e.value)


def test_the_webhook_address_and_secret_come_from_the_environment_or_a_file(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (robot,) = parse_robots(
        [
            {
                "platform": "dingtalk",
                "name": "局办公室群",
                "all": True,
                "url_env": "ROBOT_URL",
                "secret_file": "secret.txt",
            }
        ]
    )
    with pytest.raises(ConfigError, match="环境变量 ROBOT_URL为空"):
        robot.url(tmp_path)
    monkeypatch.setenv("ROBOT_URL", "abc123token")  # the bare token from the robot's page
    assert robot.url(tmp_path) == "https://oapi.dingtalk.com/robot/send?access_token=abc123token"
    assert robot.secret(tmp_path) == SECRET


# -- the cycle -------------------------------------------------------------------------------------------


def _robots_toml(entries: list[dict[str, Any]]) -> str:
    out = []
    for e in entries:
        out.append("\n[[robots]]")
        for k, v in e.items():
            out.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
    return "\n".join(out) + "\n"


@pytest.fixture
def with_robots(home, monkeypatch, platforms):
    """The fresh home with the 2022 notice and directory and the robots given, pointed at the loopback."""

    def make(robots: list[tuple[str, str, dict[str, Any]]]):
        entries = []
        for n, (platform, token, extra) in enumerate(robots):
            monkeypatch.setenv(f"DUBAN_ROBOT_{n}_URL", platforms.url(platform, token))
            entry = {"platform": platform, "name": f"群{n}", "url_env": f"DUBAN_ROBOT_{n}_URL", **extra}
            if platform != "wecom":
                monkeypatch.setenv(f"DUBAN_ROBOT_{n}_SECRET", SECRET)
                entry["secret_env"] = f"DUBAN_ROBOT_{n}_SECRET"
            entries.append(entry)
        cfg = home.home / "duban.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + _robots_toml(entries), encoding="utf-8")
        settings = load_settings(home.home)
        engine = open_registry(settings.database_url)
        for name in ("notice-2022.docx", "directory-2022.xlsx"):
            import_file(settings, engine, EXAMPLES / name)
        return settings, engine

    return make


def _posts(engine) -> list[RobotPost]:
    with atomic(engine) as s:
        rows = list(s.scalars(select(RobotPost).order_by(RobotPost.id)))
        s.expunge_all()
    return rows


def _sent(engine) -> Counter[str]:
    with atomic(engine) as s:
        return Counter(f"{d.kind}:{d.state}" for d in s.scalars(select(Dispatch)))


def test_a_real_tick_sends_the_forms_then_tells_every_robot(with_robots, platforms):
    """
    GIVEN a bureau group on DingTalk (all offices), an office group on WeCom (基财股 only, markdown) and a
          Feishu group, all signed where the platform signs
    WHEN  the cycle ticks on the send day, the reminder day and the day after the due date
    THEN  the forms go out by mail and each robot hears of them once, in the platform's exact format; the
          office group hears only of its own office; reminders and escalations follow, with the days late
    """
    settings, engine = with_robots(
        [
            ("dingtalk", "tick-bureau", {"all": True}),
            ("wecom", "tick-office", {"offices": ["基财股"], "format": "markdown"}),
            ("feishu", "tick-feishu", {"all": True, "events": ["forms"]}),
        ]
    )
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        assert _sent(engine)["form:sent"] == 10
        (bureau,) = platforms.to("tick-bureau")
        assert bureau.problems == []
        assert bureau.body["text"]["content"].startswith(
            "【督办】2022年6月进展情况表已发至10个牵头股室，截止6月20日（星期一）"
        )
        (office,) = platforms.to("tick-office")
        assert office.problems == [] and office.body["msgtype"] == "markdown"
        assert (
            "基财股" in office.body["markdown"]["content"]
            and "人事股" not in office.body["markdown"]["content"]
        )
        (feishu,) = platforms.to("tick-feishu")
        assert feishu.problems == [] and "已发至10个牵头股室" in feishu.body["content"]["text"]

        run_once(settings, engine, t, at(10, 15))  # nothing new: nobody hears anything twice
        assert len(platforms.to("tick-bureau")) == 1 and len(platforms.to("tick-office")) == 1

        run_once(settings, engine, t, at(15))
        reminder = platforms.to("tick-bureau")[-1]
        assert reminder.problems == []
        assert reminder.body["text"]["content"].startswith(
            "【督办】2022年6月进展情况表6月20日（星期一）截止，尚有10个股室未报送"
        )
        assert "基财股" in reminder.body["text"]["content"]

        run_once(settings, engine, t, at(22))
        escalation = platforms.to("tick-bureau")[-1]
        assert escalation.problems == []
        assert escalation.body["text"]["content"].startswith("【督办】2022年6月进展情况表逾期未报：10个股室")
        assert "基财股（逾期2天）" in escalation.body["text"]["content"]
    assert len(platforms.to("tick-feishu")) == 1  # subscribed to forms only
    assert [p.state for p in _posts(engine)] == ["posted"] * len(_posts(engine))
    assert Counter(p.event for p in _posts(engine)) == {"forms": 3, "reminders": 2, "escalations": 2}


def test_failing_webhooks_never_block_or_repeat_mail(with_robots, platforms, monkeypatch):
    """
    GIVEN four robots: one whose port refuses connections, one answering HTTP 500, one answering errcode
          310000, and one that works
    WHEN  the cycle sends the forms and then ticks on, later and later
    THEN  every form is sent once; the working robot posts once and never again; each failing post is
          recorded in Chinese, retried after its wait, given up after MAX_ATTEMPTS, and shown by `duban
          check` and `duban status`
    """
    platforms.fail.update({"fail-500": "500", "fail-refuse": "refuse"})
    settings, engine = with_robots(
        [
            ("wecom", "unused", {"all": True}),
            ("dingtalk", "fail-500", {"all": True}),
            ("dingtalk", "fail-refuse", {"all": True}),
            ("feishu", "fail-ok", {"all": True}),
        ]
    )
    monkeypatch.setenv(
        "DUBAN_ROBOT_0_URL", f"http://127.0.0.1:{_closed_port()}/cgi-bin/webhook/send?key={WECOM_KEY}"
    )
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        after_first = _sent(engine)
        assert after_first["form:sent"] == 10
        by_robot = {p.robot: p for p in _posts(engine)}
        assert by_robot["群3"].state == RobotPostState.POSTED
        assert by_robot["群0"].state == RobotPostState.FAILED and "无法连接" in by_robot["群0"].error
        assert WECOM_KEY not in by_robot["群0"].error
        assert by_robot["群1"].error.startswith("HTTP 500")
        assert "310000" in by_robot["群2"].error and "加签密钥不对" in by_robot["群2"].error
        run_once(settings, engine, t, at(10, 9, 2))  # within the first wait: not tried again
        assert {p.robot: p.attempts for p in _posts(engine)} == {"群0": 1, "群1": 1, "群2": 1, "群3": 1}
        for hour in range(11, 11 + 2 * MAX_ATTEMPTS):  # the waits add up to under 9 hours
            run_once(settings, engine, t, at(10 + hour // 24, hour % 24))
        assert _sent(engine) == after_first  # no mail repeated, none held back
    final = {p.robot: p for p in _posts(engine)}
    assert {r: (p.state, p.attempts) for r, p in final.items()} == {
        "群0": ("gave_up", MAX_ATTEMPTS),
        "群1": ("gave_up", MAX_ATTEMPTS),
        "群2": ("gave_up", MAX_ATTEMPTS),
        "群3": ("posted", 1),
    }
    assert len(platforms.to("fail-ok")) == 1
    assert len(platforms.to("fail-500")) == MAX_ATTEMPTS
    problems = [p.message for p in run_checks(settings, engine, mail=False)]
    assert any(
        m.startswith("钉钉机器人“群2”：“【督办】2022年6月进展情况表已发至10个牵头股室") and "已放弃" in m
        for m in problems
    )
    with atomic(engine) as s:
        (line,) = robot_lines(settings, s)
    assert line.startswith("群机器人消息 3 条未能发出")


def test_dingtalk_posts_keep_under_20_a_minute(with_robots, platforms):
    settings, engine = with_robots([("dingtalk", "rate", {"all": True})])
    with atomic(engine) as s:
        for n in range(25):
            s.add(RobotPost(key=f"k{n}", robot="群0", platform="dingtalk", event="forms", title=f"第{n}条",
                            text=f"第{n}条", markdown=f"第{n}条", state="pending", attempts=0, error=""))  # fmt: skip
    clock = [1000.0]
    limiter = RateLimiter(clock=lambda: clock[0])
    report = post_pending(settings, engine, limiter=limiter)
    assert (report.posted, report.deferred) == (20, 5)
    clock[0] += 61
    assert post_pending(settings, engine, limiter=limiter).posted == 5
    assert [h.body["text"]["content"] for h in platforms.to("rate")] == [f"第{n}条" for n in range(25)]


def test_an_interrupted_post_is_not_posted_again(with_robots, platforms):
    settings, engine = with_robots([("wecom", "interrupted", {"all": True})])
    with atomic(engine) as s:
        s.add(RobotPost(key="k", robot="群0", platform="wecom", event="forms", title="t", text="t", markdown="t",
                        state="posting", attempts=1, error=""))  # fmt: skip
    post_pending(settings, engine)
    (row,) = _posts(engine)
    assert row.state == "uncertain" and platforms.to("interrupted") == []
    assert any("不确定是否已发出" in p.message for p in run_checks(settings, engine, mail=False))


def test_a_broken_robot_template_is_named_by_check_and_does_not_hold_the_mail(with_robots, platforms):
    settings, engine = with_robots([("wecom", "broken-template", {"all": True})])
    own = settings.templates / "robot"
    own.mkdir(parents=True, exist_ok=True)
    (own / "forms.txt").write_text("【督办】{{ month_lable }}表格已发出\n", encoding="utf-8")
    problems = [
        p for p in run_checks(settings, engine, mail=False) if "templates/robot/forms.txt" in p.message
    ]
    assert problems and problems[0].level == "error" and "month_lable" in problems[0].message
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    assert _sent(engine)["form:sent"] == 10
    assert _posts(engine) == [] and platforms.to("broken-template") == []


def test_publication_is_told_with_the_notices_title_and_date(with_robots, platforms):
    settings, engine = with_robots([("feishu", "published", {"all": True, "format": "markdown"})])
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    title = "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报"
    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        period.signed_off_at = at(30, 10)
        s.add(Document(kind="published", period_id=period.id, path=f"outbox/published/2022-06/{title}.docx",
                       pdf_path=f"outbox/published/2022-06/{title}.pdf"))  # fmt: skip
        s.add(Dispatch(key="published:2022-06", kind="published", period_id=period.id, message_id="<p@x>",
                       to_addrs=["a@x"], cc_addrs=[], subject="s", eml_path="x.eml", state="sent"))  # fmt: skip
        s.flush()
        assert tell_robots(s, settings, period, 0, ("published",)) == 1
        assert tell_robots(s, settings, period, 0, ("published",)) == 0  # once
    post_pending(settings, engine, now=at(30, 11))
    hit = platforms.to("published")[-1]
    assert hit.problems == []
    post = hit.body["content"]["post"]["zh_cn"]
    assert post["title"] == f"【督办】《{title}》已印发（2022年6月30日）"
    assert "Word 和 PDF 版" in post["content"][0][0]["text"]


def test_robot_messages_render_from_the_shipped_templates(home):
    from mailer.render.robottext import robot_template_problems

    assert robot_template_problems(home) == []


def test_no_robots_no_table_rows(home, engine):
    assert post_pending(home, engine).posted == 0
    with atomic(engine) as s:
        assert robot_lines(home, s) == []
    assert home.robots == ()  # the default duban.toml only shows an example, commented out


def test_the_clerks_guide_example_is_a_valid_robots_configuration():
    import re
    import tomllib

    guide = (Path(__file__).resolve().parent.parent / "docs" / "使用说明.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", guide, re.DOTALL) if "[[robots]]" in b]
    robots = parse_robots(tomllib.loads(block)["robots"])
    assert [(r.platform, r.all, r.offices) for r in robots] == [
        ("dingtalk", True, ()),
        ("wecom", False, ("基财股",)),
    ]


def test_duban_robots_test_and_list_and_the_status_line(with_robots, platforms):
    """
    GIVEN a working DingTalk robot and a WeCom robot whose key the platform refuses
    WHEN  the clerk runs `duban robots test`, then a tick posts the forms, then `duban robots list` and `status`
    THEN  the test says which robot worked and why the other did not (exit 1), the list shows both posts,
          and `duban status` carries one line about the failed post
    """
    from click.testing import CliRunner

    from mailer.cli import cli

    platforms.fail["cli-refused"] = "refuse"
    settings, engine = with_robots(
        [("dingtalk", "cli-ok", {"all": True}), ("wecom", "cli-refused", {"all": True})]
    )
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    result = runner.invoke(cli, [*home, "robots", "test"])
    assert result.exit_code == 1
    assert "钉钉机器人“群0”：已发出测试消息" in result.output
    assert "企业微信机器人“群1”：未能发出：HTTP 200，errcode 93000" in result.output
    (hit,) = platforms.to("cli-ok")
    assert hit.problems == [] and hit.body["text"]["content"].startswith("【督办】测试消息")
    assert runner.invoke(cli, [*home, "robots", "test", "群0"]).exit_code == 0
    assert "没有机器人“群9”" in runner.invoke(cli, [*home, "robots", "test", "群9"]).output
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    listed = runner.invoke(cli, [*home, "robots", "list"]).output
    assert "已发出  群0：【督办】2022年6月进展情况表已发至10个牵头股室" in listed
    assert "待重试  群1" in listed and "93000" in listed
    status = runner.invoke(cli, [*home, "status"]).output
    assert "群机器人消息 1 条未能发出或不确定是否发出" in status


def test_a_lost_answer_is_uncertain_and_never_posted_again(platforms):
    """A request that went out but got no answer may have been posted: not an ordinary failure."""
    platforms.fail["slow"] = "hang"
    with pytest.raises(webhook.RobotError) as e:
        webhook.post("wecom", platforms.url("wecom", "slow"), MSG, timeout=0.3)
    assert e.value.uncertain and "未收到应答" in str(e.value)
