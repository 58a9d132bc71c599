"""registry_url / registry_schema as the clerk writes them: checked with Chinese messages, no server needed
(the settings' own checks), and a database that does not answer is named plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.common.config import DEFAULT_TOML, load_settings
from mailer.common.errors import ConfigError


def _home(tmp_path: Path, head: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "duban.toml").write_text(head + DEFAULT_TOML, encoding="utf-8")
    return tmp_path


def test_registry_schema_goes_into_the_url_as_the_search_path(tmp_path: Path):
    s = load_settings(_home(tmp_path, 'registry_url = "postgresql://duban@db/duban"\nregistry_schema = "county_a"\n'))
    assert s.database_url == "postgresql+psycopg://duban@db/duban?options=-csearch_path%3Dcounty_a"
    from mailer.registry.store import pg_schema

    assert pg_schema(s.database_url) == "county_a"


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ('registry_schema = "county_a"\n', "registry_schema 只用于 PostgreSQL"),
        ('registry_url = "postgresql+psycopg://duban@db/duban"\nregistry_schema = "County-A"\n', "不是可用的模式名"),
        ('registry_url = "postgresql+psycopg://duban:secret@db/duban"\n', "不得写入数据库密码"),
    ],
)
def test_bad_registry_settings_are_refused_in_chinese(tmp_path: Path, head: str, says: str):
    with pytest.raises(ConfigError, match=says):
        load_settings(_home(tmp_path, head))


def test_a_database_that_does_not_answer_is_named_without_a_traceback(tmp_path: Path):
    home = _home(tmp_path, 'registry_url = "postgresql+psycopg://duban@127.0.0.1:1/duban"\n')
    out = CliRunner().invoke(cli, ["--home", str(home), "status"])
    assert out.exit_code == 1
    assert "登记簿数据库 postgresql+psycopg://duban@127.0.0.1:1/duban 无法连接" in out.output, out.output


def test_the_service_env_file_offers_pgpassword_only_for_a_postgresql_registry(tmp_path: Path):
    from mailer.service.deploy import systemd_unit

    pg = load_settings(_home(tmp_path / "pg", 'registry_url = "postgresql://duban@db/duban"\n'))
    lite = load_settings(_home(tmp_path / "lite", ""))
    env = tmp_path / "x.env"
    assert "#PGPASSWORD=" in systemd_unit(pg, user_unit=True, run_as=None, env_path=env).env
    assert "PGPASSWORD" not in systemd_unit(lite, user_unit=True, run_as=None, env_path=env).env
