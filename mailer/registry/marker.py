"""The home's marker file ``duban.id``: the home's id, which its registry's ``meta`` table holds too.

Apart from mailer.registry.homeid (which opens the registry through SQLAlchemy) so that the short commands'
plain reading (mailer.registry.rows) can compare the two without importing SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path

from mailer.common.errors import RegistryError
from mailer.common.files import write_atomic

MARKER = "duban.id"
_HEADER = (
    "# duban 目录标识：由 `duban init` 写入，登记簿 meta 表中有同一标识。请勿修改、删除或复制到别的目录。\n"
)


def read_marker(home: Path) -> str | None:
    """The id in ``home/duban.id`` (None when the home has no marker)."""
    path = home / MARKER
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise RegistryError(f"目录标识文件 {path} 无法读取（{e}）。请检查其权限，或从备份恢复。") from e
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise RegistryError(
            f"目录标识文件 {path} 是空的。请从备份恢复该文件；它应与登记簿 meta 表中的 home_id 相同。"
        )
    return lines[-1]


def write_marker(home: Path, home_id: str) -> None:
    write_atomic(home / MARKER, (_HEADER + home_id + "\n").encode("utf-8"))
