"""`duban serve` as a real process on a simulated clock (stepped six hours at a time): June runs by itself while
offices, leaders and the signer answer by mail; the service is stopped with SIGTERM, stays down for a week,
is restarted, catches up once, and ends with the notice published. One instance per home."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Office, Period, Person, Submission
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.demo import EXAMPLES, TZ, People

STEP = dt.timedelta(hours=6)  # the simulated clock moves by this once the run at the previous time is over


class Sim:
    """The service process and the people around it, on the same simulated clock.

    The test steps the clock (a file the service reads at every run) and moves on only once the service
    logged that its run at that time finished: the month plays the same on a loaded machine as on an idle
    one, where a free-running fast clock made it depend on how quickly each run came round."""

    def __init__(self, settings, start: dt.datetime) -> None:
        self.settings, self.t = settings, start
        self.clock_file = settings.home / "sim-clock.txt"
        self._write_clock(start)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailer", "--home", str(settings.home), "-vv", "serve", "--interval", "0.1",
             "--clock-file", str(self.clock_file)],
            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.changed = threading.Condition()

        def read() -> None:
            assert self.proc.stderr is not None
            for raw in self.proc.stderr:
                with self.changed:
                    self.lines.append(raw.decode(errors="replace"))
                    self.changed.notify_all()
            with self.changed:
                self.lines.append("<exited>")
                self.changed.notify_all()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        self._wait_run(start)

    def _write_clock(self, when: dt.datetime) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(when.isoformat(), encoding="utf-8")
        tmp.replace(self.clock_file)  # never a half-written time for the service to read

    def _wait_run(self, when: dt.datetime, timeout: float = 90) -> None:
        mark = f"Run at {when.isoformat(timespec='minutes')} finished"
        with self.changed:
            done = self.changed.wait_for(
                lambda: any(mark in line or line == "<exited>" for line in self.lines), timeout)
            assert done and self.lines[-1] != "<exited>", "".join(self.lines)[-3000:]

    def now(self) -> dt.datetime:
        return self.t

    def step(self) -> None:
        self.t += STEP
        self._write_clock(self.t)
        self._wait_run(self.t)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.proc.returncode, "".join(self.lines)


def play(sim: Sim, people: People, offices: dict[str, tuple[str, str]], reporters: list[str], leaders: list[str],
         signer: str, until: dt.datetime) -> None:
    """The people answer whatever reached them, then the clock moves on, until the simulated ``until``."""
    while sim.now() < until:
        when = sim.now()
        for o in reporters:
            people.office_reports(offices[o][0], when)
        for addr in leaders:
            people.leader_decides(addr, when)
        people.signer_decides(signer, when)
        sim.step()


@pytest.fixture
def home_with_plan(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    with atomic(engine) as s:
        offices = {o.name: (o.addresses[0].email if o.addresses else "", o.leader.email if o.leader else "")
                   for o in s.scalars(select(Office))}
        signer = s.scalars(select(Person).where(Person.is_signer.is_(True))).one().email
    close_all()
    return home, offices, signer


def test_june_runs_by_itself_under_serve_through_a_missed_week(home_with_plan):
    settings, offices, signer = home_with_plan
    engine = open_registry(settings.database_url)
    from mailer.registry.model import Plan
    from mailer.registry.queries import lead_offices

    with atomic(engine) as s:
        leads = [o.name for o in lead_offices(s, s.scalars(select(Plan)).one())]
    early, late = leads[:6], leads[6:]
    leaders = sorted({offices[o][1] for o in leads})
    people = People(settings.home, engine, settings.mail.from_address)

    sim = Sim(settings, dt.datetime(2022, 6, 9, 8, 0, tzinfo=TZ))
    # One instance per home: a second one is refused while the first runs.
    second = subprocess.run([sys.executable, "-m", "mailer", "--home", str(settings.home), "serve"],
                            env=dict(os.environ), capture_output=True, timeout=60, check=False)
    assert second.returncode == 1 and "already runs" in second.stderr.decode()
    play(sim, people, offices, early, leaders, signer, until=dt.datetime(2022, 6, 14, 12, 0, tzinfo=TZ))
    code, err = sim.stop()
    assert code == 0, err[-3000:]
    assert "stopping" in err

    with atomic(engine) as s:
        assert Counter(s.scalars(select(Dispatch.kind)))["form"] == 10
        approved = {sub.office.name for sub in s.scalars(select(Submission).where(Submission.state == "approved"))}
    assert approved == set(early)

    # Down from the 14th to the 21st: the restart on the 21st escalates, and the late offices answer at once
    # (their reports are late) and their leaders approve well before the assembly after the grace days.
    sim = Sim(settings, dt.datetime(2022, 6, 21, 8, 0, tzinfo=TZ))
    play(sim, people, offices, late, leaders, signer, until=dt.datetime(2022, 6, 25, 12, 0, tzinfo=TZ))
    code, err = sim.stop()
    assert code == 0, err[-3000:]

    with atomic(engine) as s:
        period = s.scalars(select(Period)).one()
        assert period.state == "published", err[-3000:]
        kinds = Counter(s.scalars(select(Dispatch.kind)))
        rows = s.scalars(select(Dispatch)).all()
        subs = s.scalars(select(Submission).where(Submission.state == "approved")).all()
        late_offices = {sub.office.name for sub in subs if sub.late}
    assert kinds["form"] == 10, "the restart did not send the forms again"
    assert kinds["escalation"] == len(late)
    assert kinds["published"] == 1
    assert all(d.state == "sent" for d in rows)
    assert len(list(Path(settings.outbox / "mail").glob("*.eml"))) == len(rows)
    assert period.due_moved_from is None, f"the forms went out late: due moved to {period.due_on}"
    assert late_offices == set(late)
