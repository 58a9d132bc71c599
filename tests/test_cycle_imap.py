"""The cycle over a real mail server: duban's mailbox on dovecot (IMAP, SSL) and SMTP (STARTTLS) on loopback.

One office (基财股, jcg@), its leader (leader@) and the signer (signer@) answer by mail; duban sends over SMTP,
takes replies in over IMAP, acknowledges each only after its commit (moved to 已处理) and leaves its own copies
alone. Ends with the notice published.
"""

from __future__ import annotations

import email.utils
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import (
    InboundMessage,
    Office,
    Period,
    Person,
    Recipient,
    Submission,
    Task,
    TaskOffice,
)
from mailer.registry.store import atomic, open_registry
from mailer.service.cycle import run_once
from mailer.service.demo import EXAMPLES, at, fill_form
from mailer.transport.base import open_transport

pytestmark = pytest.mark.imap
DOMAIN = "jyj.example.gov.cn"


def inbox_of(servers, user: str) -> list[bytes]:
    client = servers.imap_client(user)
    try:
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        return [d[b"BODY[]"] for _, d in sorted(client.fetch(uids, ["BODY.PEEK[]"]).items())] if uids else []
    finally:
        client.logout()


def folder_count(servers, user: str, folder: str) -> int:
    client = servers.imap_client(user)
    try:
        if not client.folder_exists(folder):
            return 0
        return len(client.select_folder(folder, readonly=True) and client.search(["ALL"]))
    finally:
        client.logout()


def answer(servers, original: bytes, sender: str, body: str, when, attachment=None) -> None:
    """``sender`` replies from their client; their mail server delivers it to duban's mailbox."""
    msg_in = read_message(original, max_attachment_bytes=10**8)
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, f"bgs@{DOMAIN}"
    msg["Subject"] = "回复：" + msg_in.subject
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = email.utils.make_msgid(domain=DOMAIN)
    msg["In-Reply-To"] = msg_in.message_id
    msg["References"] = msg_in.message_id
    msg.set_content(f"{body}\n\n------------------ 原始邮件 ------------------\n发件人: \"局办公室\" <bgs@{DOMAIN}>\n"
                    f"主题: {msg_in.subject}\n\n" + "\n".join("> " + line for line in msg_in.text.splitlines()[:5]))
    if attachment:
        msg.add_attachment(attachment[1], maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename=attachment[0])
    servers.deliver(bytes(msg), to=f"bgs@{DOMAIN}", sender=sender)


@pytest.fixture
def imap_home(home, mail_servers):
    for user in mail_servers.users:
        mail_servers.reset(user)
    settings = mail_servers.settings(home, user=f"bgs@{DOMAIN}", sent_folder="Sent")
    engine = open_registry(settings.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    with atomic(engine) as s:
        jcg = s.scalars(select(Office).where(Office.name == "基财股")).one()
        for task in s.scalars(select(Task)):  # only 基财股's three tasks stay in this plan
            if not any(to.is_lead and to.office_id == jcg.id for to in s.scalars(
                    select(TaskOffice).where(TaskOffice.task_id == task.id))):
                task.removed = True
        assert jcg.leader is not None
        jcg.leader.email = f"leader@{DOMAIN}"
        s.scalars(select(Person).where(Person.is_signer.is_(True))).one().email = f"signer@{DOMAIN}"
        for r in s.scalars(select(Recipient)):
            s.delete(r)
    return settings, engine


def test_a_month_over_imap_and_smtp(imap_home, mail_servers):
    settings, engine = imap_home
    bureau = f"bgs@{DOMAIN}"
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        forms = inbox_of(mail_servers, f"jcg@{DOMAIN}")
        assert len(forms) == 1
        form = read_message(forms[0], max_attachment_bytes=10**8).attachments[0]
        assert form.filename == "2022年1—6月重点工作进展情况表-基财股.docx"

        answer(mail_servers, forms[0], f"jcg@{DOMAIN}", "局办公室：本月进展见附件。", at(13, 10),
               (form.filename, fill_form(form.data)))
        run_once(settings, engine, t, at(13, 11))
        with atomic(engine) as s:
            sub = s.scalars(select(Submission)).one()
            assert sub.state == "pending_approval"
            assert s.scalars(select(InboundMessage)).one().source.startswith("imap:")
        assert folder_count(mail_servers, bureau, "已处理") == 1
        requests = inbox_of(mail_servers, f"leader@{DOMAIN}")
        assert len(requests) == 1
        assert len(inbox_of(mail_servers, f"jcg@{DOMAIN}")) == 2  # the form and the receipt

        answer(mail_servers, requests[0], f"leader@{DOMAIN}", "同意。", at(14, 9))
        run_once(settings, engine, t, at(14, 10))
        with atomic(engine) as s:
            assert s.scalars(select(Submission)).one().state == "approved"
            assert s.scalars(select(Period)).one().state == "awaiting_signoff"
        drafts = inbox_of(mail_servers, f"signer@{DOMAIN}")
        assert len(drafts) == 1
        assert any(a.filename.endswith("（第1稿）.docx")
                   for a in read_message(drafts[0], max_attachment_bytes=10**8).attachments)

        answer(mail_servers, drafts[0], f"signer@{DOMAIN}", "同意印发。", at(15, 9))
        run_once(settings, engine, t, at(15, 10))
        run_once(settings, engine, t, at(15, 11))
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "published"
        kinds = {m.kind for m in s.scalars(select(InboundMessage))}
    assert {"form", "decision", "signoff"} <= kinds
    # duban's own copies (cc to the bureau office) stay in the INBOX, untouched; answers were moved.
    assert folder_count(mail_servers, bureau, "已处理") == 3
    left = [read_message(r, max_attachment_bytes=10**8) for r in inbox_of(mail_servers, bureau)]
    assert left and all(m.is_ours for m in left)
    assert folder_count(mail_servers, bureau, "Sent") >= 6


def test_a_recipient_the_server_refuses_is_failed_at_once_and_reported(imap_home, mail_servers):
    """
    GIVEN an office whose registered address does not exist on the mail server
    WHEN  its form is sent
    THEN  the 5xx refusal fails that message at once (no retries), the ledger's events say so, and
          `duban check` lists it; the other office's form went out
    """
    from mailer.registry.model import Dispatch, Event
    from mailer.service.checks import check_outbox

    settings, engine = imap_home
    with atomic(engine) as s:
        jcg = s.scalars(select(Office).where(Office.name == "基财股")).one()
        jcg.addresses[0].email = f"nobody@{DOMAIN}"  # the address forms go to
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
        run_once(settings, engine, t, at(10, 10))
    with atomic(engine) as s:
        d = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).one()
        assert (d.state, d.attempts) == ("failed", 1)
        assert "nobody@" in d.error
        assert s.scalars(select(Event).where(Event.kind == "delivery_failed")).one()
    problems = check_outbox(engine)
    assert len(problems) == 1 and "nobody@" in problems[0].message


def test_the_service_takes_a_reply_in_within_seconds_through_idle(imap_home, mail_servers):
    """With a 10-minute poll interval only IMAP IDLE can wake the service: a reply delivered to duban's
    mailbox is in the registry within seconds, and the service stops promptly when asked."""
    import threading
    import time

    from mailer.service.daemon import Service

    settings, engine = imap_home
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    forms = inbox_of(mail_servers, f"jcg@{DOMAIN}")
    form = read_message(forms[0], max_attachment_bytes=10**8).attachments[0]
    svc = Service(settings, interval_s=600)
    svc.max_wait_s = 2.0
    thread = threading.Thread(target=svc.serve, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # the start-up run is done and the service is idling
        started = time.monotonic()
        answer(mail_servers, forms[0], f"jcg@{DOMAIN}", "见附件", at(13, 10), (form.filename, fill_form(form.data)))
        while time.monotonic() - started < 20:
            with atomic(engine) as s:
                if s.scalars(select(Submission)).first() is not None:
                    break
            time.sleep(0.1)
        took = time.monotonic() - started
    finally:
        svc.stop.set()
        stopping = time.monotonic()
        thread.join(timeout=30)
    assert took < 10, f"took {took:.1f}s"
    assert not thread.is_alive() and time.monotonic() - stopping < 5
