"""`duban setup mail` against the real dovecot + SMTP servers, and `duban check` refusing a home whose
directory is real while its mail is not (9.2: "sent 10" while nothing left the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mailserver import DOMAIN, MailServers
from openpyxl import load_workbook

from mailer.cli import cli
from mailer.common.config import DEFAULT_TOML, Settings, load_settings
from mailer.plan.importer import import_file
from mailer.registry.store import open_registry
from mailer.service.checks import check_real_mail
from mailer.service.demo import EXAMPLES
from mailer.service.mailsetup import MailChoice, edit_mail_section, is_example_address

BGS = f"bgs@{DOMAIN}"


def setup_args(home: Settings, servers: MailServers, *extra: str) -> list[str]:
    return [
        "--home", str(home.home), "setup", "mail", "--transport", "imap", "--host", "127.0.0.1",
        "--port", str(servers.imaps_port), "--security", "ssl", "--username", BGS,
        "--smtp-port", str(servers.smtp_port), "--smtp-security", "starttls",
        "--ca-file", str(servers.ca_file), "--from-address", BGS, *extra,
    ]  # fmt: skip


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch, mail_servers: MailServers) -> MailServers:
    monkeypatch.setenv("DUBAN_IMAP_PASSWORD", mail_servers.users[BGS])
    monkeypatch.setenv("DUBAN_SMTP_PASSWORD", mail_servers.users[BGS])
    return mail_servers


@pytest.mark.imap
def test_setup_mail_tests_the_login_then_writes_the_mail_section(home: Settings, passwords: MailServers) -> None:
    """GIVEN a new home (folder transport, commented duban.toml) and the passwords in the environment
    WHEN  `duban setup mail` is run with every answer as an option
    THEN  IMAP and SMTP logins are tested (nothing sent), [mail] is written with the file's comments kept
          and no password, the clerk is told in Chinese which variables to set, and `duban mail check` works"""
    result = CliRunner().invoke(cli, setup_args(home, passwords))
    assert result.exit_code == 0, result.output
    assert "登录测试通过：IMAP 服务器 127.0.0.1" in result.output and "未发送任何邮件" in result.output
    assert "DUBAN_IMAP_PASSWORD、DUBAN_SMTP_PASSWORD" in result.output
    assert "示例地址" in result.output  # the test servers' domain is an example one: said so
    text = (home.home / "duban.toml").read_text(encoding="utf-8")
    assert text.startswith("# duban home configuration.") and "# [mail.exchange]" in text
    assert "first_month = 6          # reports are due monthly" in text
    assert passwords.users[BGS] not in text
    settings = load_settings(home.home)
    assert settings.mail.transport == "imap" and settings.mail.from_address == BGS
    assert (settings.mail.imap.host, settings.mail.imap.port) == ("127.0.0.1", passwords.imaps_port)
    assert (settings.mail.smtp.port, settings.mail.smtp.security) == (passwords.smtp_port, "starttls")
    assert settings.mail.smtp.ca_file == str(passwords.ca_file)
    check = CliRunner().invoke(cli, ["--home", str(home.home), "mail", "check"])
    assert check.exit_code == 0 and "IMAP 127.0.0.1" in check.output


@pytest.mark.imap
@pytest.mark.parametrize("wrong", ["DUBAN_IMAP_PASSWORD", "DUBAN_SMTP_PASSWORD"])
def test_a_wrong_password_changes_nothing(
    home: Settings, passwords: MailServers, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    monkeypatch.setenv(wrong, "not-the-password")
    before = (home.home / "duban.toml").read_bytes()
    result = CliRunner().invoke(cli, setup_args(home, passwords))
    assert result.exit_code == 1
    assert "错误：登录测试失败，duban.toml 未作改动" in result.output
    assert ("IMAP login" if "IMAP" in wrong else "SMTP login") in result.output
    assert "DUBAN_IMAP_PASSWORD、DUBAN_SMTP_PASSWORD" in result.output
    assert (home.home / "duban.toml").read_bytes() == before


def test_an_unreachable_server_changes_nothing_unless_told_not_to_test(home: Settings) -> None:
    args = ["--home", str(home.home), "setup", "mail", "--transport", "imap", "--host", "127.0.0.1", "--port", "1",
            "--security", "none", "--username", "bgs@jyj.gov.cn", "--smtp-port", "1"]  # fmt: skip
    before = (home.home / "duban.toml").read_bytes()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "无法连接邮件服务器，duban.toml 未作改动" in result.output
    assert "--no-test" in result.output
    assert (home.home / "duban.toml").read_bytes() == before
    result = CliRunner().invoke(cli, [*args, "--no-test"])
    assert result.exit_code == 0, result.output
    assert "未测试登录" in result.output and "示例地址" not in result.output
    mail = load_settings(home.home).mail
    assert (mail.transport, mail.from_address, mail.imap.username) == ("imap", "bgs@jyj.gov.cn", "bgs@jyj.gov.cn")


def test_guided_setup_asks_for_what_is_missing(home: Settings) -> None:
    answers = "exchange\nhttps://mail.jyj.gov.cn/EWS/Exchange.asmx\nbgs@jyj.gov.cn\nJYJ\\bgs\n"
    result = CliRunner().invoke(cli, ["--home", str(home.home), "setup", "mail", "--no-test"], input=answers)
    assert result.exit_code == 0, result.output
    assert "邮件服务器类型" in result.output and "Exchange EWS 地址" in result.output
    assert "DUBAN_EWS_PASSWORD" in result.output
    ews = load_settings(home.home).mail.exchange
    assert (ews.endpoint, ews.primary_address, ews.username, ews.auth) == (
        "https://mail.jyj.gov.cn/EWS/Exchange.asmx", "bgs@jyj.gov.cn", "JYJ\\bgs", "ntlm",
    )  # fmt: skip


def test_editing_keeps_other_keys_and_comments() -> None:
    text = DEFAULT_TOML + '\n[mail.imap]\nprocessed_folder = "督办已处理"   # the bureau\'s own name\n'
    out = edit_mail_section(text, MailChoice("imap", "bgs@jyj.gov.cn", "", {"imap": {"host": "mail.jyj.gov.cn"}}))
    assert 'processed_folder = "督办已处理"   # the bureau\'s own name' in out
    assert 'host = "mail.jyj.gov.cn"' in out and 'transport = "imap"' in out
    assert out.count("[mail.imap]") == 2  # the commented example and the real table
    assert "# Secrets never go here" in out and "[service]\npoll_minutes = 5" in out


def test_example_addresses() -> None:
    for addr in ("bgs@jyj.example.gov.cn", "a@example.com", "x@school.test", "y@localhost", "z@host.invalid"):
        assert is_example_address(addr), addr
    for addr in ("bgs@jyj.tsedu.gov.cn", "jcg@163.com", "office@examples.org"):
        assert not is_example_address(addr), addr


def real_directory(tmp_path: Path) -> Path:
    wb = load_workbook(EXAMPLES / "directory-2022.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and "example.gov.cn" in cell.value:
                    cell.value = cell.value.replace("jyj.example.gov.cn", "jyj.tsedu.gov.cn")
    path = tmp_path / "名录.xlsx"
    wb.save(path)
    return path


def check(home: Settings) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--home", str(home.home), "check", "--no-mail"])
    return result.exit_code, result.output


def test_check_fails_on_real_addresses_with_the_folder_transport_or_the_example_sender(
    home: Settings, tmp_path: Path
) -> None:
    """GIVEN a home whose directory holds the bureau's real addresses
    WHEN  `duban check` runs with the folder transport and the example sender, then with IMAP and the
          example sender, then with IMAP and a real sender
    THEN  it fails naming each problem and `duban setup mail`, and passes once both are real"""
    engine = open_registry(home.database_url)
    import_file(home, engine, EXAMPLES / "notice-2022.docx")
    import_file(home, engine, real_directory(tmp_path))
    code, out = check(home)
    assert code == 1
    assert "邮件方式仍是 folder：表格只会写入 outbox/mail/，不会真正发出。请运行 `duban setup mail`" in out
    assert "发件地址 mail.from_address 仍是示例地址 bgs@jyj.example.gov.cn" in out
    assert "jyj.tsedu.gov.cn" in out
    toml = home.home / "duban.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('transport = "folder"', 'transport = "imap"'),
                    encoding="utf-8")
    code, out = check(home)
    assert "邮件方式仍是 folder" not in out and "仍是示例地址" in out and code == 1
    toml.write_text(toml.read_text(encoding="utf-8").replace("bgs@jyj.example.gov.cn", "bgs@jyj.tsedu.gov.cn"),
                    encoding="utf-8")
    code, out = check(home)
    assert "仍是示例地址" not in out and "邮件方式" not in out


def test_check_accepts_a_demo_home(home: Settings) -> None:
    engine = open_registry(home.database_url)
    import_file(home, engine, EXAMPLES / "notice-2022.docx")
    import_file(home, engine, EXAMPLES / "directory-2022.xlsx")
    assert check_real_mail(home, engine) == []
    _, out = check(home)
    assert "邮件方式仍是 folder" not in out and "仍是示例地址" not in out
