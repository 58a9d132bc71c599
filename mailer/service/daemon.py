"""`duban serve`: the scheduled service. It only calls ``run_once`` (poll + tick + send) every few minutes
and as soon as IMAP IDLE reports new mail; all state lives in the registry, so a restart after any downtime
simply catches up (design principle 1).

One instance per home (an exclusive lock on registry/service.lock, portable; on a PostgreSQL registry an advisory
lock in the database, ``mailer.registry.pglock``, for which a second service waits and takes over); SIGTERM/SIGINT stop it
cleanly between steps; a job that fails is logged and retried at the next interval, never in a tight loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import schedule

from mailer.common.config import Settings
from mailer.common.errors import ConfigError, RegistryError, ServiceLocked, TransportError
from mailer.common.files import private_umask
from mailer.common.holidays import file_mtime, load_holidays
from mailer.common.homelock import AlreadyLocked, exclusive_lock
from mailer.common.logs import new_run
from mailer.common.transient import is_transient
from mailer.registry.homeid import open_home_registry, registry_fingerprint, registry_id
from mailer.registry.store import close_all, is_postgres
from mailer.service.cycle import run_once
from mailer.transport.base import Transport, open_transport

if TYPE_CHECKING:
    from mailer.registry.pglock import HeldLock

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


class Console(Protocol):
    """What runs beside the loop in `duban serve` (the web console's thread, mailer.web.server)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


ConsoleFactory = Callable[[Settings], Console]


@contextmanager
def home_lock(
    settings: Settings, stop: threading.Event | None = None, *, wait: bool = True
) -> Iterator[HeldLock | None]:
    """Hold the home's service lock for the duration: registry/service.lock (``mailer.common.homelock``) for a
    SQLite registry; for a PostgreSQL one the database's advisory lock (``mailer.registry.pglock``), which yields
    the held lock to be checked before each run.

    :param stop: set to stop waiting for a PostgreSQL lock another service holds
    :param wait: wait for a PostgreSQL lock another service holds (a file lock is never waited for)
    :raises ServiceLocked: when another `duban serve` holds the file lock, or the PostgreSQL lock and
        ``wait`` is false
    :raises InterruptedError: ``stop`` was set while waiting for the PostgreSQL lock
    """
    if is_postgres(settings.database_url):
        from mailer.registry.pglock import Busy, service_lock

        home_id = registry_id(open_home_registry(settings)) or settings.database_url
        try:
            with service_lock(
                settings.database_url, home_id, wait=wait, stop=stop, where=str(settings.home)
            ) as held:
                yield held
        except Busy as e:
            raise ServiceLocked(f"Another duban service ({e.holder}) already runs on {settings.home}.") from e
        return
    try:
        with exclusive_lock(settings.registry):
            yield None
    except AlreadyLocked as e:
        raise ServiceLocked(f"Another duban service (pid {e.holder}) already runs on {settings.home}.") from e


class Service:
    """The loop. ``clock`` is injectable so that tests and the demo can run a month in seconds."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        interval_s: float | None = None,
        auto_confirm: str = "",
        lock: HeldLock | None = None,
    ) -> None:
        self.settings = settings
        self.lock = lock  # PostgreSQL: the advisory lock, proved alive before each run
        self.lock_lost = False
        self.auto_confirm = auto_confirm  # `serve --yes`: confirm what the start gate would hold
        # The home's own registry, checked page by page: a service must not run on a lost or damaged one.
        self.engine = open_home_registry(settings, verify=True)
        self.fingerprint = registry_fingerprint(settings)
        self.clock: Clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.interval_s = interval_s if interval_s is not None else settings.service.poll_minutes * 60
        self.stop = threading.Event()
        self.max_wait_s = 15.0  # the longest a stop request waits for a blocked IDLE to return
        self.runs = 0
        self._transport: Transport | None = None
        self._transport_cm: object | None = None
        self._holidays_seen = settings.calendar.file.mtime_ns

    def _fresh_holidays(self) -> None:
        """holidays.toml added or edited while the service runs (the clerk enters next year's in December):
        count with it from this run on, without a restart. A wrong file is logged once and the holidays in
        use are kept whole until it is fixed — never a part of the new file (`duban check` shows why)."""
        from mailer.common.workdays import Calendar

        mtime = file_mtime(self.settings.home)
        if mtime == self._holidays_seen:
            return
        self._holidays_seen = mtime
        try:
            calendar = Calendar(load_holidays(self.settings.home))
        except ConfigError as e:
            log.error("holidays.toml changed but is wrong; still counting with the holidays read before: %s", e)
            return
        self.settings = replace(self.settings, calendar=calendar)
        log.warning("holidays.toml re-read: years %s", sorted(calendar.file.years) or "none")

    def _open(self) -> Transport:
        if self._transport is None:
            cm = open_transport(self.settings)
            self._transport = cm.__enter__()
            self._transport_cm = cm
        return self._transport

    def _close(self) -> None:
        cm, self._transport, self._transport_cm = self._transport_cm, None, None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)  # type: ignore[attr-defined]
            except Exception as e:  # noqa: BLE001 - clean-up must not hide why we are closing
                log.info("Closing the transport: %s", e)

    def job(self) -> None:
        """One poll + tick + send; failures are logged and left for the next run (never re-raised,
        since `schedule` would then re-run the job on every loop iteration)."""
        new_run()
        if self.lock is not None:
            from mailer.registry.pglock import LockLost

            try:
                self.lock.check()
            except LockLost as e:
                # Another service may already act: stop at once, and let the supervisor restart us to wait.
                log.error("Lost the service lock of %s (%s); stopping so that only one service acts",
                          self.settings.home, e)
                self.lock_lost = True
                self.stop.set()
                return
        now = self.clock()
        try:
            self._same_registry()
            self._fresh_holidays()
            report = run_once(self.settings, self.engine, self._open(), now, auto_confirm=self.auto_confirm)
            self.runs += 1
            for step in report.steps:
                log.info("%s", step)
        except TransportError as e:
            log.warning("Mail server problem, will retry: %s", e)
            self._close()
        except RegistryError as e:
            log.error("Registry problem; nothing taken in or sent until it is fixed: %s", e)
        except Exception as e:
            if is_transient(e):
                log.warning("Transient problem (disk full or registry locked), will retry: %s", e)
            else:
                log.exception("Run failed; will retry at the next interval")
        finally:
            # A simulated clock's driver (the end-to-end tests) steps time once the run at that time is over.
            log.debug("Run at %s finished", now.isoformat(timespec="minutes"))

    def _same_registry(self) -> None:
        """Before each run: the registry file is still the one opened at start. A file deleted or swapped
        under the service is opened anew (and refused if lost), so that pooled connections never write
        mail into a deleted file.

        :raises RegistryError: the registry is lost, empty, foreign or damaged
        """
        if self.fingerprint is None or registry_fingerprint(self.settings) == self.fingerprint:
            return
        log.error("Registry file of %s was deleted or replaced while the service ran", self.settings.home)
        close_all()
        self.engine = open_home_registry(self.settings, verify=True)
        self.fingerprint = registry_fingerprint(self.settings)

    def serve(self, *, max_runs: int | None = None) -> None:
        """Run until stopped (signal, ``stop`` set, or ``max_runs`` reached)."""
        sched = schedule.Scheduler()
        # schedule takes float seconds (a timedelta) although typed int; tests run sub-second intervals.
        sched.every(max(self.interval_s, 0.1)).seconds.do(self.job)  # type: ignore[arg-type]
        self.job()  # at start: catch up whatever was missed while we were down
        try:
            while not self.stop.is_set() and (max_runs is None or self.runs < max_runs):
                sched.run_pending()
                # Short waits: a signal only sets `stop`, and a blocked IDLE read notices it when it returns.
                wait = max(0.05, min(sched.idle_seconds or self.interval_s, self.max_wait_s))
                if self.settings.mail.transport == "folder":
                    # Files left alone in the drop folder would make its wait() return at once; the
                    # folder is polled on the interval instead.
                    self.stop.wait(wait)
                    continue
                try:
                    woke = self._open().wait(wait)
                except TransportError as e:
                    log.warning("Waiting for mail failed: %s", e)
                    self._close()
                    self.stop.wait(min(wait, 5.0))  # do not spin on a server that is down
                    continue
                if woke and not self.stop.is_set():
                    self.job()
        finally:
            self._close()


def serve(
    settings: Settings,
    *,
    clock: Clock | None = None,
    interval_s: float | None = None,
    max_runs: int | None = None,
    auto_confirm: str = "",
    console: ConsoleFactory | None = None,
) -> Service | None:
    """Run the service on this home until SIGTERM/SIGINT (or ``max_runs``), holding the home lock.

    :param auto_confirm: who confirms sending the start gate would hold (`serve --yes`); "" holds it
    :param console: makes the web console run beside the loop when ``[web] listen`` is set; the CLI passes
        it, so that the service layer does not import the console (which imports the service)
    :returns: the service that ran, None when stopped while waiting for another service's lock (PostgreSQL)
    """
    open_home_registry(settings)  # refuse a folder that is not a home before leaving a lock file in it
    old_umask = private_umask()
    try:
        return _serve_locked(
            settings,
            clock=clock,
            interval_s=interval_s,
            max_runs=max_runs,
            auto_confirm=auto_confirm,
            console=console,
        )
    finally:
        os.umask(old_umask)


def _serve_locked(
    settings: Settings,
    *,
    clock: Clock | None,
    interval_s: float | None,
    max_runs: int | None,
    auto_confirm: str,
    console: ConsoleFactory | None,
) -> Service | None:
    stopping = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.warning("Signal %d received; stopping after the current step", signum)
        stopping.set()

    # Before the lock: a service waiting for a PostgreSQL lock another one holds stops cleanly too.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        with home_lock(settings, stop=stopping) as held:
            return _run_service(settings, held, stopping, clock=clock, interval_s=interval_s, max_runs=max_runs,
                                auto_confirm=auto_confirm, console=console)
    except InterruptedError:
        log.info("duban stopped while waiting for the service lock of %s", settings.home)
        return None


def _run_service(
    settings: Settings,
    held: HeldLock | None,
    stopping: threading.Event,
    *,
    clock: Clock | None,
    interval_s: float | None,
    max_runs: int | None,
    auto_confirm: str,
    console: ConsoleFactory | None,
) -> Service:
    svc = Service(settings, clock=clock, interval_s=interval_s, auto_confirm=auto_confirm, lock=held)
    svc.stop = stopping
    log.info(
        "duban serving %s (transport %s, every %.0fs)",
        settings.home,
        settings.mail.transport,
        svc.interval_s,
    )
    started = time.monotonic()
    web = None
    if settings.web.listen and console is not None:
        # The console beside the loop, stopped with it; it only queues mail, the loop sends it.
        web = console(settings)
        web.start()
    try:
        svc.serve(max_runs=max_runs)
    finally:
        if web is not None:
            web.stop()
    log.info("duban stopped after %d run(s), %.0fs", svc.runs, time.monotonic() - started)
    if svc.lock_lost:
        raise RegistryError(
            "与登记簿数据库的连接中断，本服务已失去服务锁并停止运行（以免两个服务同时工作）。"
            "重新启动 duban serve 即可：它会等待并接管。"
        )
    return svc
