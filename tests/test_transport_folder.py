"""The folder transport end to end, and the transport factory."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mailer.common.config import Settings
from mailer.common.errors import ConfigError, TransportError
from mailer.read.mailread import read_message
from mailer.render.compose import build_message, new_message_id
from mailer.transport import Transport, make_transport, open_transport
from mailer.transport.folder import FolderTransport, eml_name, sent_path


def drop(settings: Settings, name: str, raw: bytes, mtime: float | None = None) -> Path:
    folder = settings.inbox / "drop"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(raw)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_folder_transport_end_to_end(home: Settings) -> None:
    """GIVEN a home with the default folder transport
    WHEN  a message is sent, and two replies are dropped into inbox/drop/
    THEN  the message is in outbox/mail/, the replies are listed oldest first, fetched intact, and
          acknowledged into inbox/drop/processed/"""
    with open_transport(home) as t:
        assert isinstance(t, FolderTransport) and isinstance(t, Transport)
        assert t.source == f"folder:{home.inbox / 'drop'}" and t.uidvalidity is None
        mid = new_message_id(home)
        raw = build_message(home, to=["jcg@jyj.example.gov.cn"], subject="请报送", text="x", message_id=mid)
        assert t.was_sent(mid) is False
        t.send(raw, sender=home.mail.from_address, recipients=["jcg@jyj.example.gov.cn"], message_id=mid)
        assert t.was_sent(mid) is True
        assert sent_path(home, mid).read_bytes() == raw
        assert sent_path(home, mid).parent == home.outbox / "mail"

        now = time.time()
        drop(home, "b-newer.eml", b"Subject: newer\r\n\r\n2\r\n", now - 10)
        drop(home, "a-older.eml", b"Subject: older\r\n\r\n1\r\n", now - 100)
        drop(home, "notes.txt", b"not mail")
        drop(home, ".hidden.eml", b"not yet complete")
        older, newer = t.list_new()
        assert (older.partition("#")[0], newer.partition("#")[0]) == ("a-older.eml", "b-newer.eml")
        assert older == "a-older.eml#" + hashlib.sha256(b"Subject: older\r\n\r\n1\r\n").hexdigest()
        assert read_message(t.fetch(older), max_attachment_bytes=10).subject == "older"
        t.acknowledge(older)
        t.acknowledge(older)  # again: a crash after the move must not fail the retry
        assert t.list_new() == [newer]
        assert (home.inbox / "drop" / "processed" / f"a-older.{older[-64:][:16]}.eml").exists()


def test_acknowledging_the_same_name_twice_keeps_both(home: Settings) -> None:
    t = FolderTransport(home)
    drop(home, "r.eml", b"one")
    [first] = t.list_new()
    t.acknowledge(first)
    drop(home, "r.eml", b"two")
    [second] = t.list_new()
    assert second != first
    t.acknowledge(second)
    done = sorted(p.read_bytes() for p in (home.inbox / "drop" / "processed").iterdir())
    assert done == [b"one", b"two"]


def test_a_file_replaced_after_listing_is_neither_fetched_nor_moved(home: Settings) -> None:
    """GIVEN r.eml listed, then overwritten by a new r.eml
    WHEN  the old uid is fetched or acknowledged
    THEN  fetch refuses (list again), acknowledging leaves the new file for the next listing"""
    t = FolderTransport(home)
    drop(home, "r.eml", b"one")
    [old] = t.list_new()
    drop(home, "r.eml", b"two, longer")
    with pytest.raises(TransportError, match="changed since it was listed"):
        t.fetch(old)
    t.acknowledge(old)
    assert (home.inbox / "drop" / "r.eml").read_bytes() == b"two, longer"
    [new] = t.list_new()
    assert new != old and t.fetch(new) == b"two, longer"


SHA = "0" * 64


@pytest.mark.parametrize(
    "uid", [f"../duban.toml#{SHA}", f"processed/x.eml#{SHA}", f"#{SHA}", f"..#{SHA}", f"a\\b.eml#{SHA}",
            "x.eml", "x.eml#abc"]
)
def test_a_uid_is_never_a_path(home: Settings, uid: str) -> None:
    with pytest.raises(TransportError):
        FolderTransport(home).fetch(uid)


def test_missing_file_is_a_transport_error(home: Settings) -> None:
    with pytest.raises(TransportError, match="gone"):
        FolderTransport(home).acknowledge(f"nothing.eml#{SHA}")


def test_wait_returns_when_a_file_arrives(home: Settings) -> None:
    t = FolderTransport(home)
    start = time.monotonic()
    assert t.wait(0.3) is False
    assert 0.25 < time.monotonic() - start < 2
    timer = threading.Timer(0.3, drop, (home, "late.eml", b"x"))
    timer.start()
    start = time.monotonic()
    assert t.wait(10) is True
    assert time.monotonic() - start < 3
    timer.join()


def test_check_creates_the_folders(home: Settings) -> None:
    text = FolderTransport(home).check()
    assert "inbox/drop" in text and "outbox/mail" in text
    assert (home.inbox / "drop" / "processed").is_dir() and (home.outbox / "mail").is_dir()


def test_eml_name() -> None:
    assert eml_name("<duban.20220610T010000.1a2b@jyj.example.gov.cn>") == (
        "duban.20220610T010000.1a2b@jyj.example.gov.cn.eml"
    )
    assert "/" not in eml_name("<../../x@y>")
    with pytest.raises(TransportError):
        eml_name("<>")


def test_factory(home: Settings) -> None:
    imap = dataclasses.replace(home, mail=dataclasses.replace(home.mail, transport="imap"))
    assert make_transport(imap).source == "imap:localhost:993/INBOX"
    bad = dataclasses.replace(home, mail=dataclasses.replace(home.mail, transport="pigeon"))
    with pytest.raises(ConfigError, match="pigeon"):
        make_transport(bad)


def test_closing_errors_never_hide_the_blocks_own_error(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_close(self: FolderTransport) -> None:
        raise OSError("close failed")

    monkeypatch.setattr(FolderTransport, "close", broken_close)
    with pytest.raises(KeyError, match="inner"), open_transport(home):
        raise KeyError("inner")
    with open_transport(home):  # and alone it is only logged
        pass


def test_exchangelib_is_imported_only_when_exchange_is_chosen(home: Settings) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mailer.common.config import Settings\n"
        "from mailer.transport import open_transport\n"
        f"with open_transport(Settings(home=Path({str(home.home)!r}))) as t:\n"
        "    t.list_new()\n"
        "assert 'exchangelib' not in sys.modules, 'exchangelib was imported'\n"
        "import mailer.cli\n"
        "assert 'exchangelib' not in sys.modules, 'the CLI imported exchangelib'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_cli_mail_check_and_send_test(home: Settings) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home.home), "mail", "check"])
    assert result.exit_code == 0, result.output
    assert "folder transport" in result.output
    result = runner.invoke(cli, ["--home", str(home.home), "mail", "send-test", "jcg@jyj.example.gov.cn"])
    assert result.exit_code == 0, result.output
    [sent] = (home.outbox / "mail").iterdir()
    m = read_message(sent.read_bytes(), max_attachment_bytes=10**6)
    assert m.subject == "督办系统测试邮件（请勿回复）" and m.to == ["jcg@jyj.example.gov.cn"]
    assert [a.filename for a in m.attachments] == ["测试附件：进展情况表（示例）.txt"]
    assert f"发给 jcg@jyj.example.gov.cn（Message-ID {m.message_id}）" in result.output
    result = runner.invoke(cli, ["--home", str(home.home), "mail", "send-test", "not-an-address"])
    assert result.exit_code == 2 and "不是邮箱地址" in result.output


def test_cli_mail_check_reports_a_transport_error(home: Settings) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    (home.home / "duban.toml").write_text(
        '[mail]\ntransport = "imap"\n[mail.imap]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--home", str(home.home), "mail", "check"])
    assert result.exit_code == 1
    assert "错误：Cannot connect to the IMAP server 127.0.0.1:1 (security=none)" in result.output
