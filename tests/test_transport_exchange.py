"""The Exchange transport against recorded EWS responses (tests/samples/ews/) served on loopback.

The endpoint answers each SOAP operation with a recorded response and records every request, so the tests
check what the transport asked for: the sorted, id-only FindItem; GetItem for MimeContent; MoveItem into
已处理; CreateItem with the raw MIME, SendAndSaveCopy into Sent Items; no autodiscover; no retries on 401.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from mailserver import EWS_INBOX_ITEMS, EWS_PROCESSED_FOLDER, EwsServer

from mailer.common.config import Settings
from mailer.common.errors import LoginError, TransportError
from mailer.render.compose import build_message, new_message_id
from mailer.transport import open_transport
from mailer.transport.exchange import ExchangeTransport

FIRST = (
    b"From: jcg@jyj.example.gov.cn\r\nSubject: =?utf-8?b?5ZCM5oSP?=\r\nMessage-ID: <r1@jyj>\r\n\r\nfirst\r\n"
)
SECOND = b"From: leader@jyj.example.gov.cn\r\nSubject: second\r\nMessage-ID: <r2@jyj>\r\n\r\nsecond\r\n"


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer(mime={EWS_INBOX_ITEMS[0]: FIRST, EWS_INBOX_ITEMS[1]: SECOND})
    with server.start():
        yield server


def test_poll_fetch_acknowledge(home: Settings, ews: EwsServer) -> None:
    """GIVEN an inbox holding two replies
    WHEN  the transport lists, fetches and acknowledges them
    THEN  FindItem is sorted by DateTimeReceived and asks for ids only; GetItem asks for MimeContent only;
          MoveItem targets the 已处理 folder found under the inbox; a moved item is not listed again"""
    with open_transport(ews.settings(home)) as t:
        assert isinstance(t, ExchangeTransport)
        assert t.source == "ews:bgs@jyj.example.gov.cn" and t.uidvalidity is None
        assert t.list_new() == list(EWS_INBOX_ITEMS)
        find = ews.last("FindItem").body
        assert '<t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:DateTimeReceived"/>' in find
        assert "<t:BaseShape>IdOnly</t:BaseShape>" in find and 'DistinguishedFolderId Id="inbox"' in find
        assert "IsRead" not in find  # read/unread is people's business; moved items simply leave
        assert "GetItem" not in ews.operations()  # listing fetches no bodies

        assert t.fetch(EWS_INBOX_ITEMS[0]) == FIRST
        get = ews.last("GetItem").body
        assert '<t:FieldURI FieldURI="item:MimeContent"/>' in get and f'Id="{EWS_INBOX_ITEMS[0]}"' in get

        t.acknowledge(EWS_INBOX_ITEMS[0])
        find_folder = ews.last("FindFolder").body
        assert '<t:Constant Value="已处理"/>' in find_folder and 'Traversal="Shallow"' in find_folder
        move = ews.last("MoveItem").body
        assert f'<m:ToFolderId><t:FolderId Id="{EWS_PROCESSED_FOLDER}"' in move
        assert f'<t:ItemId Id="{EWS_INBOX_ITEMS[0]}"/>' in move
        assert t.list_new() == [EWS_INBOX_ITEMS[1]]
        t.acknowledge(EWS_INBOX_ITEMS[0])  # again: ErrorItemNotFound means it was moved before
        assert ews.operations().count("FindFolder") == 1  # the folder is looked up once
    assert all(r.path == "/EWS/Exchange.asmx" for r in ews.requests)  # the configured endpoint, nothing else
    assert "ResolveNames" not in ews.operations()


def test_processed_folder_is_created_when_missing(home: Settings, ews: EwsServer) -> None:
    ews.processed_exists = False
    with open_transport(ews.settings(home)) as t:
        t.acknowledge(EWS_INBOX_ITEMS[1])
    create = ews.last("CreateFolder").body
    assert "<t:DisplayName>已处理</t:DisplayName>" in create
    assert '<m:ParentFolderId><t:DistinguishedFolderId Id="inbox">' in create  # directly under the inbox
    assert "GetFolder" not in ews.operations()[2:]  # no walk over the whole folder tree
    assert ews.operations().index("CreateFolder") < ews.operations().index("MoveItem")


def test_fetching_a_vanished_item(home: Settings, ews: EwsServer) -> None:
    with pytest.raises(TransportError, match="ErrorItemNotFound"), open_transport(ews.settings(home)) as t:
        t.fetch("AAMkAGone=")


def test_send_and_was_sent(home: Settings, ews: EwsServer) -> None:
    """GIVEN a composed form mail
    WHEN  sent through Exchange
    THEN  CreateItem carries exactly our MIME, SendAndSaveCopy into Sent Items, and was_sent finds its
          Message-ID there (FindItem restricted on InternetMessageId)"""
    settings = ews.settings(home)
    mid = new_message_id(settings)
    raw = build_message(
        settings, to=["jcg@jyj.example.gov.cn"], subject="请报送", text="x", attachments=[("表.docx", b"PK")],
        message_id=mid,
    )  # fmt: skip
    with open_transport(settings) as t:
        t.send(raw, sender="bgs@jyj.example.gov.cn", recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
        create = ews.last("CreateItem").body
        assert 'MessageDisposition="SendAndSaveCopy"' in create
        assert '<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems">' in create
        assert "BccRecipients" not in create
        assert ews.sent == [raw]
        assert t.was_sent(mid) is True
        find = ews.last("FindItem").body
        assert '<t:FieldURI FieldURI="message:InternetMessageId"/>' in find
        assert 'DistinguishedFolderId Id="sentitems"' in find
        assert t.was_sent(new_message_id(settings)) is None  # Exchange may file the copy late


def test_recipients_outside_the_headers_go_as_bcc(home: Settings, ews: EwsServer) -> None:
    settings = ews.settings(home)
    mid = new_message_id(settings)
    raw = build_message(settings, to=["jcg@jyj.example.gov.cn"], subject="s", text="x", message_id=mid)
    with open_transport(settings) as t:
        t.send(raw, sender="bgs@jyj.example.gov.cn", recipients=["jcg@jyj.example.gov.cn", "audit@jyj.example.gov.cn"],
               message_id=mid)  # fmt: skip
    create = ews.last("CreateItem").body
    assert "<t:BccRecipients>" in create and "audit@jyj.example.gov.cn" in create
    assert base64.b64encode(raw).decode() in create


def test_wrong_password_fails_at_once(home: Settings, ews: EwsServer) -> None:
    """GIVEN a wrong password (and FaultTolerance configured for the real work)
    WHEN  the transport connects
    THEN  one request, one 401, a LoginError naming endpoint and user but not the password"""
    settings = ews.settings(home, password="wrong-pw-789", max_wait_s=300)
    start = time.monotonic()
    with pytest.raises(LoginError) as info, open_transport(settings) as t:
        t.list_new()
    assert time.monotonic() - start < 5
    assert len(ews.requests) == 1 and ews.requests[0].operation == "GetFolder"
    message = str(info.value)
    assert ews.url in message and "JYJ\\bgs" in message and "wrong-pw-789" not in message


def test_throttling_is_a_clear_transport_error(home: Settings, ews: EwsServer) -> None:
    with open_transport(ews.settings(home, max_wait_s=5)) as t:
        assert t.list_new()
        ews.busy = True
        start = time.monotonic()
        with pytest.raises(
            TransportError, match=r"throttling duban \(ErrorServerBusy\).*298 s.*max_wait_s = 5"
        ):
            t.list_new()
        assert time.monotonic() - start < 5


def test_unreachable_endpoint(home: Settings) -> None:
    from mailserver import free_port

    server = EwsServer()
    server.port = free_port()  # nothing listens there
    with (
        pytest.raises(TransportError, match="Cannot reach Exchange"),
        open_transport(server.settings(home)) as t,
    ):
        t.list_new()


def test_check_and_wait(home: Settings, ews: EwsServer) -> None:
    with open_transport(ews.settings(home)) as t:
        text = t.check()
        assert "basic" in text and "inbox holds 2 item(s)" in text and '"已处理"' in text
        start = time.monotonic()
        assert t.wait(0.2) is False and time.monotonic() - start >= 0.2


def test_configuration_errors(home: Settings, ews: EwsServer) -> None:
    import dataclasses

    settings = ews.settings(home)
    no_endpoint = dataclasses.replace(
        settings,
        mail=dataclasses.replace(
            settings.mail, exchange=dataclasses.replace(settings.mail.exchange, endpoint="")
        ),
    )
    with pytest.raises(TransportError, match="endpoint is not set"), open_transport(no_endpoint) as t:
        t.list_new()
    bad_version = dataclasses.replace(
        settings,
        mail=dataclasses.replace(settings.mail, exchange=dataclasses.replace(settings.mail.exchange,
                                                                             server_version="fifteen")),
    )  # fmt: skip
    with pytest.raises(TransportError, match="server_version"), open_transport(bad_version) as t:
        t.list_new()
    assert ews.requests == []
