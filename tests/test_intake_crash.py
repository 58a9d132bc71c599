"""Exactly-once under crashes: a real process is killed (os._exit, no clean-up) at each step of intake and
of sending; the next run neither loses nor double-processes anything."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Entry, Event, InboundMessage, Submission
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.demo import EXAMPLES, at, fill_form
from mailer.service.intake import poll
from mailer.transport.base import open_transport
from tests.test_intake import drop, form_dispatch, mail, the_form

# Each crash point wraps one real function so that the process dies right after (or inside) it.
CRASH_POINTS = {
    "after_archive": ("mailer.service.intake", "archive"),
    "before_commit": ("mailer.service.submissions", "take_form"),
    "after_commit_before_ack": ("mailer.transport.folder", "FolderTransport.acknowledge"),
}

SCRIPT = """
import importlib, os, sys
from pathlib import Path
module, attr, home = sys.argv[1], sys.argv[2], Path(sys.argv[3])
target = importlib.import_module(module)
owner, name = (getattr(target, attr.split(".")[0]), attr.split(".")[1]) if "." in attr else (target, attr)
original = getattr(owner, name)
def dying(*args, **kwargs):
    if name == "acknowledge":
        os._exit(137)          # committed, not yet acknowledged
    original(*args, **kwargs)
    os._exit(137)              # the step ran; nothing after it does
setattr(owner, name, dying)
from mailer.common.config import load_settings
from mailer.service.intake import poll
from mailer.registry.store import open_registry
from mailer.transport.base import open_transport
from mailer.service.demo import at
settings = load_settings(home)
with open_transport(settings) as t:
    poll(settings, open_registry(settings.database_url), t, now=at(13, 12))
"""


@pytest.fixture
def ready(sent_home):
    home = sent_home
    engine = open_registry(home.database_url)
    d = form_dispatch(engine, "基财股")
    name, data = the_form(home, d)
    drop(home, "reply.eml", mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件",
                                 in_reply_to=d.message_id, attachment=(name, fill_form(data))))
    return home, engine


def _die(settings, point: str) -> None:
    module, attr = CRASH_POINTS[point]
    close_all()  # the child opens the file itself; no connection of ours spans the crash
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), module, attr, str(settings.home)],
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]


def _totals(engine) -> tuple[int, int, int, int]:
    with atomic(engine) as s:
        return (s.scalar(select(func.count(InboundMessage.id))) or 0,
                s.scalar(select(func.count(Submission.id))) or 0,
                s.scalar(select(func.count(Entry.id))) or 0,
                s.scalar(select(func.count(Dispatch.id)).where(Dispatch.kind.in_(("receipt", "approval_request"))))
                or 0)


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_at_any_step_of_intake_loses_nothing_and_repeats_nothing(ready, point):
    """
    GIVEN a filled form waiting in the mailbox
    WHEN  the process dies at <point>, and intake runs again
    THEN  the message is recorded once, with one submission, its entries and one receipt and one approval
          request, and it ends up acknowledged
    """
    settings, _ = ready
    _die(settings, point)
    engine = open_registry(settings.database_url)
    committed = point == "after_commit_before_ack"
    assert _totals(engine) == ((1, 1, 3, 2) if committed else (0, 0, 0, 0))
    assert (settings.inbox / "drop" / "reply.eml").exists(), "not acknowledged before the commit"
    with open_transport(settings) as t:
        report = poll(settings, engine, t, now=at(13, 13))
        assert (report.taken, report.duplicates) == ((0, 1) if committed else (1, 0))
        assert poll(settings, engine, t, now=at(13, 14)).taken == 0
    assert _totals(engine) == (1, 1, 3, 2)
    assert not (settings.inbox / "drop" / "reply.eml").exists()
    assert len(list((settings.inbox / "archive").rglob("*.eml"))) == 1


SEND_SCRIPT = """
import os, sys
from pathlib import Path
from mailer.transport import folder
original = folder.write_atomic
calls = []
def dying(path, raw):
    original(path, raw)
    calls.append(1)
    if len(calls) == 2:
        os._exit(137)          # the 2nd message left (its .eml is in outbox/mail/), its row is not yet marked sent
folder.write_atomic = dying
from mailer.common.config import load_settings
from mailer.service.outgoing import send_pending
from mailer.registry.store import open_registry
from mailer.transport.base import open_transport
settings = load_settings(Path(sys.argv[1]))
with open_transport(settings) as t:
    send_pending(settings, open_registry(settings.database_url), t)
"""


def test_a_crash_while_sending_does_not_send_twice(home):
    """
    GIVEN ten forms queued
    WHEN  the process dies right after the 2nd message left, and sending resumes
    THEN  every form is in the outbox exactly once and every row is marked sent
    """
    from mailer.service.cycle import tick
    from mailer.service.outgoing import send_pending

    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    tick(home, engine, None, at(10))
    close_all()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SEND_SCRIPT), str(home.home)],
                          env=dict(os.environ), capture_output=True, timeout=120, check=False)
    assert proc.returncode == 137, proc.stderr.decode()[-2000:]
    engine = open_registry(home.database_url)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.state == "sent")) == 1
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.state == "sending")) == 1
    with open_transport(home) as t:
        assert send_pending(home, engine, t) == 8  # the one in doubt is recognised as sent, not resent
    with atomic(engine) as s:
        rows = s.scalars(select(Dispatch)).all()
        assert all(d.state == "sent" for d in rows) and len(rows) == 10
        assert all(d.error == "" for d in rows)
        assert [e.kind for e in s.scalars(select(Event).where(Event.kind.like("send_%")))] == ["send_confirmed"]
    assert len(list((home.outbox / "mail").glob("*.eml"))) == 10
