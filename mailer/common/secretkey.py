"""The secret key that signs form tokens: at least 32 random bytes, created once, atomically, private.

Every token already mailed out depends on the key, so a key that is there but too short (an empty file
left by a full disk at first creation makes every token computable) is refused, never silently replaced.
A new key is written to a private temporary file, fsynced and linked into place, so a crash or a full
disk leaves either no key or the whole key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import string
from pathlib import Path

from mailer.common.errors import ConfigError
from mailer.common.files import private_dir

log = logging.getLogger(__name__)
MIN_BYTES = 32
_warned: set[Path] = set()
_HEX = frozenset(string.hexdigits)


def key_strength(key: bytes) -> int:
    """How many bytes of key material ``key`` holds: a hex text counts half its length (the key files
    duban writes hold 64 hex digits), anything else its length."""
    text = key.strip()
    if text and all(chr(b) in _HEX for b in text):
        return len(text) // 2
    return len(text)


def _refuse_short(key: bytes, where: str, fix: str) -> None:
    n = key_strength(key)
    if n < MIN_BYTES:
        raise ConfigError(
            f"{where} 只有 {n} 字节的密钥（至少需要 {MIN_BYTES} 字节随机数据），用它签发的表单编号可以被猜出。{fix}"
        )


def from_env(value: str) -> bytes:
    """DUBAN_SECRET_KEY, checked for length.

    :raises ConfigError: when it holds fewer than 32 bytes of key material
    """
    key = value.encode()
    _refuse_short(
        key,
        "环境变量 DUBAN_SECRET_KEY",
        "请设为至少 64 位十六进制随机数，例如 `python -c 'import secrets; print(secrets.token_hex(32))'` 的输出；"
        "若已用它发出过表单，请改回原来的完整密钥。",
    )
    return key


def others_can_read(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def permission_warning(path: Path) -> str | None:
    """A Chinese warning when the key file can be read by the group or others, else None."""
    if not others_can_read(path):
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    return (
        f"密钥文件 {path} 的权限是 {mode:o}，同组或其他用户可以读取，可能被用来伪造表单编号。"
        f"请运行 `chmod 600 {path}`。"
    )


def _create(path: Path) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.unlink(missing_ok=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(secrets.token_hex(MIN_BYTES).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link, not rename: a key another process created meanwhile is kept, never overwritten.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def from_file(path: Path) -> bytes:
    """The key in ``path``, created (32 random bytes as hex) when the file does not exist.

    :raises ConfigError: the file is empty or too short, unreadable, or cannot be created
    """
    if not path.exists():
        try:
            _create(path)
        except OSError as e:
            raise ConfigError(
                f"没有设置 DUBAN_SECRET_KEY，密钥文件 {path} 也无法创建（{e}）。"
                "请腾出磁盘空间或检查目录权限，或在 duban.toml 中把 key_file 设为可写的路径，或设置 DUBAN_SECRET_KEY。"
            ) from e
        log.info("Secret key created in %s", path)
    try:
        key = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"密钥文件 {path} 无法读取（{e}）。请检查其权限（应为 600，属于运行 duban 的用户）。") from e
    _refuse_short(
        key,
        f"密钥文件 {path}",
        "已发出的表单编号依赖这个密钥，duban 不会自动替换它：请从备份恢复该文件；"
        "如确认还没有用它发出过任何表单，删除该文件，duban 会重新生成。",
    )
    if path not in _warned and others_can_read(path):
        _warned.add(path)  # read for every form: say it once per process; `duban check` says it every time
        log.warning("Key file %s is readable by group/others; chmod 600 it", path)
    return key
