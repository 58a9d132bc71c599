"""`duban service install`: run `duban serve` as a systemd service, or print the Windows commands."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mailer.cli.base import Context, cli, pass_ctx
from mailer.common.errors import ConfigError


@cli.group("service")
def service_group() -> None:
    """Install `duban serve` as a service (systemd on Linux; NSSM or the Task Scheduler on Windows)."""


@service_group.command("install")
@click.option("--systemd", "kind", flag_value="systemd", help="Write a systemd unit (Linux).")
@click.option("--windows", "kind", flag_value="windows", help="Print the commands for a Windows service.")
@click.option("--user", "user_unit", is_flag=True, help="A user unit (systemctl --user) instead of a system one.")
@click.option("--run-as", help="The user a system unit runs as (default: the owner of the home).")
@click.option("--print", "print_only", is_flag=True, help="Print the unit and write nothing.")
@click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the unit (default: /etc/systemd/system, or ~/.config/systemd/user).")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The secrets file (default: /etc/duban/NAME.env, or ~/.config/duban/NAME.env).")
@pass_ctx
def install_cmd(ctx: Context, kind: str | None, user_unit: bool, run_as: str | None, print_only: bool,  # noqa: FBT001
                unit_dir: Path | None, env_file: Path | None) -> None:
    """Run this home's `duban serve` as a service that starts at boot and restarts after a failure.

    \b
    Examples:
        sudo duban --home /srv/duban-2022 service install --systemd
        duban service install --systemd --user
        duban service install --systemd --print
        duban service install --windows
    """
    from mailer.service import deploy

    settings = ctx.settings
    if kind is None:
        raise ConfigError("请指定服务类型：--systemd（Linux）或 --windows（打印安装 Windows 服务的命令）。")
    if kind == "windows":
        click.echo(deploy.windows_commands(settings), nl=False)
        return
    name = deploy.service_name(settings.home)
    if user_unit:
        run_as = None
        key_dir = None
        default_dir = Path.home() / ".config" / "systemd" / "user"
        default_env = Path.home() / ".config" / "duban" / f"{name}.env"
    else:
        run_as = run_as or settings.home.owner()
        key_dir = None if settings.key_file else Path(f"~{run_as}").expanduser() / ".config" / "duban"
        default_dir = Path("/etc/systemd/system")
        default_env = Path("/etc/duban") / f"{name}.env"
    unit = deploy.systemd_unit(settings, user_unit=user_unit, run_as=run_as, env_path=(env_file or default_env).absolute(),
                               key_dir=key_dir)
    if print_only:
        click.echo(unit.unit, nl=False)
        return
    installed = deploy.install_systemd(unit, unit_dir or default_dir, owner=run_as)
    systemctl = "systemctl --user" if user_unit else "systemctl"
    journal = "journalctl --user" if user_unit else "journalctl"
    click.echo(f"已写入 systemd 单元：{installed.unit_path}")
    if installed.env_written:
        click.echo(f"已写入环境文件（权限 0600，请填入邮箱密码等机密）：{unit.env_path}")
    else:
        click.echo(f"环境文件已存在，未改动：{unit.env_path}")
    click.echo("接下来运行：")
    click.echo(f"  {systemctl} daemon-reload && {systemctl} enable --now {name}.service")
    click.echo(f"  {systemctl} status {name}.service    # 查看运行状态；日志：{journal} -u {name}.service -f")
    if user_unit:
        click.echo(f"  loginctl enable-linger {os.environ.get('USER', '$USER')}    # 未登录时也运行")
