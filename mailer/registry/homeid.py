"""The home's identity, so that its registry is never silently replaced.

`duban init` gives a home an id: written in ``duban.id`` at the home's top and, at the same moment, in
the registry's ``meta`` table (SQLite file or PostgreSQL alike). Every command and the service open the
registry through :func:`open_home_registry`, which refuses to run when a home that was initialised has
lost its registry (missing, 0 bytes, no tables) or holds another home's: otherwise the next poll would
take the waiting mail into an empty registry and acknowledge it. A folder with neither marker nor
registry is not a home: only `duban init` makes one. A home of the first version (registry, no marker)
is adopted: the marker is written from the registry.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from mailer.common.config import Settings
from mailer.common.errors import RegistryError
from mailer.registry.marker import MARKER, read_marker, write_marker
from mailer.registry.model import RegistryMeta
from mailer.registry.store import atomic, close_all, open_registry, quick_check, safe_url, sqlite_path

log = logging.getLogger(__name__)
HOME_ID = "home_id"


def registry_id(engine: Engine) -> str | None:
    """The home id recorded in the registry (None for a registry made before ids existed)."""
    with atomic(engine) as s:
        row = s.get(RegistryMeta, HOME_ID)
        return row.value if row is not None else None


def _set_registry_id(engine: Engine, home_id: str) -> None:
    with atomic(engine) as s:
        s.merge(RegistryMeta(key=HOME_ID, value=home_id))


def _where(settings: Settings) -> str:
    url = settings.database_url
    path = sqlite_path(url)
    return str(path) if path is not None else safe_url(url)


def _registry_state(settings: Settings) -> str:
    """"present", "missing" or "empty" (0 bytes, or a database without duban's tables)."""
    url = settings.database_url
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            return "missing"
        return "present" if path.stat().st_size > 0 else "empty"
    try:
        probe = create_engine(url)
        try:
            return "present" if inspect(probe).has_table("alembic_version") else "empty"
        finally:
            probe.dispose()
    except ImportError as e:
        raise RegistryError(
            "registry_url 指向 PostgreSQL，但未安装其驱动 psycopg。请运行 pip install 'duban[postgres]' 后再试。"
        ) from e
    except SQLAlchemyError as e:
        raise RegistryError(f"登记簿数据库 {safe_url(url)} 无法连接：{e}。请检查 registry_url 和数据库服务器。") from e


_STATE_CN = {"missing": "不存在", "empty": "是空的（0 字节或没有 duban 的表）"}


def _lost(settings: Settings, state: str, home_id: str) -> RegistryError:
    home = settings.home
    if sqlite_path(settings.database_url) is None:
        return RegistryError(
            f"目录 {home} 由 `duban init` 建立（标识 {home_id[:8]}），但登记簿数据库 {_where(settings)} 是空的"
            "（没有 duban 的表，或没有 registry_schema 指定的模式）。为免把待处理的邮件收进一个空登记簿，duban 拒绝运行，也没有确认任何邮件。"
            "请检查 registry_url 和 registry_schema 是否写对，或请数据库管理员从备份（pg_dump）恢复；"
            f"确需从头建立空登记簿，运行 `duban init --recreate-registry {home}`。"
        )
    return RegistryError(
        f"目录 {home} 由 `duban init` 建立（标识 {home_id[:8]}），但其登记簿 {_where(settings)} {_STATE_CN[state]}。"
        "为免把待处理的邮件收进一个空登记簿，duban 拒绝运行，也没有确认任何邮件。"
        f"请从备份恢复登记簿后再运行；确需从头建立空登记簿，运行 `duban init --recreate-registry {home}`"
        "（原文件改名保留）。"
    )


def _set_aside(settings: Settings) -> list[Path]:
    """Rename a lost, empty or foreign SQLite registry (and its -wal/-shm) out of the way, never deleting it."""
    path = sqlite_path(settings.database_url)
    if path is None:
        return []
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    moved = []
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            target = p.with_name(f"{p.name}.replaced-{stamp}")
            p.replace(target)
            moved.append(target)
    return moved


def _create(settings: Settings, home_id: str) -> Engine:
    engine = open_registry(settings.database_url, create=True)
    _set_registry_id(engine, home_id)
    # The marker last: a crash before it leaves a registry without a marker, which is adopted next time.
    write_marker(settings.home, home_id)
    log.info("Registry %s created for home %s (id %s)", _where(settings), settings.home, home_id)
    return engine


def registry_fingerprint(settings: Settings) -> tuple[int, int] | None:
    """(device, inode) of a SQLite registry file, to notice it being deleted or replaced under a running
    service (whose open connections would go on writing into the deleted file); None for other databases
    or a missing file."""
    path = sqlite_path(settings.database_url)
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def recreate_registry(settings: Settings) -> tuple[Engine, bool, list[Path]]:
    """`duban init --recreate-registry`: a missing, empty or foreign registry is set aside (renamed) and a
    new, empty one made for the home's id (so is a damaged one); the home's own healthy registry is kept.

    :returns: the engine, whether a new registry was made, and the files set aside
    :raises RegistryError: the registry is a database with tables (PostgreSQL): it is never wiped
    """
    marker = read_marker(settings.home)
    state = _registry_state(settings)
    if state == "present" and sqlite_path(settings.database_url) is None:
        raise RegistryError(
            f"登记簿数据库 {_where(settings)} 中已有 duban 的表，--recreate-registry 不会清空数据库。"
            "确需重建，请由数据库管理员备份后删除这些表，再运行本命令。"
        )
    if state == "present":
        try:
            engine = open_registry(settings.database_url)
            ours = marker is not None and registry_id(engine) in (marker, None) and not quick_check(engine)
        except (RegistryError, SQLAlchemyError):
            ours = False  # unreadable: set aside like a foreign one
        if ours:
            return engine, False, []  # the home's own registry, healthy: nothing to recreate
        close_all()
    moved = _set_aside(settings)
    for p in moved:
        log.warning("Registry file set aside as %s", p)
    return _create(settings, marker or uuid.uuid4().hex), True, moved


def open_home_registry(
    settings: Settings, *, create: bool = False, verify: bool = False
) -> Engine:
    """The home's registry, checked to be its own; the one way commands and the service open it.

    :param create: `duban init`: a folder without marker and registry gets both
    :param verify: also run ``PRAGMA quick_check`` (service start, `duban check`)
    :raises RegistryError: the registry is missing, empty, another home's, or damaged; or the folder is
        not a home and ``create`` is not given
    """
    home = settings.home
    marker = read_marker(home)
    state = _registry_state(settings)
    if state != "present":
        if marker is not None:
            raise _lost(settings, state, marker)
        if not create:
            raise RegistryError(
                f"{home} 不是 duban 目录：没有目录标识 {MARKER}，也没有登记簿 {_where(settings)}。"
                f"请先运行 `duban init {home}` 建立目录，或用 --home（或 DUBAN_HOME）指向已有的 duban 目录。"
            )
        return _create(settings, uuid.uuid4().hex)
    engine = open_registry(settings.database_url)
    if verify:
        # The file's pages first, then Alembic (a deliberate check runs it whatever the revision): Alembic
        # on a damaged file fails with SQLite's bare "malformed", quick_check says where.
        problems = quick_check(engine)
        if problems:
            raise RegistryError(
                f"登记簿 {_where(settings)} 已损坏（PRAGMA quick_check：{'；'.join(problems[:3])[:300]}）。"
                "duban 不会在损坏的登记簿上运行：请停止 duban，从备份恢复该文件后运行 `duban check`。"
            )
        engine = open_registry(settings.database_url, full_migration=True)
    stored = registry_id(engine)
    if marker is None:
        # A home made before ids existed (or whose marker was lost): adopt it rather than refuse.
        home_id = stored or uuid.uuid4().hex
        if stored is None:
            _set_registry_id(engine, home_id)
        write_marker(home, home_id)
        log.warning("Home %s adopted: marker %s written (id %s)", home, MARKER, home_id)
    elif stored is None:
        _set_registry_id(engine, marker)  # a registry from before ids existed, restored into this home
        log.warning("Registry %s of home %s given the home's id %s", _where(settings), home, marker)
    elif stored != marker:
        raise RegistryError(
            f"登记簿 {_where(settings)} 不属于目录 {home}：登记簿的标识是 {stored[:8]}，本目录（{MARKER}）的是 "
            f"{marker[:8]}。可能换错了登记簿文件或 registry_url。请恢复本目录自己的登记簿，或用 --home 指向该登记簿"
            f"所属的目录；确需为本目录新建空登记簿，运行 `duban init --recreate-registry {home}`。"
        )
    return engine
