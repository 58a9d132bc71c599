"""Never sent twice without saying so: a send whose outcome is unknown becomes *uncertain* and waits for the
clerk; a kill at any point of sending never produces an unreported duplicate.

Real parts throughout: dovecot + aiosmtpd (one SMTP server that delivers and then cuts the connection instead
of answering DATA), the recorded-EWS endpoint cutting the connection after CreateItem, the folder transport,
and child processes killed with ``os._exit`` at the moment between the server's acceptance and the record.
Every test counts what was really delivered, and checks the dispatch state and the event recorded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from mailserver import EwsServer
from sqlalchemy import select

from mailer.cli import cli
from mailer.common.config import Settings, load_settings
from mailer.common.errors import ConfigError
from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import Dispatch, Event
from mailer.registry.store import atomic, close_all, open_registry
from mailer.render.compose import build_message, new_message_id, with_new_subject
from mailer.service.cycle import run_once, tick
from mailer.service.demo import EXAMPLES, at, fill_form
from mailer.service.outgoing import send_pending
from mailer.service.uncertain import clerk, resend
from mailer.transport.base import open_transport
from tests import test_cycle_imap
from tests.test_cycle_imap import answer, folder_count, inbox_of

imap_home = test_cycle_imap.imap_home  # the home on dovecot, with 基财股's tasks only

DOMAIN = "jyj.example.gov.cn"
JCG, LEADER = f"jcg@{DOMAIN}", f"leader@{DOMAIN}"


def rows(engine, kind: str | None = None) -> list[Dispatch]:
    with atomic(engine) as s:
        q = select(Dispatch).order_by(Dispatch.id)
        if kind:
            q = q.where(Dispatch.kind == kind)
        out = list(s.scalars(q))
        s.expunge_all()
        return out


def events(engine) -> list[tuple[str, str]]:
    with atomic(engine) as s:
        return [(e.kind, e.detail) for e in s.scalars(select(Event).where(Event.kind.like("send_%")).order_by(Event.id))]


def subjects(raws: list[bytes]) -> list[str]:
    return [read_message(r, max_attachment_bytes=10**8).subject for r in raws]


def with_smtp_port(settings: Settings, port: int) -> Settings:
    smtp = dataclasses.replace(settings.mail.smtp, port=port)
    return dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, smtp=smtp))


def write_toml(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the home's duban.toml say what ``settings`` say (for the CLI and for child processes)."""
    m = settings.mail
    (settings.home / "duban.toml").write_text(
        textwrap.dedent(f"""\
        [mail]
        transport = "imap"
        from_address = "{m.from_address}"
        uncertain = "{m.uncertain}"
        [mail.imap]
        host = "{m.imap.host}"
        port = {m.imap.port}
        security = "{m.imap.security}"
        username = "{m.imap.username}"
        ca_file = "{m.imap.ca_file}"
        sent_folder = "{m.imap.sent_folder}"
        [mail.smtp]
        host = "{m.smtp.host}"
        port = {m.smtp.port}
        security = "{m.smtp.security}"
        username = "{m.smtp.username}"
        ca_file = "{m.smtp.ca_file}"
        [service]
        confirm_start = false
        """),
        encoding="utf-8",
    )
    monkeypatch.setenv("DUBAN_IMAP_PASSWORD", m.imap.password)
    monkeypatch.setenv("DUBAN_SMTP_PASSWORD", m.smtp.password)


def duban(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--home", str(settings.home), *args])
    return result.exit_code, result.output


# -- SMTP: the server delivers, then cuts the connection before its 250 ---------------------------------------


def test_smtp_cut_after_delivery_is_uncertain_and_waits_for_the_clerk(imap_home, mail_servers, monkeypatch):
    """
    GIVEN the office's form going out through an SMTP server that delivers it and then cuts the connection
          instead of answering DATA
    WHEN  the tick sends it, and sending runs again later
    THEN  the form is in the office's mailbox once; the row is uncertain (not resent, attempts 1) with a
          send_uncertain event; `duban status`, `duban check` and `duban outbox list --state uncertain` show
          it; `duban outbox resend` sends it once more marked （重发） under the same Message-ID, recording
          who and why
    """
    settings, engine = imap_home
    with mail_servers.dropping_smtp() as port, open_transport(with_smtp_port(settings, port)) as t:
        report = tick(settings, engine, t, at(10))
    assert report.sent == 0
    assert len(inbox_of(mail_servers, JCG)) == 1
    (form,) = rows(engine, "form")
    assert (form.state, form.attempts) == ("uncertain", 1)
    assert "可能已发出" in form.error
    assert [k for k, _ in events(engine)] == ["send_uncertain"]
    assert f"duban outbox resend {form.id}" in events(engine)[0][1]

    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 0
    assert len(inbox_of(mail_servers, JCG)) == 1
    assert rows(engine, "form")[0].state == "uncertain"

    close_all()
    write_toml(settings, monkeypatch)
    code, out = duban(settings, "status")
    assert code == 0 and "未确认是否发出的邮件 1 封" in out and f"duban outbox resend {form.id}" in out
    code, out = duban(settings, "status", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)["uncertain"]] == [form.id]
    code, out = duban(settings, "check", "--no-mail")
    assert f"[提醒] 邮件 #{form.id}（进展情况表）“{form.subject}” → {JCG}：可能已发出也可能未发出。" in out
    code, out = duban(settings, "outbox", "list", "--state", "uncertain")
    assert code == 0 and out.startswith(f"#{form.id:<5} 未确认是否发出") and form.subject[:20] in out

    code, out = duban(settings, "outbox", "resend", str(form.id), "--reason", "电话确认基财股未收到")
    assert code == 0, out
    assert "已发送" in out
    got = inbox_of(mail_servers, JCG)
    assert len(got) == 2
    first, second = (read_message(r, max_attachment_bytes=10**8) for r in got)
    assert second.subject == first.subject + "（重发）"
    assert second.message_id == first.message_id == form.message_id
    assert [a.filename for a in second.attachments] == [a.filename for a in first.attachments]
    (form,) = rows(engine, "form")
    assert (form.state, form.attempts, form.error) == ("sent", 2, "")
    kinds = events(engine)
    assert [k for k, _ in kinds] == ["send_uncertain", "send_resent"]
    assert kinds[1][1].endswith(f"由 {clerk()} 重发。原因：电话确认基财股未收到")
    code, out = duban(settings, "status")
    assert "未确认" not in out


def test_smtp_cut_before_the_message_was_handed_over_is_simply_retried(imap_home, mail_servers):
    """
    GIVEN an SMTP server that cuts the connection at RCPT TO, before any of the message was sent
    WHEN  the form is sent, and sending runs again through a working server
    THEN  the first attempt is known not to have delivered anything: the row is pending (attempts 1, the
          error kept, no uncertain event) and the next run delivers it once
    """
    settings, engine = imap_home
    with mail_servers.dropping_smtp(at="rcpt") as port, open_transport(with_smtp_port(settings, port)) as t:
        assert tick(settings, engine, t, at(10)).sent == 0
    (form,) = rows(engine, "form")
    assert (form.state, form.attempts) == ("pending", 1)
    assert form.error.startswith(f"Sending {form.message_id} over 127.0.0.1:") and "may have been" not in form.error
    assert inbox_of(mail_servers, JCG) == []
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 1
    assert len(inbox_of(mail_servers, JCG)) == 1
    assert rows(engine, "form")[0].state == "sent"
    assert events(engine) == []


def test_courtesy_mail_that_may_have_gone_is_dropped_not_held(imap_home, mail_servers):
    """
    GIVEN the office's report taken in, and the receipt and the leader's approval request going out
          through the SMTP server that cuts the connection after delivering
    WHEN  they are sent, and sending runs again
    THEN  each arrived once; the receipt (a courtesy) is dropped with a send_dropped event, the approval
          request is uncertain; nothing is sent again
    """
    settings, engine = imap_home
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    forms = inbox_of(mail_servers, JCG)
    form = read_message(forms[0], max_attachment_bytes=10**8).attachments[0]
    answer(mail_servers, forms[0], JCG, "见附件。", at(13, 10), (form.filename, fill_form(form.data)))
    with mail_servers.dropping_smtp() as port, open_transport(with_smtp_port(settings, port)) as t:
        run_once(settings, engine, t, at(13, 11))
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 0
    assert len(inbox_of(mail_servers, JCG)) == 2  # the form and one receipt
    assert len(inbox_of(mail_servers, LEADER)) == 1
    assert rows(engine, "receipt")[0].state == "dropped"
    assert rows(engine, "approval_request")[0].state == "uncertain"
    assert sorted(k for k, _ in events(engine)) == ["send_dropped", "send_uncertain"]


def test_policy_resend_sends_it_again_marked(imap_home, mail_servers):
    """
    GIVEN mail.uncertain = "resend", and a form that went through the cutting SMTP server
    WHEN  sending runs again
    THEN  it is sent once more, marked （重发）, by duban, and recorded so; then never again
    """
    settings, engine = imap_home
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, uncertain="resend"))
    with mail_servers.dropping_smtp() as port, open_transport(with_smtp_port(settings, port)) as t:
        tick(settings, engine, t, at(10))
    assert rows(engine, "form")[0].state == "uncertain"
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 1
        assert send_pending(settings, engine, t) == 0
    got = subjects(inbox_of(mail_servers, JCG))
    assert len(got) == 2 and got[1] == got[0] + "（重发）"
    assert rows(engine, "form")[0].state == "sent"
    resent = events(engine)[-1]
    assert resent[0] == "send_resent" and "由 duban 重发" in resent[1] and 'mail.uncertain = "resend"' in resent[1]


def test_policy_resends_only_once(imap_home, mail_servers):
    """
    GIVEN mail.uncertain = "resend", and an SMTP server that cuts the connection after every delivery
    WHEN  the form goes out, is resent by the policy, and that is uncertain again
    THEN  it arrived twice (the second marked （重发）) and is then held for the clerk, not sent at every run
    """
    settings, engine = imap_home
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, uncertain="resend"))
    with mail_servers.dropping_smtp() as port, open_transport(with_smtp_port(settings, port)) as t:
        tick(settings, engine, t, at(10))
        assert send_pending(settings, engine, t) == 0
        assert send_pending(settings, engine, t) == 0
    got = subjects(inbox_of(mail_servers, JCG))
    assert len(got) == 2 and got[1] == got[0] + "（重发）"
    assert rows(engine, "form")[0].state == "uncertain"
    assert [k for k, _ in events(engine)] == ["send_uncertain", "send_resent", "send_uncertain"]


# -- a process killed between the SMTP server's acceptance and the record ---------------------------------------

KILL_SCRIPT = """
import os, sys
from pathlib import Path
from mailer.transport import imap_smtp
point = sys.argv[2]
if point == "after_smtp_accepted":
    original = imap_smtp.WatchedSMTP.sendmail
    def dying(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os._exit(137)          # the server said 250; nothing is recorded yet
    imap_smtp.WatchedSMTP.sendmail = dying
else:
    def dying(self, raw):
        os._exit(137)          # recorded as sent; the Sent copy is not yet appended
    imap_smtp.ImapSmtpTransport._append_sent = dying
from mailer.common.config import load_settings
from mailer.service.cycle import tick
from mailer.service.demo import at
from mailer.registry.store import open_registry
from mailer.transport.base import open_transport
settings = load_settings(Path(sys.argv[1]))
with open_transport(settings) as t:
    tick(settings, open_registry(settings.database_url), t, at(10))
"""


@pytest.mark.parametrize(("point", "left", "after"), [
    ("after_smtp_accepted", "sending", "uncertain"),
    ("before_sent_copy", "sent", "sent"),
])  # fmt: skip
def test_a_kill_after_smtp_accepted_never_sends_twice(imap_home, mail_servers, monkeypatch, point, left, after):
    """
    GIVEN the imap transport keeping copies in Sent
    WHEN  the process is killed right after the SMTP server accepted the form (before the row is marked),
          or after it was marked but before the Sent copy, and sending runs again
    THEN  the form is in the office's mailbox once; the row is uncertain (with an event) in the first case,
          sent (without one) in the second; nothing is sent again
    """
    settings, engine = imap_home
    write_toml(settings, monkeypatch)
    close_all()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL_SCRIPT), str(settings.home), point],
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    engine = open_registry(settings.database_url)
    assert len(inbox_of(mail_servers, JCG)) == 1
    assert rows(engine, "form")[0].state == left
    with open_transport(load_settings(settings.home)) as t:
        assert send_pending(settings, engine, t) == 0
        assert send_pending(settings, engine, t) == 0
    assert len(inbox_of(mail_servers, JCG)) == 1
    assert folder_count(mail_servers, f"bgs@{DOMAIN}", "Sent") == 0
    (form,) = rows(engine, "form")
    assert (form.state, form.attempts) == (after, 1)
    assert [k for k, _ in events(engine)] == (["send_uncertain"] if after == "uncertain" else [])


# -- the folder transport: the file is the send ------------------------------------------------------------------

FOLDER_SCRIPT = """
import os, sys
from pathlib import Path
from mailer.transport import folder
def dying(path, raw):
    os._exit(137)              # marked "sending", the .eml not yet written
folder.write_atomic = dying
from mailer.common.config import load_settings
from mailer.service.cycle import tick
from mailer.service.demo import at
from mailer.registry.store import open_registry
from mailer.transport.base import open_transport
settings = load_settings(Path(sys.argv[1]))
with open_transport(settings) as t:
    tick(settings, open_registry(settings.database_url), t, at(10))
"""


@pytest.fixture
def planned(home: Settings) -> Iterator[Settings]:
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    yield home


def test_folder_kill_before_the_file_is_written_sends_it_once(planned):
    """
    GIVEN ten forms due
    WHEN  the process is killed after the first row was marked sending, before its .eml was written, and
          sending runs again
    THEN  the transport says "not sent": the row goes back to pending (send_interrupted) and all ten are in
          outbox/mail/ exactly once
    """
    settings = planned
    close_all()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(FOLDER_SCRIPT), str(settings.home)],
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    engine = open_registry(settings.database_url)
    assert [d.state for d in rows(engine)].count("sending") == 1
    assert not (settings.outbox / "mail").exists() or not list((settings.outbox / "mail").glob("*.eml"))
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 10
    assert {d.state for d in rows(engine)} == {"sent"}
    assert len(list((settings.outbox / "mail").glob("*.eml"))) == 10
    assert [k for k, _ in events(engine)] == ["send_interrupted"]


# -- Exchange: the connection is cut after CreateItem ------------------------------------------------------------


@pytest.fixture
def ews_home(planned: Settings) -> Iterator[tuple[Settings, EwsServer]]:
    server = EwsServer()
    with server.start():
        yield server.settings(planned), server


def test_exchange_cut_after_create_item_kept_is_found_in_sent_items(ews_home):
    """
    GIVEN ten forms due, and Exchange cutting the connection after carrying out the first CreateItem
    WHEN  they are sent
    THEN  CreateItem is posted once per form (no retry), Sent Items answers for the first: every row sent,
          ten messages sent in all, one send_confirmed event
    """
    settings, ews = ews_home
    engine = open_registry(settings.database_url)
    ews.reset_create = "kept"
    with open_transport(settings) as t:
        report = tick(settings, engine, t, at(10))
    assert report.sent == 10
    assert ews.operations().count("CreateItem") == 10
    assert len(ews.sent) == 10
    assert {d.state for d in rows(engine)} == {"sent"}
    assert [k for k, _ in events(engine)] == ["send_confirmed"]


def test_exchange_cut_after_create_item_lost_is_uncertain_until_the_clerk_resends(ews_home):
    """
    GIVEN ten forms due, and Exchange cutting the connection after the first CreateItem without sending it
    WHEN  they are sent, and sending runs again
    THEN  nine went out and the first is uncertain (Sent Items has nothing: not proof either way); the next
          run posts no CreateItem; the clerk's resend posts it once more, marked （重发）
    """
    settings, ews = ews_home
    engine = open_registry(settings.database_url)
    ews.reset_create = "lost"
    with open_transport(settings) as t:
        assert tick(settings, engine, t, at(10)).sent == 9
        assert [d.state for d in rows(engine)].count("uncertain") == 1
        assert send_pending(settings, engine, t) == 0
    assert ews.operations().count("CreateItem") == 10 and len(ews.sent) == 9
    (doubt,) = [d for d in rows(engine) if d.state == "uncertain"]
    assert [k for k, _ in events(engine)] == ["send_uncertain"]
    resend(settings, engine, doubt.id, by="张三", reason="对方未收到")
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 1
    assert len(ews.sent) == 10
    assert read_message(ews.sent[-1], max_attachment_bytes=10**8).subject == doubt.subject + "（重发）"
    assert rows(engine)[doubt.id - 1].state == "sent"


# -- the pieces ---------------------------------------------------------------------------------------------------


def test_with_new_subject_changes_only_subject_and_date(home):
    """The resent copy differs from the first in Subject and Date only; the token stays readable."""
    mid = new_message_id(home)
    raw = build_message(home, to=[JCG], subject="[DB-2206-7KQ3MX2A] 请报送2022年1—6月重点工作进展情况",
                        text="正文", attachments=[("表.docx", b"PK\x03\x04")], message_id=mid)  # fmt: skip
    again = with_new_subject(raw, "[DB-2206-7KQ3MX2A] 请报送2022年1—6月重点工作进展情况（重发）")
    assert b"Subject: [DB-2206-7KQ3MX2A] =?utf-8?" in again
    a, b = read_message(raw, max_attachment_bytes=10**8), read_message(again, max_attachment_bytes=10**8)
    assert b.subject == a.subject + "（重发）" and b.message_id == a.message_id == mid
    head_a, body_a = raw.split(b"\r\n\r\n", 1)
    head_b, body_b = again.split(b"\r\n\r\n", 1)
    assert body_a == body_b

    def others(head: bytes) -> list[bytes]:
        return [x for x in head.split(b"\r\n") if not x.startswith((b"Subject:", b"Date:", b" ", b"\t"))]

    assert others(head_a) == others(head_b)


def test_resend_refuses_a_message_that_was_sent(planned):
    settings = planned
    engine = open_registry(settings.database_url)
    with open_transport(settings) as t:
        tick(settings, engine, t, at(10))
    first = rows(engine)[0]
    code, out = duban(settings, "outbox", "resend", str(first.id))
    assert code == 1
    assert f"邮件 #{first.id}（{first.subject}）的状态是“已发送”，只有未确认、已放弃或发送失败的邮件可以重发。" in out
    code, out = duban(settings, "outbox", "resend", "999")
    assert code == 1 and "发件记录中没有 #999。运行 `duban outbox list` 查看编号。" in out
    assert len(list((settings.outbox / "mail").glob("*.eml"))) == 10


def test_resend_without_its_eml_changes_nothing(planned):
    """A resend whose stored message is gone says which file and what to do, and changes nothing."""
    settings = planned
    engine = open_registry(settings.database_url)
    tick(settings, engine, None, at(10))
    first = rows(engine)[0]
    code, _ = duban(settings, "outbox", "drop", str(first.id))
    assert code == 0
    settings.path(first.eml_path).unlink()
    code, out = duban(settings, "outbox", "resend", str(first.id))
    assert code == 1
    assert f"邮件 #{first.id} 的原件 {first.eml_path} 无法读取" in out and "请从备份恢复该文件" in out
    assert rows(engine)[0].state == "dropped"
    assert [k for k, _ in events(engine)] == ["send_dropped"]


def test_drop_records_who_and_why(planned):
    settings = planned
    engine = open_registry(settings.database_url)
    tick(settings, engine, None, at(10))  # queued, not sent
    first = rows(engine)[0]
    code, out = duban(settings, "outbox", "drop", str(first.id), "--reason", "该股室已撤销")
    assert code == 0 and "已放弃" in out
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 9
    assert rows(engine)[0].state == "dropped"
    (kind, detail), = events(engine)
    assert kind == "send_dropped" and "该股室已撤销" in detail
    code, out = duban(settings, "outbox", "list", "--state", "dropped")
    assert out.startswith(f"#{first.id:<5} 已放弃")


def test_one_process_sends_at_a_time(planned, monkeypatch):
    """
    GIVEN ten forms queued, and another process sending (holding registry/sending.lock)
    WHEN  this one tries to send
    THEN  it waits (here 0.3 s), sends nothing and leaves every row pending; once the lock is free it sends all
    """
    from mailer.service import outgoing

    settings = planned
    engine = open_registry(settings.database_url)
    tick(settings, engine, None, at(10))
    monkeypatch.setattr(outgoing, "LOCK_WAIT_S", 0.3)
    with outgoing.send_lock(settings) as held, open_transport(settings) as t:
        assert held
        assert send_pending(settings, engine, t) == 0
    assert {d.state for d in rows(engine)} == {"pending"}
    with open_transport(settings) as t:
        assert send_pending(settings, engine, t) == 10


def test_unknown_uncertain_policy_is_refused(home):
    (home.home / "duban.toml").write_text('[mail]\nuncertain = "maybe"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mail\.uncertain = “maybe”无法识别。请写 hold"):
        load_settings(home.home)


def test_exchange_tells_a_refused_connection_from_a_lost_answer():
    """A refused connection (nothing reached the server) is "not sent"; a reset after the request is not."""
    import requests
    from mailserver import free_port

    from mailer.transport.exchange import _never_connected

    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{free_port()}/EWS/Exchange.asmx", data=b"<x/>", timeout=5)
    assert _never_connected(refused.value)
    reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert not _never_connected(reset)
