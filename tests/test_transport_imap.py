"""The IMAP + SMTP transport against a real dovecot and a real SMTP server on loopback (tests/mailserver.py):
SMTP → LMTP → Maildir → IMAP is the real path."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from mailserver import DOMAIN, MailServers, from_other_address

from mailer.common.config import Settings
from mailer.common.errors import LoginError, TransportError
from mailer.read.mailread import read_message
from mailer.render.compose import build_message, new_message_id
from mailer.transport import open_transport
from mailer.transport.imap_smtp import PROCESSED_FLAG, ImapSmtpTransport, move_by_copy

pytestmark = pytest.mark.imap

BGS, JCG = f"bgs@{DOMAIN}", f"jcg@{DOMAIN}"
FORM = "附件2：2022年1—6月重点工作任务进展情况表（基财股）.docx"
PROCESSED_UTF7 = b"&XfJZBHQG-"  # 已处理 in modified UTF-7, as it is on the server


@pytest.fixture
def servers(mail_servers: MailServers) -> Iterator[MailServers]:
    for user in (BGS, JCG):
        mail_servers.reset(user)
    yield mail_servers


def reply(settings: Settings, subject: str = "回复：[DB-2206-7KQ3MX2A] 请报送") -> tuple[str, bytes]:
    mid = new_message_id(settings)
    raw = build_message(
        settings, to=[BGS], subject=subject, text="局办公室：\n  附件请查收。\n", attachments=[(FORM, b"PK\x03\x04x")],
        message_id=mid, auto_submitted=False,
    )  # fmt: skip
    return mid, raw


def folder_uids(servers: MailServers, user: str, folder: str) -> list[int]:
    client = servers.imap_client(user)
    try:
        client.select_folder(folder, readonly=True)
        return list(client.search(["ALL"]))
    finally:
        client.logout()


def test_send_deliver_fetch_acknowledge(home: Settings, servers: MailServers) -> None:
    """GIVEN the office (jcg) and duban (bgs), each with the IMAP + SMTP transport
    WHEN  the office sends a reply with a Chinese-named .docx over SMTP (STARTTLS, AUTH)
    THEN  duban lists it, fetches it without marking it \\Seen, and acknowledging moves it from INBOX to
          已处理 (created, UTF-7 on the server); the office's copy in Sent answers was_sent"""
    office = servers.settings(home, user=JCG, sent_folder="Sent")
    duban = servers.settings(home, user=BGS, imap_security="ssl", smtp_security="starttls")
    mid, raw = reply(office)
    with open_transport(office) as t:
        assert t.was_sent(mid) is None  # no Sent copy proves nothing: SMTP may have taken it
        t.send(raw, sender=JCG, recipients=[BGS], message_id=mid)
        assert t.was_sent(mid) is True
        assert t.was_sent(new_message_id(office)) is None

    with open_transport(duban) as t:
        assert t.source == f"imap:127.0.0.1:{servers.imaps_port}/INBOX"
        uids = t.list_new()
        assert len(uids) == 1
        assert isinstance(t.uidvalidity, int) and t.uidvalidity > 0
        fetched = t.fetch(uids[0])
        m = read_message(fetched, max_attachment_bytes=10**6)
        assert m.message_id == mid and m.subject == "回复：[DB-2206-7KQ3MX2A] 请报送"
        assert [a.filename for a in m.attachments] == [FORM]
        client = servers.imap_client(BGS)
        client.select_folder("INBOX", readonly=True)
        assert b"\\Seen" not in client.get_flags([int(uids[0])])[int(uids[0])]
        client.logout()

        t.acknowledge(uids[0])
        assert t.list_new() == []
        t.acknowledge(uids[0])  # idempotent: the uid is gone, nothing happens

    assert folder_uids(servers, BGS, "INBOX") == []
    assert len(folder_uids(servers, BGS, "已处理")) == 1
    client = servers.imap_client(BGS)
    client.folder_encode = False  # look at the raw, encoded name on the server
    assert PROCESSED_UTF7 in [name for _, _, name in client.list_folders()]
    client.logout()


def test_starttls_imap_and_ssl_smtp_and_check(home: Settings, servers: MailServers) -> None:
    settings = servers.settings(home, user=BGS, imap_security="starttls", smtp_security="ssl")
    with open_transport(settings) as t:
        text = t.check()
        assert f"IMAP 127.0.0.1:{servers.imap_port} (starttls) as {BGS}" in text
        assert "IDLE yes" in text and "MOVE" in text
        assert f"SMTP 127.0.0.1:{servers.smtps_port} (ssl) as {BGS}: OK" in text
        mid, raw = reply(settings, subject="自己发给自己")
        t.send(raw, sender=BGS, recipients=[BGS], message_id=mid)
        assert t.was_sent(mid) is None  # no sent_folder configured: cannot tell
        deadline = time.monotonic() + 10
        while not t.list_new() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(t.list_new()) == 1


def test_acknowledge_without_move(home: Settings, mail_servers: MailServers) -> None:
    """GIVEN a dovecot that does not offer MOVE (imap_capability without it)
    WHEN  a message is acknowledged
    THEN  COPY + \\Deleted + UID EXPUNGE moves it all the same"""
    with MailServers.start(disable_move=True) as servers:
        client = servers.imap_client(BGS)
        assert not client.has_capability("MOVE") and client.has_capability("UIDPLUS")
        client.logout()
        servers.deliver(reply(home)[1], to=BGS)
        with open_transport(servers.settings(home, user=BGS)) as t:
            [uid] = t.list_new()
            t.acknowledge(uid)
            assert t.list_new() == []
            assert "COPY + EXPUNGE" in t.check()
        assert folder_uids(servers, BGS, "INBOX") == []
        assert len(folder_uids(servers, BGS, "已处理")) == 1


def test_move_by_copy_without_uidplus_leaves_the_message_flagged(
    home: Settings, servers: MailServers
) -> None:
    servers.deliver(reply(home)[1], to=BGS)
    client = servers.imap_client(BGS)
    client.create_folder("已处理")
    client.select_folder("INBOX")
    [uid] = client.search(["ALL"])
    move_by_copy(client, uid, "已处理", uidplus=False)
    assert b"\\Deleted" in client.get_flags([uid])[uid]  # not expunged: other deleted mail stays untouched
    client.logout()
    with open_transport(servers.settings(home, user=BGS)) as t:
        assert t.list_new() == []  # deleted messages are not new
    assert len(folder_uids(servers, BGS, "已处理")) == 1


def test_flag_mode_when_there_is_no_processed_folder(home: Settings, servers: MailServers) -> None:
    servers.deliver(reply(home)[1], to=BGS)
    with open_transport(servers.settings(home, user=BGS, processed_folder="")) as t:
        [uid] = t.list_new()
        t.acknowledge(uid)
        assert t.list_new() == []
    client = servers.imap_client(BGS)
    client.select_folder("INBOX", readonly=True)
    flags = client.get_flags([int(uid)])[int(uid)]
    client.logout()
    assert PROCESSED_FLAG.encode() in flags and b"\\Seen" not in flags


def test_idle_wakes_on_delivery(home: Settings, servers: MailServers) -> None:
    with open_transport(servers.settings(home, user=BGS)) as t:
        assert t.list_new() == []
        start = time.monotonic()
        assert t.wait(0.5) is False
        assert time.monotonic() - start < 3
        timer = threading.Timer(0.5, servers.deliver, (reply(home)[1],), {"to": BGS})
        timer.start()
        start = time.monotonic()
        assert t.wait(20) is True
        assert time.monotonic() - start < 3.5
        timer.join()
        assert len(t.list_new()) == 1
        # something that came between list_new() and wait() is reported at once
        servers.deliver(reply(home)[1], to=BGS)
        start = time.monotonic()
        assert t.wait(20) is True and time.monotonic() - start < 1


def test_bad_imap_password_is_a_login_error_quickly(home: Settings, servers: MailServers) -> None:
    settings = servers.settings(home, user=BGS, password="wrong-password-123")
    start = time.monotonic()
    with from_other_address(), pytest.raises(LoginError) as info, open_transport(settings) as t:
        t.list_new()
    assert time.monotonic() - start < 10  # dovecot delays failed logins by 2 s; no retries on our side
    message = str(info.value)
    assert "127.0.0.1" in message and BGS in message and "wrong-password-123" not in message


def test_bad_smtp_password_is_a_login_error(home: Settings, servers: MailServers) -> None:
    settings = servers.settings(home, user=JCG)
    smtp = settings.mail.smtp.__class__(**{**settings.mail.smtp.__dict__, "password": "nope-456"})
    import dataclasses

    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, smtp=smtp))
    mid, raw = reply(settings)
    expected = f"SMTP login to 127.0.0.1:{servers.smtp_port} as {JCG}"
    with pytest.raises(LoginError, match=expected) as info, open_transport(settings) as t:
        t.send(raw, sender=JCG, recipients=[BGS], message_id=mid)
    assert "nope-456" not in str(info.value)


def test_reconnects_once_after_a_dropped_connection(home: Settings, servers: MailServers) -> None:
    servers.deliver(reply(home)[1], to=BGS)
    with open_transport(servers.settings(home, user=BGS)) as t:
        assert isinstance(t, ImapSmtpTransport)
        [uid] = t.list_new()
        validity = t.uidvalidity
        assert t._client is not None
        t._client._imap.sock.close()  # the server (or a NAT box) dropped the connection
        assert t.list_new() == [uid] and t.uidvalidity == validity
        assert read_message(t.fetch(uid), max_attachment_bytes=10**6).subject


def test_fetching_a_vanished_uid_is_a_transport_error(home: Settings, servers: MailServers) -> None:
    with open_transport(servers.settings(home, user=BGS)) as t:
        t.list_new()
        with pytest.raises(TransportError, match="no longer"):
            t.fetch("4242")
        with pytest.raises(TransportError, match="not an IMAP uid"):
            t.fetch("abc")


def test_unreachable_server_is_a_transport_error(home: Settings, servers: MailServers) -> None:
    import dataclasses

    from mailserver import free_port

    settings = servers.settings(home, user=BGS)
    imap = dataclasses.replace(settings.mail.imap, port=free_port())
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, imap=imap))
    with (
        pytest.raises(TransportError, match="Cannot connect to the IMAP server"),
        open_transport(settings) as t,
    ):
        t.list_new()


def test_processed_folder_deleted_meanwhile_is_made_again(home: Settings, servers: MailServers) -> None:
    with open_transport(servers.settings(home, user=BGS)) as t:
        servers.deliver(reply(home)[1], to=BGS)
        [first] = t.list_new()
        t.acknowledge(first)
        client = servers.imap_client(BGS)
        client.delete_folder("已处理")  # a colleague tidies up the mailbox
        client.logout()
        servers.deliver(reply(home)[1], to=BGS)
        [second] = t.list_new()
        t.acknowledge(second)
        assert t.list_new() == []
    assert len(folder_uids(servers, BGS, "已处理")) == 1


def test_no_second_copy_when_the_server_keeps_sent_mail_itself(home: Settings, servers: MailServers) -> None:
    settings = servers.settings(home, user=JCG, sent_folder="Sent")
    mid, raw = reply(settings)
    client = servers.imap_client(JCG)
    client.create_folder("Sent")
    client.append("Sent", raw)  # as a server that saves SMTP-submitted mail would
    client.logout()
    with open_transport(settings) as t:
        t.send(raw, sender=JCG, recipients=[BGS], message_id=mid)
        assert t.was_sent(mid) is True
    assert len(folder_uids(servers, JCG, "Sent")) == 1


def test_uidvalidity_change_neither_loses_nor_repeats(home: Settings, servers: MailServers) -> None:
    """GIVEN a folder whose UIDVALIDITY changes (deleted and re-created by an admin, mail restored)
    WHEN  the transport lists it again
    THEN  it sees exactly the unacknowledged mail under the new uids; old uids are refused, not misapplied"""
    folder = "督办收件"
    first, second = reply(home, subject="first")[1], reply(home, subject="second")[1]
    admin = servers.imap_client(BGS)
    admin.create_folder(folder)
    admin.append(folder, first)
    admin.append(folder, second)
    with open_transport(servers.settings(home, user=BGS, folder=folder)) as t:
        assert isinstance(t, ImapSmtpTransport)
        old = t.list_new()
        validity = t.uidvalidity
        t.acknowledge(old[0])  # "first" is done
        admin.delete_folder(folder)
        admin.create_folder(folder)
        admin.append(folder, second)  # restored from a backup: same mail, new uids
        admin.logout()
        t._drop_connection()  # the next call reconnects, as after a dropped connection
        with pytest.raises(TransportError, match="UIDVALIDITY"):
            t.fetch(old[1])  # an old uid under the new UIDVALIDITY could be another message: refused
        new = t.list_new()
        assert t.uidvalidity != validity
        assert [read_message(t.fetch(u), max_attachment_bytes=10**6).subject for u in new] == ["second"]


def test_without_dovecot_the_tests_skip_except_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import mailserver

    monkeypatch.setattr(mailserver, "DOVECOT", "/nonexistent/dovecot")
    reason = mailserver.dovecot_available()
    assert reason is not None and "dovecot is not installed" in reason
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        mailserver._skip_or_fail(reason)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        mailserver._skip_or_fail(reason)
