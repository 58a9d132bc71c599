"""`duban registry copy`: a home's whole registry into a fresh database (SQLite to PostgreSQL, typically).

Every table of the model, parents before children (the foreign keys' order), rows in key order, in one
transaction on the target: a copy that fails leaves the target as empty as it was. The target's schema is
made by the same migrations as always (so it is at the newest revision), and its id sequences are moved past
the copied ids, since PostgreSQL does not advance them for rows inserted with their id. Row counts of both
sides are compared afterwards. The home's id (the ``meta`` table) goes along, so the copy is the home's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from mailer.common.errors import RegistryError
from mailer.registry.model import Base
from mailer.registry.store import clip_row, open_registry, safe_url

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class CopyReport:
    target: str  # the target URL without its password
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    cut: int = 0  # values longer than the target's column allows (SQLite never enforced it), cut to fit

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _target_problem(engine: Engine) -> str | None:
    """Why the target is not fresh (None when it is: no tables but ours, and ours all empty)."""
    ours = {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    found = set(inspect(engine).get_table_names())
    foreign = sorted(found - ours)
    if foreign:
        return f"其中已有别的表（{'、'.join(foreign[:5])}{'等' if len(foreign) > 5 else ''}）"
    with engine.connect() as c:
        filled = [t.name for t in Base.metadata.sorted_tables
                  if t.name in found and c.execute(select(func.count()).select_from(t)).scalar_one()]
    if filled:
        return f"其中的 duban 登记簿已有数据（{'、'.join(filled[:5])} 等表）"
    return None


def copy_registry(source: Engine, target_url: str) -> CopyReport:
    """Copy every row of ``source`` into the fresh database at ``target_url`` and check the row counts.

    :raises RegistryError: the target is the source, is not empty, cannot be reached, refuses a row, or the
        counts differ afterwards (in which case nothing stays committed only when the insert itself failed)
    """
    shown = safe_url(target_url)
    if source.url.render_as_string(hide_password=True) == shown:
        raise RegistryError(f"目标 {shown} 就是本目录现在的登记簿，无需复制。")
    probe = open_registry(target_url, create=True)  # migrated to the newest revision, like every registry
    problem = _target_problem(probe)
    if problem:
        raise RegistryError(
            f"目标数据库 {shown} 不是空的：{problem}。为免混入或覆盖数据，duban 只复制到新建的空数据库"
            "（或新的 registry_schema）。请另建一个空数据库后再运行。"
        )
    report = CopyReport(target=shown)
    tables = Base.metadata.sorted_tables  # parents first: every foreign key finds its row already there
    try:
        with source.connect() as src, probe.begin() as dst:
            for table in tables:
                order = list(table.primary_key.columns)
                result = src.execute(select(table).order_by(*order))
                n = 0
                while batch := result.mappings().fetchmany(BATCH):
                    rows = [dict(r) for r in batch]
                    if probe.dialect.name != "sqlite":
                        report.cut += sum(clip_row(table, r) for r in rows)
                    dst.execute(table.insert(), rows)
                    n += len(batch)
                report.rows[table.name] = n
            if probe.dialect.name == "postgresql":
                for table in tables:
                    if "id" in table.c and table.c.id.primary_key:
                        # Rows went in with their ids; without this the next insert would reuse id 1.
                        dst.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"
                        ))
    except SQLAlchemyError as e:
        first = str(getattr(e, "orig", None) or e).splitlines()[0][:300]
        raise RegistryError(
            f"复制到 {shown} 失败，目标数据库未写入任何数据（{first}）。原登记簿未改动。"
        ) from e
    with source.connect() as src, probe.connect() as dst:
        differ = []
        for table in tables:
            a = src.execute(select(func.count()).select_from(table)).scalar_one()
            b = dst.execute(select(func.count()).select_from(table)).scalar_one()
            if a != b:
                differ.append(f"{table.name}（原 {a} 行，目标 {b} 行）")
    if differ:
        raise RegistryError(
            f"复制到 {shown} 后核对行数不一致：{'；'.join(differ)}。可能有 duban 进程在复制期间写入了登记簿。"
            "请停止所有 duban 进程，另建空数据库后重新复制；在此之前不要改用新登记簿。"
        )
    log.info("Registry copied to %s: %d rows in %d tables", shown, report.total, len(report.rows))
    return report
