"""The Microsoft Graph transport against recorded Graph and Entra ID responses (tests/samples/graph/) served over
HTTPS on loopback by tests/graphserver.py.

The server records every request, so the tests check what the transport asked for: one token for many calls
(client credentials, the Graph scope), the inbox listing with $select/$orderby/$expand and its nextLink
followed, $value for the MIME, move into 已处理 (created when missing) only after the registry
committed, sendMail with the base64 MIME; throttling waited out as Retry-After says, one new token on 401,
and the clerk told in Chinese what to fix for a wrong tenant, secret, mailbox or missing permission.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import sqlite3
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from graphserver import CLIENT_SECRET, GRAPH_INBOX, MAILBOX, PROCESSED_FOLDER, TENANT, GraphServer
from sqlalchemy import select

from mailer.common.config import Settings
from mailer.common.errors import DeliveryRefused, LoginError, MessageTooLarge, SendUncertain, TransportError
from mailer.render.compose import build_message, new_message_id
from mailer.transport import open_transport
from mailer.transport.graph import GraphTransport

FIRST = b"From: jcg@jyj.example.gov.cn\r\nSubject: =?utf-8?b?5ZCM5oSP?=\r\nMessage-ID: <r1@jyj>\r\n\r\nfirst\r\n"
SECOND = b"From: leader@jyj.example.gov.cn\r\nSubject: second\r\nMessage-ID: <r2@jyj>\r\n\r\nsecond\r\n"
THIRD = b"From: signer@jyj.example.gov.cn\r\nSubject: third\r\nMessage-ID: <r3@jyj>\r\n\r\nthird \xe4\xb8\x89\r\n"
USER = f"/v1.0/users/{MAILBOX}"


@pytest.fixture(scope="module")
def server() -> Iterator[GraphServer]:
    s = GraphServer()
    with s.start():
        yield s


@pytest.fixture
def bare(tmp_path) -> Settings:
    """Settings alone: the transport needs no registry or templates (a full home costs 0.4 s a test)."""
    return Settings(home=tmp_path)


@pytest.fixture
def graph(server: GraphServer) -> GraphServer:
    server.reset({GRAPH_INBOX[0]: FIRST, GRAPH_INBOX[1]: SECOND, GRAPH_INBOX[2]: THIRD})
    return server


def test_poll_fetch_acknowledge(bare: Settings, graph: GraphServer) -> None:
    """GIVEN an inbox of three replies over two pages
    WHEN  the transport lists, fetches and acknowledges them
    THEN  one token (client credentials for the Graph scope) serves every call; the listing asks for ids, dates
          and sizes, oldest first, and follows @odata.nextLink; fetch is one GET of $value; acknowledge finds
          已处理 under the inbox once and moves into it; a moved message is not listed again"""
    with open_transport(graph.settings(bare)) as t:
        assert isinstance(t, GraphTransport)
        assert t.source == f"graph:{MAILBOX}" and t.uidvalidity is None
        assert t.list_new() == list(GRAPH_INBOX)
        first, second = graph.graph()
        assert first.method == "GET" and first.path == f"{USER}/mailFolders/inbox/messages"
        assert first.query == {
            "$select": "id,receivedDateTime",
            "$orderby": "receivedDateTime asc",
            "$top": "100",
            "$expand": "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')",
        }
        assert second.path == first.path and second.query["$skip"] == "2"  # the nextLink, as given
        assert all(r.headers["prefer"] == 'IdType="ImmutableId"' for r in graph.graph())
        assert all(r.headers["authorization"].startswith("Bearer eyJ") for r in graph.graph())

        assert t.fetch(GRAPH_INBOX[2]) == THIRD
        assert graph.calls()[-1] == f"GET /messages/{GRAPH_INBOX[2]}/$value"
        assert len(graph.graph()) == 3  # the size came with the listing: no extra request before $value

        t.acknowledge(GRAPH_INBOX[0])
        find, move = graph.graph()[-2:]
        assert (find.method, find.path) == ("GET", f"{USER}/mailFolders/inbox/childFolders")
        assert find.query == {"$filter": "displayName eq '已处理'", "$select": "id,displayName"}
        assert (move.method, move.path) == ("POST", f"{USER}/messages/{GRAPH_INBOX[0]}/move")
        assert json.loads(move.body) == {"destinationId": PROCESSED_FOLDER}
        assert t.list_new() == list(GRAPH_INBOX[1:])
        t.acknowledge(GRAPH_INBOX[0])  # again: 404 ErrorItemNotFound means it was moved before
        assert graph.calls().count("GET /mailFolders/inbox/childFolders") == 1
    tokens = graph.token_requests()
    assert len(tokens) == 1 and tokens[0].path == f"/{TENANT}/oauth2/v2.0/token"
    form = dict(pair.split("=", 1) for pair in tokens[0].text.split("&"))
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == f"https%3A%2F%2F127.0.0.1%3A{graph.port}%2F.default"
    assert graph.moved == [GRAPH_INBOX[0]]


def test_processed_folder_is_created_when_missing(bare: Settings, graph: GraphServer) -> None:
    graph.processed_exists = False
    with open_transport(graph.settings(bare)) as t:
        t.acknowledge(GRAPH_INBOX[1])
    calls = graph.calls()
    create = [r for r in graph.graph() if r.method == "POST" and r.path.endswith("/childFolders")]
    assert len(create) == 1 and json.loads(create[0].body) == {"displayName": "已处理"}
    assert create[0].path == f"{USER}/mailFolders/inbox/childFolders"  # directly under the inbox
    assert calls.index("POST /mailFolders/inbox/childFolders") < calls.index(f"POST /messages/{GRAPH_INBOX[1]}/move")
    assert graph.moved == [GRAPH_INBOX[1]]


def test_fetching_a_vanished_message(bare: Settings, graph: GraphServer) -> None:
    with pytest.raises(TransportError, match="ErrorItemNotFound"), open_transport(graph.settings(bare)) as t:
        t.fetch("AAkALgAAAAAAHYQDEapmEc2byACqAC-gone")


def test_an_oversize_message_is_not_downloaded(bare: Settings, graph: GraphServer) -> None:
    """Over mail.max_message_mb: only the headers are read (internetMessageHeaders), never $value."""
    graph.reset({GRAPH_INBOX[0]: FIRST + b"z" * 2 * 2**20})
    settings = graph.settings(bare)
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, max_message_mb=1.0))
    with open_transport(settings) as t:
        assert t.list_new() == [GRAPH_INBOX[0]]
        with pytest.raises(MessageTooLarge) as info:
            t.fetch(GRAPH_INBOX[0])
    assert info.value.size > 2 * 2**20
    assert b"Message-ID: <r1@jyj>" in info.value.headers
    assert graph.calls()[-1] == f"GET /messages/{GRAPH_INBOX[0]}"
    assert graph.graph()[-1].query == {"$select": "internetMessageHeaders"}
    assert not any(c.endswith("/$value") for c in graph.calls())


def _form_mail(settings: Settings, to: list[str]) -> tuple[bytes, str]:
    mid = new_message_id(settings)
    raw = build_message(
        settings, to=to, subject="请报送", text="x", attachments=[("表.docx", b"PK")], message_id=mid
    )
    return raw, mid


def test_send_and_was_sent(bare: Settings, graph: GraphServer) -> None:
    """GIVEN a composed form mail
    WHEN  sent through Graph
    THEN  sendMail carries exactly our MIME, base64, as text/plain (Graph keeps it in Sent Items), and was_sent
          finds its Message-ID in Sent Items ($filter on internetMessageId)"""
    settings = graph.settings(bare)
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    accepted: list[bool] = []
    with open_transport(settings) as t:
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid,
               on_accepted=lambda: accepted.append(True))  # fmt: skip
        send = graph.graph()[-1]
        assert (send.method, send.path) == ("POST", f"{USER}/sendMail")
        assert send.headers["content-type"] == "text/plain"
        assert send.body == base64.b64encode(raw)
        assert graph.sent == [raw] and accepted == [True]
        assert t.was_sent(mid) is True
        find = graph.graph()[-1]
        assert find.path == f"{USER}/mailFolders/sentitems/messages"
        assert find.query == {"$filter": f"internetMessageId eq '{mid}'", "$select": "id"}
        assert t.was_sent(new_message_id(settings)) is None  # Exchange may file the copy late


def test_recipients_outside_the_headers_go_as_bcc(bare: Settings, graph: GraphServer) -> None:
    settings = graph.settings(bare)
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    with open_transport(settings) as t:
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn", "audit@jyj.example.gov.cn"],
               message_id=mid)  # fmt: skip
    assert graph.sent == [b"Bcc: audit@jyj.example.gov.cn\r\n" + raw]


def test_a_message_over_the_sendmail_limit_is_refused_before_sending(bare: Settings, graph: GraphServer) -> None:
    settings = graph.settings(bare)
    mid = new_message_id(settings)
    raw = build_message(settings, to=["jcg@jyj.example.gov.cn"], subject="通报", text="x",
                        attachments=[("通报.pdf", bytes(range(256)) * 13_000)], message_id=mid)  # fmt: skip
    with pytest.raises(DeliveryRefused, match="超过 Microsoft Graph 单次发送 4 MB 的上限"), open_transport(settings) as t:
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
    assert graph.graph() == []


def test_throttling_is_waited_out_as_retry_after_says(bare: Settings, graph: GraphServer) -> None:
    """GIVEN Graph answering 429 (Retry-After: 1) to the listing and 503 (Retry-After: 1) to sendMail once
    WHEN  the transport lists and sends
    THEN  each request is made again after the second asked for, and succeeds; the message is sent once"""
    graph.then(r"GET .*/inbox/messages$", 429, "error_429_throttled.json", {"Retry-After": "1"})
    graph.then(r"POST .*/sendMail$", 503, "error_503_unavailable.json", {"Retry-After": "1"})
    settings = graph.settings(bare)
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    with open_transport(settings) as t:
        start = time.monotonic()
        assert t.list_new() == list(GRAPH_INBOX)
        assert time.monotonic() - start >= 1.0
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
    calls = graph.calls()
    assert calls.count("GET /mailFolders/inbox/messages") == 3  # page 1 twice, page 2 once
    assert calls.count("POST /sendMail") == 2 and graph.sent == [raw]


def test_throttling_longer_than_max_wait_is_a_clear_error(bare: Settings, graph: GraphServer) -> None:
    graph.then(r"GET .*/inbox/messages$", 429, "error_429_throttled.json", {"Retry-After": "298"})
    start = time.monotonic()
    with (
        pytest.raises(TransportError, match=r"正在限流（HTTP 429 ApplicationThrottled），要求等待 298 秒.*max_wait_s = 5"),
        open_transport(graph.settings(bare)) as t,
    ):
        t.list_new()
    assert time.monotonic() - start < 3


def test_an_expired_token_is_renewed_once(bare: Settings, graph: GraphServer) -> None:
    """GIVEN a token Graph stops accepting (401 InvalidAuthenticationToken) before msal thinks it expired
    WHEN  the next request is made
    THEN  the transport gets one new token and repeats the request; a second 401 is a LoginError, not a loop"""
    with open_transport(graph.settings(bare)) as t:
        t.list_new()
        graph.expire_tokens()
        assert t.fetch(GRAPH_INBOX[0]) == FIRST
        assert len(graph.token_requests()) == 2
        fetches = [r for r in graph.graph() if r.path.endswith("/$value")]
        assert len(fetches) == 2 and fetches[0].headers["authorization"] != fetches[1].headers["authorization"]

        graph.then(r"GET .*/\$value$", 401, "error_401_expired.json")
        graph.then(r"GET .*/\$value$", 401, "error_401_expired.json")
        with pytest.raises(LoginError, match="拒绝了新取得的访问令牌"):
            t.fetch(GRAPH_INBOX[0])
    assert len(graph.token_requests()) == 3


def test_the_token_is_kept_until_five_minutes_before_it_expires(bare: Settings, graph: GraphServer) -> None:
    """msal's cache: a token good for an hour serves every call; one with less than five minutes left is
    renewed before the next call, not after Graph refused it."""
    with open_transport(graph.settings(bare)) as t:
        for _ in range(3):
            t.list_new()
    assert len(graph.token_requests()) == 1
    graph.reset(graph.mime)
    graph.token_lifetime = 240
    with open_transport(graph.settings(bare)) as t:
        t.list_new()
        t.fetch(GRAPH_INBOX[0])
    assert len(graph.token_requests()) == 3  # one per request: the listing's two pages, then the fetch
    assert not any(r.headers.get("authorization") for r in graph.token_requests())


def test_missing_permission_is_explained(bare: Settings, graph: GraphServer) -> None:
    graph.then(r"GET .*/inbox/messages$", 403, "error_403_access_denied.json")
    with pytest.raises(LoginError) as info, open_transport(graph.settings(bare)) as t:
        t.list_new()
    text = str(info.value)
    assert "ErrorAccessDenied" in text and "Mail.ReadWrite" in text and "Mail.Send" in text
    assert "管理员同意" in text and "ApplicationAccessPolicy" in text


def test_sign_in_errors_name_what_to_fix(bare: Settings, graph: GraphServer) -> None:
    with pytest.raises(LoginError) as wrong_secret, open_transport(graph.settings(bare, client_secret="wrong~secret-77")) as t:
        t.list_new()
    text = str(wrong_secret.value)
    assert "客户端密码不正确" in text and "DUBAN_GRAPH_CLIENT_SECRET" in text and "AADSTS7000215" in text
    assert "wrong~secret-77" not in text and CLIENT_SECRET not in text

    with pytest.raises(LoginError, match=r"该租户中没有此应用.*AADSTS700016"), open_transport(
        graph.settings(bare, client_id="00000000-dead-beef-0000-000000000000")
    ) as t:
        t.list_new()

    with pytest.raises(LoginError, match="租户“contoso-typo”不存在或无法识别"), open_transport(
        graph.settings(bare, tenant_id="contoso-typo")
    ) as t:
        t.list_new()

    with pytest.raises(TransportError, match=r"找不到邮箱 nobody@jyj\.example\.gov\.cn.*ErrorInvalidUser"), open_transport(
        graph.settings(bare, mailbox="nobody@jyj.example.gov.cn")
    ) as t:
        t.list_new()
    assert graph.sent == [] and graph.moved == []


def test_missing_settings_ask_for_nothing(bare: Settings, graph: GraphServer) -> None:
    with pytest.raises(TransportError, match=r"缺少：mail\.graph\.tenant_id、环境变量 DUBAN_GRAPH_CLIENT_SECRET"), open_transport(
        graph.settings(bare, tenant_id="", client_secret="")
    ) as t:
        t.list_new()
    assert graph.requests == []


def test_a_cut_after_sendmail_is_uncertain_not_resent(bare: Settings, graph: GraphServer) -> None:
    """A connection reset after the sendMail request went out is SendUncertain (it may have gone), asked once;
    was_sent then finds it in Sent Items where Graph did take it. A refused connection is plainly not sent."""
    settings = graph.settings(bare)
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    with open_transport(settings) as t:
        t.list_new()  # signed in, connection pooled
        graph.cut_send = "lost"
        with pytest.raises(SendUncertain, match="可能已经发出"):
            t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
        assert graph.calls().count("POST /sendMail") == 1 and graph.sent == []
        assert t.was_sent(mid) is None
        graph.cut_send = "kept"
        with pytest.raises(SendUncertain):
            t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
        assert t.was_sent(mid) is True and graph.sent == [raw]

    from mailserver import free_port

    closed = graph.settings(bare, graph_url=f"https://127.0.0.1:{free_port()}/v1.0")
    with open_transport(closed) as t:
        with pytest.raises(TransportError) as info:
            t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
        assert not isinstance(info.value, SendUncertain) and "无法连接 Microsoft Graph" in str(info.value)


def test_check_and_wait(bare: Settings, graph: GraphServer) -> None:
    graph.processed_exists = False
    with open_transport(graph.settings(bare)) as t:
        text = t.check()
        assert "收件箱有 3 封邮件" in text and "“已处理”" in text and MAILBOX in text
        start = time.monotonic()
        assert t.wait(0.2) is False and time.monotonic() - start >= 0.2
    assert graph.calls()[0] == "GET /mailFolders/inbox"
    assert graph.processed_exists  # check makes the folder, so the first acknowledgement cannot fail on it


# -- a part of the cycle through Graph ---------------------------------------------------------------------


def test_a_form_arriving_through_graph_is_taken_in_and_moved_only_after_commit(home: Settings, graph: GraphServer):
    """GIVEN a plan and directory, duban on Microsoft 365 through Graph
    WHEN  the forms go out on the send day, 基财股 answers with its filled form, and duban polls
    THEN  the forms left through sendMail; the answer is parsed into a submission awaiting approval; and when
          Graph is asked to move it, the registry already holds it (committed first); the leader is asked"""
    from mailer.plan.importer import import_file
    from mailer.read.mailread import read_message
    from mailer.registry.model import InboundMessage, Submission
    from mailer.registry.store import atomic, open_registry
    from mailer.service.cycle import run_once
    from mailer.service.demo import EXAMPLES, at, fill_form

    graph.reset({})
    settings = graph.settings(home)
    engine = open_registry(settings.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        forms = [read_message(raw, max_attachment_bytes=10**8) for raw in graph.sent]
        (form_mail,) = [m for m in forms if "jcg@jyj.example.gov.cn" in m.to]
        form = form_mail.attachments[0]

        reply = EmailMessage()
        reply["From"], reply["To"] = "jcg@jyj.example.gov.cn", MAILBOX
        reply["Subject"] = "回复：" + form_mail.subject
        reply["Date"] = email.utils.format_datetime(at(13, 10))
        reply["Message-ID"] = "<jcg-reply-1@jyj.example.gov.cn>"
        reply["In-Reply-To"] = reply["References"] = form_mail.message_id
        reply.set_content("局办公室：本月进展见附件。")
        reply.add_attachment(fill_form(form.data), maintype="application",
                             subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                             filename=form.filename)  # fmt: skip
        graph.mime[GRAPH_INBOX[0]] = bytes(reply)
        registry = settings.database_url.removeprefix("sqlite:///")
        seen_at_move: list[int] = []

        def committed(uid: str) -> None:
            with sqlite3.connect(registry) as db:
                seen_at_move.append(db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0])

        graph.on_move = committed
        sent_before = len(graph.sent)
        run_once(settings, engine, t, at(13, 11))
    assert graph.moved == [GRAPH_INBOX[0]] and seen_at_move == [1]
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "pending_approval"
        row = s.scalars(select(InboundMessage)).one()
        assert row.source == f"graph:{MAILBOX}" and row.source_uid == GRAPH_INBOX[0] and row.kind == "form"
    later = [read_message(raw, max_attachment_bytes=10**8) for raw in graph.sent[sent_before:]]
    # The receipt to the office and the approval request to its supervising leader, both through sendMail.
    assert [m.subject.split("] ")[1][:4] for m in later] == ["已收到：", "请审核："]
    assert later[0].to == ["jcg@jyj.example.gov.cn"] and later[0].in_reply_to == "<jcg-reply-1@jyj.example.gov.cn>"


# -- duban setup mail / duban mail check -------------------------------------------------------------------


def _setup_args(home: Settings, graph: GraphServer, *extra: str) -> list[str]:
    from graphserver import CLIENT_ID

    return [
        "--home", str(home.home), "setup", "mail", "--transport", "graph", "--tenant-id", TENANT,
        "--client-id", CLIENT_ID, "--from-address", MAILBOX, "--authority", graph.base,
        "--graph-url", graph.base + "/v1.0", "--ca-file", str(graph.ca_file), *extra,
    ]  # fmt: skip


def test_setup_mail_gets_a_token_and_reads_the_inbox_then_writes_mail_graph(
    home: Settings, graph: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a new home and the client secret in DUBAN_GRAPH_CLIENT_SECRET
    WHEN  `duban setup mail --transport graph …` runs, then `duban mail check`
    THEN  a token is got and the inbox read (nothing sent), [mail.graph] is written without the secret, and
          the check describes the mailbox; with a wrong secret nothing is written and the clerk is told why"""
    from click.testing import CliRunner

    from mailer.cli import cli
    from mailer.common.config import load_settings

    before = (home.home / "duban.toml").read_bytes()
    monkeypatch.setenv("DUBAN_GRAPH_CLIENT_SECRET", "wrong~secret-77")
    result = CliRunner().invoke(cli, _setup_args(home, graph))
    assert result.exit_code == 1
    assert "登录测试失败，duban.toml 未作改动" in result.output and "客户端密码不正确" in result.output
    assert "DUBAN_GRAPH_CLIENT_SECRET" in result.output and "wrong~secret-77" not in result.output
    assert (home.home / "duban.toml").read_bytes() == before

    monkeypatch.setenv("DUBAN_GRAPH_CLIENT_SECRET", CLIENT_SECRET)
    result = CliRunner().invoke(cli, _setup_args(home, graph))
    assert result.exit_code == 0, result.output
    assert "登录测试通过：Microsoft 365" in result.output and "未发送任何邮件" in result.output
    assert "DUBAN_GRAPH_CLIENT_SECRET" in result.output
    assert graph.sent == [] and "GET /mailFolders/inbox" in graph.calls()
    text = (home.home / "duban.toml").read_text(encoding="utf-8")
    assert "[mail.graph]" in text and CLIENT_SECRET not in text
    mail = load_settings(home.home).mail
    assert (mail.transport, mail.graph.tenant_id, mail.graph.mailbox) == ("graph", TENANT, MAILBOX)
    assert mail.graph.graph_url == graph.base + "/v1.0" and mail.graph.client_secret == CLIENT_SECRET

    check = CliRunner().invoke(cli, ["--home", str(home.home), "mail", "check"])
    assert check.exit_code == 0, check.output
    assert "收件箱有 3 封邮件" in check.output


def test_the_secret_cannot_be_written_into_duban_toml(home: Settings) -> None:
    from mailer.common.config import load_settings
    from mailer.common.errors import ConfigError

    (home.home / "duban.toml").write_text('[mail.graph]\nclient_secret = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="DUBAN_GRAPH_CLIENT_SECRET"):
        load_settings(home.home)


def test_without_msal_the_clerk_is_told_which_extra_to_install(
    bare: Settings, graph: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from mailer.common.errors import ConfigError
    from mailer.transport.base import make_transport

    monkeypatch.setitem(sys.modules, "msal", None)  # what `import msal` meets where the extra is not installed
    with pytest.raises(ConfigError, match=r"需要 msal 软件包.*pip install 'duban\[graph\]'"):
        make_transport(graph.settings(bare))


def test_a_cut_sendmail_in_the_cycle_is_held_for_the_clerk_not_resent(home: Settings, graph: GraphServer) -> None:
    """GIVEN the forms due on the send day, and the connection cut after the first sendMail went out, unanswered
    WHEN  the tick sends them, and sending runs again
    THEN  the rest go out; the first is uncertain (Sent Items shows nothing: not proof either way) and no
          second sendMail is posted for it until the clerk decides"""
    from sqlalchemy import func

    from mailer.plan.importer import import_file
    from mailer.registry.model import Dispatch
    from mailer.registry.store import atomic, open_registry
    from mailer.service.cycle import tick
    from mailer.service.demo import EXAMPLES, at
    from mailer.service.outgoing import send_pending

    graph.reset({})
    settings = graph.settings(home)
    engine = open_registry(settings.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    graph.cut_send = "lost"
    with open_transport(settings) as t:
        sent = tick(settings, engine, t, at(10)).sent
        posts = graph.calls().count("POST /sendMail")
        assert send_pending(settings, engine, t) == 0
    assert posts == sent + 1 and len(graph.sent) == sent  # every form posted once; the cut one never arrived
    assert graph.calls().count("POST /sendMail") == posts  # nothing posted again
    assert "GET /mailFolders/sentitems/messages" in graph.calls()  # asked before calling it uncertain
    with atomic(engine) as s:
        states = dict(s.execute(select(Dispatch.state, func.count()).group_by(Dispatch.state)).all())
    assert states == {"sent": sent, "uncertain": 1}


def test_duban_check_reports_a_graph_mailbox_it_cannot_use(bare: Settings, graph: GraphServer) -> None:
    from mailer.service.checks import check_mail

    assert check_mail(graph.settings(bare)) == []
    (problem,) = check_mail(graph.settings(bare, client_secret="wrong~secret-77"))
    assert problem.level == "error" and problem.message.startswith("邮件服务器：Microsoft 365 登录失败：客户端密码不正确")


def test_an_untrusted_certificate_is_not_sent_and_names_ca_file(bare: Settings, graph: GraphServer) -> None:
    """The loopback certificate is not one the system trusts: without ca_file the sign-in fails in the TLS
    handshake, and a send whose handshake fails is plainly not sent (not uncertain)."""
    settings = graph.settings(bare, ca_file="")
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    with pytest.raises(TransportError) as info, open_transport(settings) as t:
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
    assert not isinstance(info.value, SendUncertain) and "CERTIFICATE_VERIFY_FAILED" in str(info.value)

    from mailer.transport.graph import GraphTransport as G

    t2 = G(graph.settings(bare))
    t2._token()  # signed in with the right CA; then Graph itself presents a certificate we do not trust
    t2._session._verify = True  # type: ignore[union-attr]
    with pytest.raises(TransportError) as info2:
        t2.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
    t2.close()
    assert not isinstance(info2.value, SendUncertain) and "mail.graph.ca_file" in str(info2.value)
    assert graph.sent == []


def test_graph_refusing_a_message_is_final(bare: Settings, graph: GraphServer) -> None:
    """413 from sendMail (Graph's own size check) is DeliveryRefused: sending it again cannot help."""
    graph.then(r"POST .*/sendMail$", 413, "error_413_too_large.json")
    settings = graph.settings(bare)
    raw, mid = _form_mail(settings, ["jcg@jyj.example.gov.cn"])
    with pytest.raises(DeliveryRefused, match=r"邮件过大.*RequestEntityTooLarge"), open_transport(settings) as t:
        t.send(raw, sender=MAILBOX, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
    assert graph.calls().count("POST /sendMail") == 1
