"""A step of the tick that failed (a broken template, a form that cannot be written, a bug): recorded as an
event of its period, once while the same failure repeats, and reported, while the other offices' forms, the
other steps and periods, and the sending of what was queued go on. `duban run --once` then ends with
"错误：…" and exit status 1; `duban status`, `duban check` and the ledger show it.

The tick's health is kept in the registry's meta table: ``tickfail:<hash>`` per failure still repeating
(how many runs in a row, since when, the message) and ``tick_ok_at`` (the last run without failures). A
failure repeating over :data:`STUCK_RUNS` runs, or one still there a day after the last clean run, is a
*stuck* service: :func:`stuck_lines` says so for `duban status` and `duban check`. It reads plain rows
(mailer.registry.rows), so `duban status` asks it without SQLAlchemy; the writers import it when called.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import TYPE_CHECKING

from mailer.common.errors import DubanError
from mailer.registry.rows import Rows, as_rows

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
KIND = "step_failed"
STUCK_RUNS = 3  # the same failure in this many runs in a row: the service is stuck, not unlucky
STUCK_AFTER = dt.timedelta(days=1)  # failing, and no clean run for this long: stuck too
_PREFIX = "tickfail:"
_OK = "tick_ok_at"


def describe(error: BaseException) -> str:
    """The Chinese text of ``error``: its own for a DubanError, else named as an internal error."""
    if isinstance(error, DubanError):
        return str(error)
    return f"内部错误（{type(error).__name__}: {error}），详见服务日志；请联系维护人员"


def record_failure(
    engine: Engine, period_id: int | None, error: BaseException, *, office_id: int | None = None, step: str = ""
) -> str:
    """Record ``error`` (an event of the period, and of the office if given) unless the same failure was
    recorded by the run before, and return the message."""
    from mailer.registry.model import Event, Office, Period, RegistryMeta
    from mailer.registry.store import atomic

    with atomic(engine) as s:
        period = s.get(Period, period_id) if period_id is not None else None
        office = s.get(Office, office_id) if office_id is not None else None
        key = period.key if period is not None else (str(period_id) if period_id is not None else "")
        where = "".join(x for x in (key, office.name if office is not None else "") if x)
        message = f"{where}{'：' if where else ''}{step}{describe(error)}"[:4000]
        if s.get(RegistryMeta, _key(message)) is None:  # not already failing in the previous run
            s.add(Event(kind=KIND, period_id=period.id if period else None, office_id=office_id, detail=message))
    if isinstance(error, DubanError):
        log.error("Tick step failed: %s", message)
    else:  # a bug or an environment problem: the traceback is for the operator
        log.error("Tick step failed: %s", message, exc_info=error)
    return message


def _key(message: str) -> str:
    return _PREFIX + hashlib.sha256(message.encode()).hexdigest()[:16]


def note_run(engine: Engine, failures: list[str], now: dt.datetime | None = None) -> None:
    """After a tick: count each failure's runs in a row (forgetting those gone), or mark a clean run."""
    from sqlalchemy import select

    from mailer.registry.model import RegistryMeta
    from mailer.registry.store import atomic

    now = now or dt.datetime.now(dt.UTC)
    with atomic(engine) as s:
        old = {m.key: m for m in s.scalars(select(RegistryMeta).where(RegistryMeta.key.startswith(_PREFIX)))}
        for message in dict.fromkeys(failures):
            k = _key(message)
            row = old.pop(k, None)
            if row is None:
                info = {"n": 1, "since": now.isoformat(), "msg": message[:300]}
                s.add(RegistryMeta(key=k, value=json.dumps(info, ensure_ascii=False)))
            else:
                info = json.loads(row.value)
                info["n"] += 1
                row.value = json.dumps(info, ensure_ascii=False)
        for row in old.values():
            s.delete(row)
        if not failures:
            ok = s.get(RegistryMeta, _OK)
            if ok is None:
                s.add(RegistryMeta(key=_OK, value=now.isoformat()))
            else:
                ok.value = now.isoformat()


def stuck_lines(db: Session | Rows, now: dt.datetime | None = None) -> list[str]:
    """Chinese lines for a stuck service (empty when it is not)."""
    now = now or dt.datetime.now(dt.UTC)
    rows = as_rows(db)
    # The prefix has no LIKE wildcard in it ("tickfail:"): LIKE is a plain prefix test here.
    failures = rows.all("SELECT value FROM meta WHERE key LIKE :prefix", prefix=_PREFIX + "%")
    ok = rows.all("SELECT value FROM meta WHERE key = :key", key=_OK)
    ok_at = dt.datetime.fromisoformat(ok[0].value) if ok else None
    failing = sorted((json.loads(r.value) for r in failures), key=lambda i: i["since"])
    out = [
        f"服务卡住：同一故障已连续 {i['n']} 次运行出现（自 {i['since'][:16].replace('T', ' ')} UTC 起）：{i['msg']}"
        for i in failing
        if i["n"] >= STUCK_RUNS
    ]
    ref = ok_at or (dt.datetime.fromisoformat(failing[0]["since"]) if failing else None)
    if failing and ref is not None and now - ref > STUCK_AFTER and not out:
        since = f"上次完整运行成功：{ok_at.isoformat()[:16].replace('T', ' ')} UTC" if ok_at else "尚无完整运行成功的记录"
        out.append(f"服务卡住：已超过一天没有一次运行是无故障的（{since}）。当前故障：{failing[0]['msg']}")
    return out
