"""How duban runs as a service where the bureau keeps it: the texts of a systemd unit and its environment
file (secrets stay out of the unit), and the commands that make a Windows service of `duban serve` (NSSM,
or the Task Scheduler where NSSM is not allowed). Only text is made here; `duban service install` writes it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from mailer.common.config import Settings, default_key_file
from mailer.common.errors import DubanError

# The names duban reads its secrets from (mailer.common.config); each may also end in _FILE.
SECRET_NAMES = ("DUBAN_IMAP_PASSWORD", "DUBAN_SMTP_PASSWORD", "DUBAN_EWS_PASSWORD", "DUBAN_EWS_CLIENT_SECRET",
                "DUBAN_SECRET_KEY")
# A stop waits for the current step: an IDLE read returns within 15 s, but a LibreOffice conversion may take
# up to its 120 s timeout; after this systemd kills the service (it catches up at the next start anyway).
STOP_TIMEOUT_S = 180


def service_name(home: Path) -> str:
    """``duban-<home folder>``, kept to the characters every service manager accepts."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", home.name).strip("-.")
    return f"duban-{slug}" if slug else "duban"


def duban_command() -> list[str]:
    """How to start this very installation of duban: its ``duban`` script, else ``python -m mailer``."""
    scripts = Path(sys.executable).parent
    for name in ("duban.exe", "duban") if os.name == "nt" else ("duban",):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    return [sys.executable, "-m", "mailer"]


def _unit_word(word: str) -> str:
    """One word of a command line or a list in a unit: ``%`` doubled (specifiers), quoted when it holds
    blanks or quotes."""
    word = _unit_value(word)
    if re.search(r'[\s"\'\\]', word):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def _unit_value(value: str) -> str:
    """A whole-line value (WorkingDirectory=, EnvironmentFile=, Description=): taken literally, blanks
    included, but for ``%`` specifiers."""
    return value.replace("%", "%%")


@dataclass(frozen=True)
class SystemdUnit:
    name: str
    unit: str  # the text of <name>.service
    env: str  # the text of the environment file (names only, no values)
    env_path: Path
    key_dir: Path  # where the token key lives; made writable for the service


def systemd_unit(settings: Settings, *, user_unit: bool, run_as: str | None, env_path: Path,
                 key_dir: Path | None = None) -> SystemdUnit:
    """The unit that runs `duban serve` on ``settings.home``.

    A system unit runs as ``run_as`` with the file system read-only but for the home and the key folder;
    a user unit (``--user``) leaves out the sandboxing options, which user managers only honour where
    unprivileged user namespaces are enabled.
    """
    home = settings.home
    name = service_name(home)
    if key_dir is None:
        key_dir = Path(settings.key_file).expanduser().parent if settings.key_file else default_key_file().parent
    exec_start = " ".join(_unit_word(w) for w in [*duban_command(), "--home", str(home), "serve"])
    lines = [
        f"# Written by `duban service install --systemd` for the duban home {home}.",
        "# Secrets are not here: they are read from the EnvironmentFile (mode 0600).",
        "[Unit]",
        f"Description=duban 督办 service for {_unit_value(str(home))}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
    ]
    if not user_unit and run_as:
        lines.append(f"User={run_as}")
    lines += [
        f"WorkingDirectory={_unit_value(str(home))}",
        f"EnvironmentFile=-{_unit_value(str(env_path))}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
        "RestartSec=30",
        # The service stops cleanly between steps on SIGTERM (mailer.service.daemon).
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "UMask=0077",
        "NoNewPrivileges=yes",
    ]
    if not user_unit:
        lines += [
            "ProtectSystem=strict",
            f"ReadWritePaths={_unit_word(str(home))} {_unit_word(f'-{key_dir}')}",
            "PrivateTmp=yes",
            "ProtectKernelTunables=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
        ]
    lines += ["", "[Install]", f"WantedBy={'default.target' if user_unit else 'multi-user.target'}", ""]
    env_lines = [
        f"# Secrets of the duban service {name} (home {home}). Keep this file mode 0600.",
        "# Uncomment what your mail transport needs; NAME_FILE=/path reads the value from a file instead.",
        *[f"#{n}=" for n in SECRET_NAMES],
        "",
    ]
    if settings.database_url.startswith("postgresql"):
        # libpq reads the registry database's password from here (registry_url never carries one).
        env_lines[-1:-1] = ["# The PostgreSQL registry's password (or PGPASSFILE=/path/to/.pgpass):", "#PGPASSWORD="]
    return SystemdUnit(name, "\n".join(lines), "\n".join(env_lines), env_path, key_dir)


def windows_commands(settings: Settings) -> str:
    """The commands (cmd.exe, as an administrator) that make `duban serve` a Windows service with NSSM,
    or a start-up task with the Task Scheduler."""
    home = settings.home
    name = service_name(home)
    cmd = duban_command()
    exe, args = cmd[0], [*cmd[1:], "--home", str(home), "serve"]
    quoted = " ".join(f'"{a}"' if " " in a or "\\" in a or ":" in a else a for a in args)
    log = home / "registry" / "service.log"
    task = " ".join([f'\\"{exe}\\"', *(f'\\"{a}\\"' if " " in a else a for a in args)])
    return "\n".join([
        f"rem duban 督办：把 {home} 的服务 {name} 安装为 Windows 服务（以管理员身份在 cmd.exe 中运行）。",
        "rem 方式一：NSSM（https://nssm.cc）。停止服务时 NSSM 先发送 Ctrl+C，duban 会在当前步骤完成后退出。",
        f'nssm install {name} "{exe}" {quoted}',
        f'nssm set {name} AppDirectory "{home}"',
        f'nssm set {name} AppStdout "{log}"',
        f'nssm set {name} AppStderr "{log}"',
        f"nssm set {name} AppStopMethodConsole 60000",
        f"nssm set {name} AppExit Default Restart",
        f"nssm set {name} AppRestartDelay 30000",
        "rem 密码等机密不要写进 duban.toml，作为服务的环境变量设置（每个一行，按需选择）：",
        f"nssm set {name} AppEnvironmentExtra DUBAN_IMAP_PASSWORD=… DUBAN_SMTP_PASSWORD=…",
        f"nssm start {name}",
        "",
        "rem 方式二：任务计划程序（开机时启动，失败不自动重启；机密须设为系统环境变量）。",
        f'schtasks /Create /TN "{name}" /SC ONSTART /RU SYSTEM /TR "{task}"',
        f'schtasks /Run /TN "{name}"',
        "",
    ])


@dataclass(frozen=True)
class Installed:
    unit_path: Path
    env_written: bool  # False: an env file was already there and was left alone (it holds the secrets)


def install_systemd(unit: SystemdUnit, unit_dir: Path, *, owner: str | None) -> Installed:
    """Write ``unit`` into ``unit_dir``, its environment file (mode 0600, never overwritten) and the key
    folder the sandboxed service may write; as root, the key folder belongs to ``owner`` (the service's user).

    :raises DubanError: when a file cannot be written (most often: a system unit without root)
    """
    try:
        return _install_systemd(unit, unit_dir, owner=owner)
    except OSError as e:
        raise DubanError(
            f"无法写入 {e.filename}（{e.strerror}）。安装系统服务请用 sudo 运行，"
            "或加 --user 安装为当前用户的服务，或用 --unit-dir / --env-file 指定可写的位置。"
        ) from e


def _install_systemd(unit: SystemdUnit, unit_dir: Path, *, owner: str | None) -> Installed:
    import shutil

    unit_dir.mkdir(parents=True, exist_ok=True)
    unit_path = unit_dir / f"{unit.name}.service"
    tmp = unit_path.with_name(f".{unit_path.name}.part")
    tmp.write_text(unit.unit, encoding="utf-8")
    tmp.replace(unit_path)
    chown_to = owner if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    env_written = False
    if not unit.env_path.exists():
        unit.env_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(unit.env_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(unit.env)
        env_written = True
    # ProtectSystem=strict leaves only ReadWritePaths writable: the key folder must exist before the
    # first start for the service to create its key there.
    unit.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if chown_to is not None:
        shutil.chown(unit.key_dir, user=chown_to)
    return Installed(unit_path, env_written)
