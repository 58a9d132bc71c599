"""A duban home: `duban init`, strict configuration, secrets only from the environment."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.common.errors import ConfigError


def test_init_makes_the_folders_the_config_the_templates_and_the_registry(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "h")])
    assert result.exit_code == 0, result.output
    home = tmp_path / "h"
    for name in ("templates", "registry", "inbox", "outbox", "duban.toml"):
        assert (home / name).exists()
    assert (home / "templates" / "progress_form.docx").exists()
    assert (home / "templates" / "consolidated_notice.docx").exists()
    assert (home / "templates" / "mail" / "form.txt").exists()
    assert not (home / "templates" / "src").exists()
    assert (home / "registry" / "registry.sqlite3").exists()
    assert load_settings(home).mail.transport == "folder"


def test_init_never_overwrites_the_bureaus_own_templates(tmp_path):
    home = tmp_path / "h"
    (home / "templates" / "mail").mkdir(parents=True)
    (home / "templates" / "mail" / "form.txt").write_text("Subject: 本局自定义\n正文", encoding="utf-8")
    CliRunner().invoke(cli, ["init", str(home)])
    assert (home / "templates" / "mail" / "form.txt").read_text(encoding="utf-8").startswith("Subject: 本局自定义")


def test_a_password_written_in_the_file_is_refused(tmp_path):
    (tmp_path / "duban.toml").write_text('[mail.imap]\npassword = "secret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="DUBAN_IMAP_PASSWORD"):
        load_settings(tmp_path)


def test_secrets_come_from_the_environment_and_are_never_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("DUBAN_IMAP_PASSWORD", "s3cr3t-value")
    settings = load_settings(tmp_path)
    assert settings.mail.imap.password == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_an_unknown_key_or_a_wrong_type_names_the_key(tmp_path):
    (tmp_path / "duban.toml").write_text("[cycle]\ndue_dy = 20\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cycle\.due_dy"):
        load_settings(tmp_path)
    (tmp_path / "duban.toml").write_text('[cycle]\ndue_day = "20"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cycle\.due_day"):
        load_settings(tmp_path)


def test_the_home_comes_from_the_option_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DUBAN_HOME", str(tmp_path))
    assert load_settings().home == tmp_path.resolve()
