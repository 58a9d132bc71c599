"""Inputs the first real month brings: a reply dropped again under a file name used before, a Message-ID
reused for corrected content, and messages too large to read (folder and real IMAP)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mailserver import DOMAIN, MailServers
from sqlalchemy import select
from test_intake import counts, drop, fill_form, form_dispatch, mail, take, the_form

from mailer.common.config import Settings
from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import Dispatch, Event, InboundMessage, Submission
from mailer.registry.store import atomic, open_registry
from mailer.service.demo import EXAMPLES, at
from mailer.service.intake import poll, take_in
from mailer.transport.base import open_transport


@pytest.fixture
def sent(sent_home):
    home = sent_home
    """A home with the 2022 plan whose June forms were sent (as in test_intake)."""
    engine = open_registry(home.database_url)
    return home, engine


def processed(settings: Settings) -> list[Path]:
    return sorted((settings.inbox / "drop" / "processed").iterdir())


def test_a_new_file_under_a_name_used_before_is_taken_in(sent):
    """GIVEN a.eml left alone (unrelated), then a form reply dropped as a.eml, then a corrected one as a.eml
    WHEN  the drop folder is polled after each
    THEN  all three are recorded, two submissions made, and processed/ keeps both forms side by side"""
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "a.eml", mail("someone@example.org", "周末聚餐", "几点？"))
    assert take(settings, engine).taken == 1
    assert (settings.inbox / "drop" / "a.eml").exists()  # left alone, not ours to move
    drop(
        settings,
        "a.eml",
        mail(
            "jcg@jyj.example.gov.cn",
            "回复：" + d.subject,
            "见附件",
            in_reply_to=d.message_id,
            attachment=(name, fill_form(data)),
        ),
    )
    assert take(settings, engine).taken == 1
    drop(
        settings,
        "a.eml",
        mail(
            "jcg@jyj.example.gov.cn",
            "回复：" + d.subject,
            "更正后的表格",
            in_reply_to=d.message_id,
            attachment=(name, fill_form(data)),
        ),
    )
    report = take(settings, engine)
    assert (report.taken, report.duplicates) == (1, 0)
    with atomic(engine) as s:
        kinds = [m.kind for m in s.scalars(select(InboundMessage).order_by(InboundMessage.id))]
        assert kinds == ["unrelated", "form", "form"]
        assert sorted(s.scalars(select(Submission.revision))) == [1, 2]
    names = [p.name for p in processed(settings)]
    assert len(names) == 2 and all(n.startswith("a.") and n.endswith(".eml") for n in names)


def corrected(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new)


def test_a_message_id_reused_for_other_content_is_taken_in_and_flagged(sent):
    """GIVEN a form reply taken in, then the same Message-ID with a corrected body ("resend" from Sent),
          then the first message again delivered with an extra Received line
    WHEN  each is polled
    THEN  the corrected one becomes revision 2, flagged, with an event for the bureau office; the
          redelivered one is a recognised duplicate and changes nothing"""
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    first = mail(
        "jcg@jyj.example.gov.cn",
        "回复：" + d.subject,
        "见附件",
        in_reply_to=d.message_id,
        attachment=(name, fill_form(data)),
    )
    drop(settings, "1.eml", first)
    take(settings, engine)
    second = corrected(first, "见附件".encode(), "更正：见附件（第二版）".encode())
    drop(settings, "2.eml", second)
    report = take(settings, engine)
    assert (report.taken, report.duplicates) == (1, 0)
    with atomic(engine) as s:
        rows = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        assert [(r.kind, r.flagged) for r in rows] == [("form", False), ("form", True)]
        assert rows[0].message_id and rows[1].message_id is None
        assert f"与来信 #{rows[0].id} 的 Message-ID 相同而内容不同" in rows[1].outcome
        assert sorted(s.scalars(select(Submission.revision))) == [1, 2]
        [event] = s.scalars(select(Event).where(Event.kind == "message_id_reused"))
        assert f"来信 #{rows[1].id}" in event.detail
    before = counts(engine)
    drop(
        settings,
        "3.eml",
        b"Received: from relay2.example.org by mx; Mon, 13 Jun 2022 10:00:05 +0800\r\n" + first,
    )
    report = take(settings, engine)
    assert (report.taken, report.duplicates) == (0, 1)
    assert counts(engine) == before


def small_cap(settings: Settings, mb: float) -> Settings:
    return dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, max_message_mb=mb))


def big_reply(
    d: Dispatch, name: str, data: bytes, size: int, sender: str = "jcg@jyj.example.gov.cn"
) -> bytes:
    raw = mail(
        sender, "回复：" + d.subject, "见附件，另附照片", in_reply_to=d.message_id, attachment=(name, data)
    )
    return raw + b"\n" + b"x" * size  # padding after the last part: a big message, cheap to build


def test_an_oversize_message_in_the_drop_folder_is_recorded_and_answered(sent):
    """GIVEN a 2 MB reply from 基财股 and a 1 MB cap
    WHEN  the drop folder is polled (twice)
    THEN  only its headers are archived, it is recorded as oversize, answered in Chinese in the form's thread
          (the limit, the size, what to do), acknowledged; nothing else changes, and nothing twice"""
    settings, engine = sent
    settings = small_cap(settings, 1)
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "big.eml", big_reply(d, name, fill_form(data), 2 * 2**20))
    report = take(settings, engine)
    assert report.taken == 1 and "超过 1.0 MB 的上限" in report.outcomes[0]
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert (row.kind, row.from_addr, row.office_id is not None) == (
            "oversize",
            "jcg@jyj.example.gov.cn",
            True,
        )
        assert s.scalars(select(Submission)).all() == []
        [answer] = s.scalars(select(Dispatch).where(Dispatch.kind == "oversize_reply"))
        assert answer.to_addrs == ["jcg@jyj.example.gov.cn"]
        kept = settings.path(row.archive_path).read_bytes()
        eml = settings.path(answer.eml_path).read_bytes()
    assert len(kept) < 10_000 and b"Subject:" in kept and "只保留邮件头".encode() in kept
    reply = read_message(eml, max_attachment_bytes=10**6)
    assert reply.subject.startswith("[DB-") and "邮件过大未能接收" in reply.subject
    assert reply.in_reply_to == read_message(kept, max_attachment_bytes=0).message_id
    assert "超过督办系统接收邮件的上限 1.0 MB" in reply.text and "压缩图片" in reply.text
    assert not (settings.inbox / "drop" / "big.eml").exists() and len(processed(settings)) == 1
    before = counts(engine)
    drop(settings, "big-again.eml", (settings.inbox / "drop" / "processed").iterdir().__next__().read_bytes())
    assert take(settings, engine).duplicates == 1
    assert counts(engine) == before


def test_an_oversize_message_from_a_stranger_is_recorded_without_an_answer(sent):
    settings, engine = sent
    settings = small_cap(settings, 0.5)
    d = form_dispatch(engine, "基财股")
    raw = big_reply(d, "x.docx", b"PK", 2**20, sender="someone@example.org")
    row, new = take_in(settings, engine, raw, now=at(13, 12))  # given whole: cut to its headers all the same
    # Not duban's business: left in the mailbox for people, as any unrelated mail is.
    assert (
        new
        and row.kind == "unrelated"
        and row.outcome.startswith("邮件大小 1.0 MB")
        and "未回复" in row.outcome
    )
    with atomic(engine) as s:
        assert s.scalars(select(Dispatch).where(Dispatch.kind == "oversize_reply")).all() == []
    assert settings.path(row.archive_path).stat().st_size < 10_000


def test_an_oversize_file_is_never_read_into_memory(home, tmp_path):
    """GIVEN a 120 MB .eml from a stranger in the drop folder and a 1 MB cap
    WHEN  a separate process polls it, twice
    THEN  its peak memory grows by far less than the message's size; the message is recorded and left for
          people, and skipped by the second poll"""
    drop(home, "huge.eml", b"")
    path = home.inbox / "drop" / "huge.eml"
    with path.open("wb") as fh:
        fh.write(b"From: someone@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
        block = b"y" * 2**20
        for _ in range(120):
            fh.write(block)
    (home.home / "duban.toml").write_text("[mail]\nmax_message_mb = 1\n", encoding="utf-8")
    code = textwrap.dedent(f"""
        import json, resource
        from pathlib import Path
        from mailer.common.config import load_settings
        from mailer.service.intake import poll
        from mailer.registry.store import open_registry
        from mailer.transport.base import open_transport
        settings = load_settings(Path({str(home.home)!r}))
        engine = open_registry(settings.database_url)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open_transport(settings) as t:
            report = poll(settings, engine, t)
            again = poll(settings, engine, t)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps([report.taken, again.skipped, before, after]))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    taken, skipped, before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert (taken, skipped) == (1, 1)
    assert after - before < 50 * 1024  # KiB: well under the 120 MB of the message
    assert path.exists()


@pytest.mark.imap
def test_an_oversize_message_over_imap_is_not_downloaded(sent, mail_servers: MailServers):
    """GIVEN a 30 MB reply delivered to the bureau's real IMAP mailbox and a 5 MB cap
    WHEN  duban polls over IMAP
    THEN  it is recorded from its headers (RFC822.SIZE before BODY.PEEK[]), answered, and moved to 已处理"""
    settings, engine = sent
    bgs = f"bgs@{DOMAIN}"
    mail_servers.reset(bgs)
    imap = small_cap(mail_servers.settings(settings, user=bgs), 5)
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    mail_servers.deliver(big_reply(d, name, fill_form(data), 30 * 2**20), to=bgs)
    with open_transport(imap) as t:
        report = poll(imap, engine, t, now=at(13, 12))
        assert report.taken == 1
        assert t.list_new() == []
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.kind == "oversize" and "30.0 MB" in row.outcome
        assert len(s.scalars(select(Dispatch).where(Dispatch.kind == "oversize_reply")).all()) == 1
    assert settings.path(row.archive_path).stat().st_size < 20_000
    client = mail_servers.imap_client(bgs)
    try:
        client.select_folder("已处理", readonly=True)
        assert len(client.search(["ALL"])) == 1
    finally:
        client.logout()


def test_an_oversize_exchange_item_is_not_downloaded(home: Settings):
    """GIVEN an Exchange inbox (recorded EWS responses) holding a 2 MB reply and a small one, and a 1 MB cap
    WHEN  duban polls
    THEN  the big item from 基财股 is recorded from its size and headers (GetItem for item:Size, never its
          MimeContent), answered and moved to 已处理; the stranger's small one is left for people"""
    from mailserver import EWS_INBOX_ITEMS, EwsServer

    big = b"From: jcg@jyj.example.gov.cn\r\nSubject: big\r\nMessage-ID: <big@jyj>\r\n\r\n" + b"z" * 2 * 2**20
    small = b"From: someone@example.org\r\nSubject: hello\r\nMessage-ID: <small@x>\r\n\r\nhi\r\n"
    server = EwsServer(mime={EWS_INBOX_ITEMS[0]: big, EWS_INBOX_ITEMS[1]: small})
    with server.start():
        settings = small_cap(server.settings(home), 1)
        engine = open_registry(settings.database_url)
        import_file(settings, engine, EXAMPLES / "directory-2022.xlsx")
        with open_transport(settings) as t:
            report = poll(settings, engine, t, now=at(13, 12))
    assert report.taken == 2
    gets = [r.body for r in server.requests if r.operation == "GetItem"]
    asked_mime = [b for b in gets if "item:MimeContent" in b]
    assert all(EWS_INBOX_ITEMS[0] not in b for b in asked_mime) and len(asked_mime) == 1
    assert server.operations().count("MoveItem") == 1 and EWS_INBOX_ITEMS[0] in server.last("MoveItem").body
    with atomic(engine) as s:
        big_row = s.scalars(select(InboundMessage).where(InboundMessage.kind == "oversize")).one()
        assert (big_row.message_id, big_row.subject) == ("<big@jyj>", "big") and "2.0 MB" in big_row.outcome
        assert len(s.scalars(select(Dispatch).where(Dispatch.kind == "oversize_reply")).all()) == 1
