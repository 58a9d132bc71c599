"""Transient failures: a registry locked past the busy timeout, a full disk. The message stays on the server
for the next poll and is recorded nowhere as failed; a command ends with a plain Chinese message, leaving
no half-written file. The disk is really filled: a child process runs under RLIMIT_FSIZE (writes past the
limit fail with EFBIG, as ENOSPC would on a full disk), since a test cannot mount a small filesystem."""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.common.transient import describe_cn, is_transient
from mailer.registry import store
from mailer.registry.model import InboundMessage
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.demo import at, fill_form
from mailer.service.intake import poll
from mailer.transport.base import open_transport
from tests.test_intake import drop, form_dispatch, mail, sent, the_form  # noqa: F401  (fixture)


def _reply(settings, engine) -> bytes:
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    return mail("jcg@jyj.example.gov.cn", "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                attachment=(name, fill_form(data)))


def _rows(engine) -> list[tuple[str, str]]:
    with atomic(engine) as s:
        return [(m.kind, m.error) for m in s.scalars(select(InboundMessage))]


def test_a_registry_locked_past_the_busy_timeout_leaves_the_message_for_the_next_poll(
    sent, monkeypatch, caplog  # noqa: F811
):
    """
    GIVEN a filled form waiting, and another connection holding the registry's write lock
    WHEN  intake polls, waiting only 0.3 s for the lock
    THEN  the message is neither acknowledged nor recorded (not as failed either), the log says transient;
          once the lock is released, the next poll takes it in
    """
    settings, engine = sent
    drop(settings, "reply.eml", _reply(settings, engine))
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 300)
    close_all()  # new connections pick up the short busy timeout
    engine = open_registry(settings.database_url)
    other = sqlite3.connect(settings.registry / "registry.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.WARNING, logger="mailer.service.intake"), open_transport(settings) as t:
            report = poll(settings, engine, t, now=at(13, 12))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (report.taken, report.failed, report.deferred) == (0, 0, 1)
    assert "Transient failure" in caplog.text and "database is locked" in caplog.text
    assert (settings.inbox / "drop" / "reply.eml").exists()
    assert _rows(engine) == []
    with open_transport(settings) as t:
        assert poll(settings, engine, t, now=at(13, 13)).taken == 1
    assert not (settings.inbox / "drop" / "reply.eml").exists()
    assert [k for k, _ in _rows(engine)] == ["form"]


def _limited(limit: int):  # type: ignore[no-untyped-def]
    def pre() -> None:
        # Ignored SIGXFSZ: a write past the limit fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def _duban(home: Path, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    close_all()
    return subprocess.run([sys.executable, "-m", "mailer", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ),
                          preexec_fn=_limited(limit) if limit else None, check=False)


def test_a_full_disk_while_taking_in_mail_leaves_it_on_the_server(sent):  # noqa: F811
    """
    GIVEN a filled form waiting, with a large attachment beside it
    WHEN  `duban run --once` runs in a process that cannot write a file past 64 KB
    THEN  no traceback, a Chinese note; the message is still in the drop folder, nothing half-written is
          left in the archive, nothing is recorded as failed; a run with space takes both messages in
    """
    settings, engine = sent
    drop(settings, "reply.eml", _reply(settings, engine))
    big = mail("jcg@jyj.example.gov.cn", "附件", "x", attachment=("说明.docx", os.urandom(200_000)))
    (settings.inbox / "drop" / "big.eml").write_bytes(big)
    os.utime(settings.inbox / "drop" / "big.eml", (1, 1))  # oldest: taken first
    proc = _duban(settings.home, "run", "--once", "--now", "2022-06-13T12:00", limit=64 * 1024)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    assert "磁盘已满" in out or "磁盘空间不足" in out, out[-3000:]
    assert (settings.inbox / "drop" / "big.eml").exists()
    assert not list((settings.inbox / "archive").rglob("*.part"))
    engine = open_registry(settings.database_url)
    assert all(kind != "failed" for kind, _ in _rows(engine))
    proc = _duban(settings.home, "run", "--once", "--now", "2022-06-13T12:05")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (settings.inbox / "drop" / "reply.eml").exists()
    kinds = [k for k, _ in _rows(open_registry(settings.database_url))]
    assert "form" in kinds and "failed" not in kinds


def _bmp(width: int, height: int) -> bytes:
    """An uncompressed 24-bit BMP of noise: it keeps a .docx large after zip compression."""
    row = (width * 3 + 3) & ~3
    size = 54 + row * height
    header = b"BM" + size.to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = (40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little")
    info += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 24
    return header + info + os.urandom(row * height)


def test_a_full_disk_while_rendering_forms_is_a_clean_error_with_nothing_half_written(sent):  # noqa: F811
    """
    GIVEN the bureau's form template carries a large picture (forms of about 120 KB)
    WHEN  `duban forms render` runs in a process that cannot write a file past 80 KB
    THEN  it exits 1 with "磁盘空间不足…" and the fix, no traceback, no half-written form in the outbox;
          with space, the same command succeeds
    """
    import io

    import docx

    settings, _ = sent
    template = settings.templates / "progress_form.docx"
    doc = docx.Document(str(template))
    doc.add_picture(io.BytesIO(_bmp(200, 200)))
    doc.save(str(template))
    out_dir = settings.outbox / "forms" / "2022-07"
    proc = _duban(settings.home, "forms", "render", "--period", "2022-07", limit=80 * 1024)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.startswith("错误：磁盘空间不足"), proc.stderr[-3000:]
    assert "请清理磁盘空间后重新运行同一命令" in proc.stderr
    assert not list(settings.outbox.rglob("*.part"))
    assert not list(out_dir.glob("*.docx")) if out_dir.exists() else True
    proc = _duban(settings.home, "forms", "render", "--period", "2022-07")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(out_dir.glob("*.docx"))


@pytest.mark.parametrize(("exc", "transient"), [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("no such table: x"), False),
    (ValueError("a bug"), False),
])
def test_transient_is_told_from_permanent(exc, transient):
    assert is_transient(exc) is transient
    wrapped = RuntimeError("while writing")
    wrapped.__cause__ = exc
    assert is_transient(wrapped) is transient


def test_the_disk_full_message_names_the_file_and_the_fix():
    text = describe_cn(OSError(errno.ENOSPC, "No space left on device", "/h/outbox/x.docx"))
    assert text.startswith("磁盘空间不足")
    assert "/h/outbox/x.docx" in text and "请清理磁盘空间后重新运行同一命令" in text
