"""Flushes to disk in the background (mailer/common/durable.py): still finished before they matter — a queued
answer's file before its Dispatch row commits, an archived message before it is taken in."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from mailer.common import durable
from mailer.registry.model import Dispatch, InboundMessage
from mailer.registry.store import atomic, open_registry
from mailer.render.mailcontext import mail_context
from mailer.service.outgoing import Mail, queue_mail
from tests.test_intake import drop, form_dispatch, mail


@pytest.fixture
def sent(sent_home):  # type: ignore[no-untyped-def]
    return sent_home, open_registry(sent_home.database_url)


def test_an_archived_file_is_under_its_name_only_once_flushed(tmp_path, monkeypatch):
    """
    GIVEN a flush that has not finished
    WHEN  a message is stored by its hash
    THEN  nothing is under the content address yet (a file there is always complete), and it is after the wait
    """
    release = threading.Event()
    real = os.fsync
    monkeypatch.setattr(durable.os, "fsync", lambda fd: (release.wait(10), real(fd)))
    _, path, pending = durable.store_by_hash_later(tmp_path, b"raw message", ".eml", fan_out=True)
    assert not path.exists() and not pending.done
    release.set()
    pending.wait()
    assert path.read_bytes() == b"raw message"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    assert durable.store_by_hash_later(tmp_path, b"raw message", ".eml", fan_out=True)[2] is durable.DONE


def test_a_failed_flush_stops_the_commit_of_the_answer(sent, monkeypatch):
    """
    GIVEN the disk refusing to flush a queued answer (EIO)
    WHEN  the transaction that queued it commits
    THEN  the commit fails with the error and no Dispatch row is left without its file on disk
    """
    settings, engine = sent

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with atomic(engine) as s:
        before = s.scalar(select(func.count(Dispatch.id)))
    monkeypatch.setattr(durable.os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output"), atomic(engine) as s:
        d = queue_mail(s, settings, "test:eio", "quarantine_notice",
                       Mail("quarantine_notice", mail_context(settings, from_addr="a@b.c", from_name="", subject="x",
                                                              reason="r", received="", archive_path="", advice=""),
                            ["x@y.z"]))
        assert d is not None
        eml = settings.path(d.eml_path)
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Dispatch.id))) == before
    assert not eml.exists()


def test_a_poll_reads_ahead_but_acknowledges_in_order(sent, monkeypatch):
    """
    GIVEN three replies waiting, the second one failing for a moment (a locked registry)
    WHEN  intake polls (the next message is fetched and parsed while one is taken in)
    THEN  the first is taken in and acknowledged; the second and the one read ahead behind it are left
          waiting, unrecorded, and both are taken in by the next poll
    """
    from sqlalchemy.exc import OperationalError

    from mailer.service import intake
    from mailer.service.demo import at
    from mailer.transport.base import open_transport

    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    for i in range(3):
        drop(settings, f"r{i}.eml", mail(f"news{i}@example.org", "回复：" + d.subject, f"第{i}封",
                                         in_reply_to=d.message_id))
    real = intake.take_in
    calls = []

    def locked_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "take_in", locked_once)
    with open_transport(settings) as t:
        report = intake.poll(settings, engine, t, now=at(13, 12))
        assert (report.taken, report.deferred) == (1, 1)
        assert sorted(p.name for p in (settings.inbox / "drop").glob("*.eml")) == ["r1.eml", "r2.eml"]
        with atomic(engine) as s:
            assert s.scalar(select(func.count(InboundMessage.id))) == 1
        assert intake.poll(settings, engine, t, now=at(13, 13)).taken == 2
    with atomic(engine) as s:
        assert s.scalar(select(func.count(InboundMessage.id))) == 3
