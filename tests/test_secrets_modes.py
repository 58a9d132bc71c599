"""Secrets and file modes: the token key is at least 32 random bytes, created atomically, refused when
short (never silently replaced), warned about when others can read it; the home's registry, archive and
outbox are private whatever the umask; links in the drop folder are never followed."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.common.errors import ConfigError, TransportError
from mailer.registry.store import close_all
from mailer.service.demo import EXAMPLES, at
from mailer.service.intake import poll
from mailer.transport.folder import FolderTransport
from tests.test_intake import mail


@pytest.fixture
def keyed(home, monkeypatch):
    """The home fixture with the key in a file inside the home (key_file relative), not in the environment."""
    monkeypatch.delenv("DUBAN_SECRET_KEY")
    cfg = home.home / "duban.toml"
    cfg.write_text('key_file = "registry/secret.key"\n' + cfg.read_text(encoding="utf-8"), encoding="utf-8")
    return load_settings(home.home)


def test_a_new_key_file_holds_32_random_bytes_is_private_and_lives_in_the_home(keyed):
    old = os.umask(0)
    try:
        key = keyed.secret_key()
    finally:
        os.umask(old)
    path = keyed.home / "registry" / "secret.key"
    assert keyed.key_path == path
    assert len(key) == 64 and bytes.fromhex(key.decode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyed.secret_key() == key  # created once, then read
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("content", [b"", b"\n", b"abc123", b"0123456789abcdef" * 3])
def test_an_empty_or_short_key_file_is_refused_and_never_replaced(keyed, content):
    path = keyed.key_path
    path.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        keyed.secret_key()
    assert f"密钥文件 {path} 只有" in str(e.value) and "至少需要 32 字节随机数据" in str(e.value)
    assert "duban 不会自动替换它：请从备份恢复该文件" in str(e.value)
    assert path.read_bytes() == content
    result = CliRunner().invoke(cli, ["--home", str(keyed.home), "check", "--no-mail"])
    close_all()
    assert result.exit_code == 1 and "[错误] 密钥文件" in result.output


def test_a_short_duban_secret_key_is_refused(home, monkeypatch):
    monkeypatch.setenv("DUBAN_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="环境变量 DUBAN_SECRET_KEY 只有 5 字节的密钥"):
        home.secret_key()


def test_a_key_file_others_can_read_is_warned_about(keyed, caplog):
    keyed.secret_key()
    keyed.key_path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="mailer.common.secretkey"):
        keyed.secret_key()
    assert "readable by group/others" in caplog.text
    result = CliRunner().invoke(cli, ["--home", str(keyed.home), "check", "--no-mail"])
    close_all()
    assert f"[提醒] 密钥文件 {keyed.key_path} 的权限是 644" in result.output
    assert f"chmod 600 {keyed.key_path}" in result.output


def test_a_key_that_cannot_be_written_whole_leaves_no_key_behind(keyed):
    """
    GIVEN no key yet, and a process that cannot write a file past 16 bytes (as on a full disk)
    WHEN  the key is created
    THEN  a clear error, and no key file (not a short one that would make every token computable)
    """
    code = ("import sys; from pathlib import Path; from mailer.common.config import load_settings\n"
            "from mailer.common.errors import ConfigError\n"
            "try:\n    load_settings(Path(sys.argv[1])).secret_key()\n"
            "except ConfigError as e:\n    print(e); sys.exit(3)\n")

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))

    proc = subprocess.run([sys.executable, "-c", code, str(keyed.home)], capture_output=True, text=True,
                          env=dict(os.environ), preexec_fn=limited, timeout=120, check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "密钥文件" in proc.stdout and "无法创建" in proc.stdout
    folder = keyed.key_path.parent
    assert not keyed.key_path.exists()
    assert [p.name for p in folder.iterdir() if "secret" in p.name] == []


def _modes(root: Path) -> list[str]:
    wrong = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        want = 0o700 if p.is_dir() else 0o600
        if mode != want:
            wrong.append(f"{p.relative_to(root.parent)} {mode:o}")
    return wrong


def test_the_registry_archive_and_outbox_are_private_whatever_the_umask(tmp_path):
    """
    GIVEN a shell with umask 000
    WHEN  duban makes a home, imports the plan, sends the June forms and takes in a reply
    THEN  every folder under registry/, inbox/, outbox/ is 0700 and every file 0600
    """
    home = tmp_path / "home"

    def run(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "mailer", *args], capture_output=True, text=True,
                              env=dict(os.environ), preexec_fn=lambda: os.umask(0), timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]

    run("init", str(home))
    run("--home", str(home), "import", str(EXAMPLES / "directory-2022.xlsx"), str(EXAMPLES / "notice-2022.docx"))
    run("--home", str(home), "run", "--once", "--yes", "--now", "2022-06-10T09:00")
    run("--home", str(home), "mail", "check")  # makes inbox/drop/ for the folder transport
    (home / "inbox" / "drop" / "q.eml").write_bytes(mail("jcg@jyj.example.gov.cn", "请问", "表格在哪里下载？"))
    run("--home", str(home), "run", "--once", "--yes", "--now", "2022-06-13T09:00")
    assert list((home / "outbox").rglob("*.docx")) and list((home / "outbox").rglob("*.eml"))
    assert list((home / "inbox" / "archive").rglob("*.eml"))
    assert (home / "registry" / "registry.sqlite3").exists()
    wrong = [w for name in ("registry", "inbox", "outbox") for w in _modes(home / name)]
    wrong = [w for w in wrong if not w.startswith("inbox/drop/q.eml")]  # the file we dropped ourselves
    assert wrong == []
    assert stat.S_IMODE((home / "duban.id").stat().st_mode) == 0o600


def test_links_in_the_drop_folder_are_never_followed(home, tmp_path, caplog):
    """
    GIVEN links in inbox/drop: one to /etc/passwd, one to a real mail outside the home
    WHEN  intake polls (twice)
    THEN  neither is read, archived or moved; the log names each once; `check` names them; a file swapped
          for a link after listing is refused at fetch
    """
    from mailer.registry.store import open_registry

    drop = home.inbox / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside.eml"
    outside.write_bytes(mail("jcg@jyj.example.gov.cn", "外部文件", "x"))
    (drop / "passwd.eml").symlink_to("/etc/passwd")
    (drop / "outside.eml").symlink_to(outside)
    engine = open_registry(home.database_url)
    t = FolderTransport(home)
    with caplog.at_level(logging.WARNING, logger="mailer.transport.folder"):
        assert t.list_new() == []
        report = poll(home, engine, t, now=at(13, 12))
        poll(home, engine, t, now=at(13, 13))
    assert (report.taken, report.failed) == (0, 0)
    assert caplog.text.count("passwd.eml") == 1 and caplog.text.count("outside.eml") == 1
    assert "symbolic link, never followed" in caplog.text
    assert not list((home.inbox / "archive").rglob("*.eml")) if (home.inbox / "archive").exists() else True
    assert (drop / "passwd.eml").is_symlink() and (drop / "outside.eml").is_symlink()
    with pytest.raises(TransportError, match="符号链接"):
        t.check()
    # Even named with the right content hash (a link swapped in after listing), it is not followed.
    sha = hashlib.sha256(outside.read_bytes()).hexdigest()
    with pytest.raises(TransportError, match="Cannot read"):
        t.fetch(f"outside.eml#{sha}")
