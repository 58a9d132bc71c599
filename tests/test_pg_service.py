"""Two `duban serve` for one home on one PostgreSQL registry (tests/pgserver.py): exactly one acts, holding
the database's advisory lock; the other waits, and takes over when the first is killed with SIGKILL. Nothing
is sent twice. Real processes on a simulated clock, as in test_service.py."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailer.common.config import DEFAULT_TOML, load_settings
from mailer.common.templates import install_default_templates
from mailer.plan.importer import import_file
from mailer.registry.homeid import open_home_registry, registry_id
from mailer.registry.model import Dispatch, InboundMessage, Office
from mailer.registry.pglock import holder
from mailer.registry.store import atomic, close_all
from mailer.service.demo import EXAMPLES, TZ, People

pytestmark = pytest.mark.postgres
SPEED = 3600.0  # a simulated hour every real second: slow enough that no test step can reach July


def make_pg_home(folder: Path, url: str, schema: str = ""):
    """A home on ``url`` with the 2022 notice and directory imported (start gate off, as in conftest)."""
    folder.mkdir(parents=True)
    extra = f'registry_schema = "{schema}"\n' if schema else ""
    toml = DEFAULT_TOML.replace("confirm_start = true", "confirm_start = false")
    (folder / "duban.toml").write_text(f'registry_url = "{url}"\n{extra}{toml}', encoding="utf-8")
    settings = load_settings(folder)
    install_default_templates(settings.templates)
    engine = open_home_registry(settings, create=True)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    return settings, engine


class Serve:
    """A `duban serve` process whose log goes to a file (a pipe nobody reads would fill up and stall it)."""

    def __init__(self, settings, start: dt.datetime, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailer", "--home", str(settings.home), "-v", "serve", "--interval", "0.3",
                 "--clock-from", start.strftime("%Y-%m-%dT%H:%M"), "--clock-speed", str(SPEED)],
                env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def said(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def wait_for(what, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def holds(engine, home_id: str, serve: Serve) -> bool:
    """Whether ``serve`` holds the home's lock, as `duban check` reads it ("duban serve HOST pid N，自 …")."""
    return re.search(rf"pid {serve.pid}\b", holder(engine, home_id) or "") is not None


def count(engine, kind: str) -> int:
    with atomic(engine) as s:
        return Counter(s.scalars(select(Dispatch.kind)))[kind]


def test_two_services_one_acts_the_other_takes_over_after_kill_9(tmp_path: Path, pg_url: str):
    """
    GIVEN a home on PostgreSQL and two `duban serve` started for it
    WHEN  the first (holding the lock) sends the month's forms and is then killed with SIGKILL
    THEN  the second waited meanwhile, takes over, takes in the offices' replies and asks the leaders;
          a third waits and stops cleanly on SIGTERM; the second stops (exit 1) when its lock's session ends;
          no message was sent twice; `duban check` and `status` name the service that holds the lock
    """
    settings, engine = make_pg_home(tmp_path / "home", pg_url)
    home_id = registry_id(engine)
    assert home_id
    start = dt.datetime(2022, 6, 9, 20, 0, tzinfo=TZ)
    first = Serve(settings, start, tmp_path / "first.log")
    wait_for(lambda: holds(engine, home_id, first))
    second = Serve(settings, start, tmp_path / "second.log")
    try:
        wait_for(lambda: count(engine, "form") == 10)  # the 10th, the send day, came under the first
        wait_for(lambda: "waiting to take over" in second.said())
        assert holds(engine, home_id, first)
        from click.testing import CliRunner

        from mailer.cli import cli

        check = CliRunner().invoke(cli, ["--home", str(settings.home), "check", "--no-mail"])
        assert f"pid {first.pid}" in check.output, check.output
        status = CliRunner().invoke(cli, ["--home", str(settings.home), "status"])
        assert f"pid {first.pid}" in status.output, status.output

        first.stop(signal.SIGKILL)
        wait_for(lambda: holds(engine, home_id, second), timeout=20)

        with atomic(engine) as s:
            offices = [(o.addresses[0].email, o.leader.email) for o in s.scalars(select(Office))
                       if o.addresses and o.leader]
        people = People(settings.home, engine, settings.mail.from_address)
        now = start + dt.timedelta(days=3)
        for addr, _leader in offices:
            people.office_reports(addr, now)
        wait_for(lambda: count(engine, "approval_request") >= 1, timeout=20)  # the second acts

        # A third one waits too, and a SIGTERM while it waits ends it cleanly (exit 0), without acting.
        third = Serve(settings, start, tmp_path / "third.log")
        wait_for(lambda: "waiting to take over" in third.said(), timeout=20)
        assert third.stop() == 0, third.said()[-2000:]
        assert holds(engine, home_id, second)

        # The database ends the lock's session (a restart, a dropped network): the service stops acting at
        # once, with exit code 1, so that a supervisor restarts it to wait.
        with engine.connect() as c:
            ended = c.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name LIKE 'duban serve %' AND application_name LIKE :me"),
                {"me": f"% pid {second.pid}"}).scalar_one()
        assert ended == 1
        second.proc.wait(timeout=30)
    finally:
        first.stop(signal.SIGKILL)
        second.stop()
    said = second.said()
    # The second did nothing before it took over: its service loop starts only after the lock.
    assert said.index("waiting to take over") < said.index("taking over") < said.index("duban serving"), said[-3000:]
    assert "waiting" not in first.said()
    assert "Lost the service lock" in said and "失去服务锁" in said, said[-3000:]
    assert second.proc.returncode == 1, said[-3000:]

    with atomic(engine) as s:
        rows = s.scalars(select(Dispatch)).all()
        taken = s.scalars(select(InboundMessage)).all()
    assert Counter(d.kind for d in rows)["form"] == 10, "the second service did not send the forms again"
    assert len({d.message_id for d in rows}) == len(rows)
    assert len(taken) >= 1
    # Every message on its way out exactly once: one .eml per dispatch in the outbox, none doubled.
    emls = list((settings.outbox / "mail").glob("*.eml"))
    assert len(emls) == len([d for d in rows if d.state == "sent"])
    close_all()
