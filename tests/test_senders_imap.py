"""Forged senders and mail loops over the real mail server (dovecot IMAP + LMTP, SMTP on loopback).

Messages are delivered over LMTP with the headers a receiving MX would have put on top (its
Authentication-Results and Received lines) and the envelope sender of whoever really sent them; dovecot adds
its own Return-Path and Received above. duban polls over IMAP and answers over SMTP.
"""

from __future__ import annotations

import dataclasses
import email.utils
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from test_cycle_imap import imap_home, inbox_of  # noqa: F401 - the fixture and a helper

from mailer.common.config import SenderSettings
from mailer.read.mailread import read_message
from mailer.registry.model import Approval, Dispatch, InboundMessage, Submission
from mailer.registry.store import atomic
from mailer.service.cycle import run_once
from mailer.service.demo import at, fill_form
from mailer.transport.base import open_transport

pytestmark = pytest.mark.imap
DOMAIN = "jyj.example.gov.cn"
MX = "mx.jyj.example.gov.cn"
BUREAU, JCG, LEADER = f"bgs@{DOMAIN}", f"jcg@{DOMAIN}", f"leader@{DOMAIN}"


def mx_headers(results: str, from_host: str) -> bytes:
    """What the bureau's MX writes on top: its results, then its Received line for the hop from the sender."""
    return (
        f"Authentication-Results: {MX};\r\n\t{results}\r\n"
        f"Received: from {from_host} ({from_host} [203.0.113.9])\r\n\tby {MX} (Postfix) with ESMTPS id 4LMx;"
        " Mon, 13 Jun 2022 10:00:01 +0800\r\n"
    ).encode()


def reply(original: bytes, sender: str, body: str, when, *, attachment=None, subject: str | None = None,
          extra: dict[str, str] | None = None) -> bytes:
    msg_in = read_message(original, max_attachment_bytes=10**8)
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, BUREAU
    msg["Subject"] = subject or "回复：" + msg_in.subject
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = email.utils.make_msgid(domain="example.net")
    msg["In-Reply-To"] = msg["References"] = msg_in.message_id
    for k, v in (extra or {}).items():
        msg[k] = v
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename=attachment[0])
    return bytes(msg)


def rows_from(s, address: str) -> list[InboundMessage]:
    """The messages taken in from ``address`` (not duban's own copies in its mailbox), oldest first."""
    return list(s.scalars(select(InboundMessage).where(InboundMessage.from_addr == address)
                          .order_by(InboundMessage.id)))


@pytest.fixture
def trusting(imap_home):  # noqa: F811 - the fixture imported above
    settings, engine = imap_home
    return dataclasses.replace(settings, senders=SenderSettings(trusted_authserv_ids=[MX])), engine


def test_a_forged_office_and_a_forged_leader_change_nothing_and_the_bureau_office_is_told(trusting, mail_servers):
    """
    GIVEN the June forms went out; the MX checks SPF/DKIM/DMARC and is trusted
    WHEN  someone else sends 基财股's filled form under jcg@'s From (SPF and DMARC fail at the MX; a forged
          "pass" below the MX's Received line), and later 同意 under the leader's From
    THEN  neither is a report nor an approval, nothing answers them, both are quarantined with the reason and
          the bureau office is told once each, naming who was claimed; the genuine form and 同意 still work
    """
    settings, engine = trusting
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        form_mail = inbox_of(mail_servers, JCG)[0]
        form = read_message(form_mail, max_attachment_bytes=10**8).attachments[0]
        filled = (form.filename, fill_form(form.data))

        forged = reply(form_mail, JCG, "局办公室：见附件。", at(13, 10), attachment=filled,
                       extra={"Authentication-Results": f"{MX}; spf=pass smtp.mailfrom={JCG}; dmarc=pass"})
        top = mx_headers(f"spf=fail smtp.mailfrom=attacker@evil.example.net; dkim=none;\r\n\tdmarc=fail "
                         f"header.from={DOMAIN}", "evil.example.net")
        mail_servers.deliver(top + forged, to=BUREAU, sender="attacker@evil.example.net")
        run_once(settings, engine, t, at(13, 11))
        with atomic(engine) as s:
            assert s.scalars(select(Submission)).all() == []
            [row] = rows_from(s, JCG)
            assert (row.kind, row.sender_verdict, row.flagged) == ("quarantined", "fail", True)
            assert "基财股" in row.outcome and "DMARC=fail" in row.outcome
            notices = list(s.scalars(select(Dispatch).where(Dispatch.kind == "quarantine_notice")))
            assert len(notices) == 1 and notices[0].to_addrs == [BUREAU] and notices[0].state == "sent"
        assert len(inbox_of(mail_servers, JCG)) == 1  # no receipt, no error answer to the address
        assert inbox_of(mail_servers, LEADER) == []  # no approval request
        told = [m for m in (read_message(r, max_attachment_bytes=10**8) for r in inbox_of(mail_servers, BUREAU))
                if m.subject.startswith("待人工处理")]
        assert len(told) == 1
        assert f"自称 基财股（{JCG}）" in told[0].text and f"duban inbox release {row.id}" in told[0].text

        genuine = reply(form_mail, JCG, "局办公室：见附件。", at(13, 14), attachment=filled)
        mail_servers.deliver(mx_headers(f"spf=pass smtp.mailfrom={JCG}; dkim=pass header.d={DOMAIN};\r\n\t"
                                        f"dmarc=pass header.from={DOMAIN}", MX.replace("mx", "mail")) + genuine,
                             to=BUREAU, sender=JCG)
        run_once(settings, engine, t, at(13, 15))
        with atomic(engine) as s:
            sub = s.scalars(select(Submission)).one()
            assert sub.state == "pending_approval"
            assert rows_from(s, JCG)[-1].sender_verdict == "pass"
        request = inbox_of(mail_servers, LEADER)[0]

        fake_ok = reply(request, LEADER, "同意。", at(14, 9))
        mail_servers.deliver(mx_headers("spf=softfail smtp.mailfrom=leader@jyj.example.gov.cn; dkim=none",
                                        "dyn-203-0-113-9.example.net") + fake_ok, to=BUREAU, sender=LEADER)
        run_once(settings, engine, t, at(14, 10))
        with atomic(engine) as s:
            assert s.scalars(select(Submission)).one().state == "pending_approval"
            assert s.scalars(select(Approval)).all() == []
            row = rows_from(s, LEADER)[-1]
            assert row.kind == "quarantined" and "SPF=softfail" in row.outcome and "leader@" in row.outcome
            assert len(list(s.scalars(select(Dispatch).where(Dispatch.kind == "quarantine_notice")))) == 2
        assert len(inbox_of(mail_servers, LEADER)) == 1  # no "not understood", nothing at all

        real_ok = reply(request, LEADER, "同意。", at(14, 11))
        mail_servers.deliver(mx_headers(f"spf=pass smtp.mailfrom={LEADER}; dkim=pass header.d={DOMAIN}",
                                        "mail.jyj.example.gov.cn") + real_ok, to=BUREAU, sender=LEADER)
        run_once(settings, engine, t, at(14, 12))
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "approved"


def test_an_unmarked_auto_responder_draws_at_most_the_daily_cap_of_answers(imap_home, mail_servers):  # noqa: F811
    """
    GIVEN 基财股's mailbox answers every mail it gets with "邮件已收到" (no Auto-Submitted, no 自动回复 subject)
    WHEN  duban polls 8 times that day
    THEN  it answers the address at most 3 times (answers_per_day), then quarantines the next mail and tells
          the bureau office once; without the cap it would have answered every time
    """
    settings, engine = imap_home
    answered: set[str] = set()

    def responder(hour: int) -> int:
        """The office's auto-responder: one reply to each mail from the bureau it has not answered yet."""
        n = 0
        for raw in inbox_of(mail_servers, JCG):
            m = read_message(raw, max_attachment_bytes=10**8)
            if m.message_id in answered:
                continue
            answered.add(m.message_id)
            mail_servers.deliver(reply(raw, JCG, "您好，邮件已收到，我会尽快处理。", at(13, hour)), to=BUREAU, sender=JCG)
            n += 1
        return n

    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        for hour in range(9, 17):  # 8 polls
            responder(hour)
            run_once(settings, engine, t, at(13, hour, 30))
    to_office = inbox_of(mail_servers, JCG)
    assert len(to_office) == 1 + 3  # the form, then three "no form attached" answers
    with atomic(engine) as s:
        rows = rows_from(s, JCG)
        assert [r.kind for r in rows] == ["invalid"] * 3 + ["quarantined"]
        assert "邮件回环" in rows[-1].outcome
        notices = list(s.scalars(select(Dispatch).where(Dispatch.kind == "quarantine_notice")))
        assert len(notices) == 1 and notices[0].key == f"loop_notice:{JCG}:2022-06-13"
        # Nothing the quarantined message would have done is kept: no fourth answer queued or on disk.
        assert len(list(s.scalars(select(Dispatch).where(Dispatch.kind == "error_reply")))) == 3
    queued = list((settings.outbox / "queue").glob("*.eml"))
    with atomic(engine) as s:
        assert len(queued) == len(list(s.scalars(select(Dispatch))))
