"""`duban service install`: a systemd unit that systemd itself accepts (checked with `systemd-analyze
verify`, installed by tests/setup.sh), an environment file for the secrets that is never overwritten, and
the Windows commands (text only: Windows is not run here)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import IN_CI

from mailer.cli import cli
from mailer.common.config import init_home

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None and not IN_CI,
                                   reason="systemd-analyze is not installed (tests/setup.sh installs it)")


@pytest.fixture
def odd_home(tmp_path) -> Path:
    """A home whose path has a blank, Chinese and a % (a systemd specifier) in it."""
    return init_home(tmp_path / "督办 2022%")


def install(home: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home), "service", "install", *args])
    assert result.exit_code == 0, result.output
    return result.output


def verify(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    # verify exits 0 on unknown keys too, and only warns: any output is a finding.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@needs_analyze
def test_the_system_unit_is_accepted_by_systemd_and_sandboxes_the_service(odd_home, tmp_path):
    out = install(odd_home, "--systemd", "--unit-dir", str(tmp_path / "units"),
                  "--env-file", str(tmp_path / "etc" / "duban.env"))
    unit = tmp_path / "units" / "duban-2022.service"
    verify(unit)
    text = unit.read_text(encoding="utf-8")
    escaped = str(odd_home).replace("%", "%%")
    exe = str(Path(sys.executable).parent / "duban")
    assert f'ExecStart={exe} --home "{escaped}" serve' in text
    assert f"WorkingDirectory={escaped}\n" in text
    for line in ("Type=simple", "Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=180", "UMask=0077",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "WantedBy=multi-user.target",
                 f"EnvironmentFile=-{tmp_path / 'etc' / 'duban.env'}", f"User={odd_home.owner()}"):
        assert line + "\n" in text
    assert f'ReadWritePaths="{escaped}" -' in text
    env = tmp_path / "etc" / "duban.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "#DUBAN_IMAP_PASSWORD=" in env.read_text(encoding="utf-8")
    assert out.splitlines()[-2:] == [
        "  systemctl daemon-reload && systemctl enable --now duban-2022.service",
        "  systemctl status duban-2022.service    # 查看运行状态；日志：journalctl -u duban-2022.service -f",
    ]


def test_a_second_install_keeps_the_secrets_file(odd_home, tmp_path):
    env = tmp_path / "duban.env"
    install(odd_home, "--systemd", "--unit-dir", str(tmp_path / "u"), "--env-file", str(env))
    env.write_text("DUBAN_IMAP_PASSWORD=s3cret\n", encoding="utf-8")
    out = install(odd_home, "--systemd", "--unit-dir", str(tmp_path / "u"), "--env-file", str(env))
    assert env.read_text(encoding="utf-8") == "DUBAN_IMAP_PASSWORD=s3cret\n"
    assert f"环境文件已存在，未改动：{env}" in out


@needs_analyze
def test_the_user_unit_is_accepted_and_leaves_out_the_system_sandbox(odd_home, tmp_path):
    out = install(odd_home, "--systemd", "--user", "--unit-dir", str(tmp_path / "u"),
                  "--env-file", str(tmp_path / "d.env"))
    unit = tmp_path / "u" / "duban-2022.service"
    verify(unit)
    text = unit.read_text(encoding="utf-8")
    assert "User=" not in text and "ProtectSystem" not in text
    assert "WantedBy=default.target\n" in text
    assert "systemctl --user daemon-reload && systemctl --user enable --now duban-2022.service" in out
    assert "loginctl enable-linger" in out


def test_print_writes_nothing(odd_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = install(odd_home, "--systemd", "--print", "--unit-dir", str(tmp_path / "u"))
    assert out.startswith("# Written by `duban service install --systemd`")
    assert "[Service]" in out and "ExecStart=" in out
    assert not (tmp_path / "u").exists()


def test_no_kind_is_a_clear_error(odd_home):
    result = CliRunner().invoke(cli, ["--home", str(odd_home), "service", "install"])
    assert result.exit_code == 1
    assert result.output.strip() == "错误：请指定服务类型：--systemd（Linux）或 --windows（打印安装 Windows 服务的命令）。"


def test_the_windows_commands_install_serve_with_nssm(odd_home):
    out = install(odd_home, "--windows")
    exe = str(Path(sys.executable).parent / "duban")
    assert f'nssm install duban-2022 "{exe}" --home "{odd_home}" serve' in out
    assert f'nssm set duban-2022 AppDirectory "{odd_home}"' in out
    assert "nssm set duban-2022 AppExit Default Restart" in out
    assert "nssm start duban-2022" in out
    assert 'schtasks /Create /TN "duban-2022" /SC ONSTART /RU SYSTEM' in out
    assert "duban.toml" in out  # secrets: not in the file, as service environment


def test_an_unwritable_unit_folder_is_a_clear_error_and_writes_nothing(odd_home, tmp_path):
    # (The suite runs as root, so a folder without write permission would not stop it: a file in the way.)
    (tmp_path / "units").write_text("a file where a folder should be", encoding="utf-8")
    target = tmp_path / "units" / "systemd"
    result = CliRunner().invoke(cli, ["--home", str(odd_home), "service", "install", "--systemd",
                                      "--unit-dir", str(target), "--env-file", str(tmp_path / "d.env")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"错误：无法写入 {target}（Not a directory）。安装系统服务请用 sudo 运行，"
        "或加 --user 安装为当前用户的服务，或用 --unit-dir / --env-file 指定可写的位置。"
    )
    assert not (tmp_path / "d.env").exists()
