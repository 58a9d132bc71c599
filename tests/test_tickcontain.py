"""A tick that contains failure (issue 11.5): one office's form that cannot be written stops neither the
other offices' forms nor the sending; it is recorded once while it repeats, tried again each run, and a
failure repeating over several runs shows as a stuck service in `duban status` and `duban check`."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Event
from mailer.registry.queries import active_plan, lead_offices
from mailer.registry.store import atomic, open_registry
from mailer.registry.tickfailures import STUCK_RUNS
from mailer.render.forms import form_filename
from mailer.service.checks import run_checks
from mailer.service.demo import EXAMPLES


def _run(home, when: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.home), "run", "--once", "--now", when])


def test_one_office_failing_leaves_the_other_forms_sent_recorded_once_and_shown_when_stuck(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    with atomic(engine) as s:
        plan = active_plan(s)
        assert plan is not None
        offices = [(o.id, o.name, form_filename(plan, 2022, 6, o)) for o in lead_offices(s, plan, "2022-06")]
    victim_id, victim, filename = offices[3]
    # A folder where the victim's form is to be written: that office's form cannot be saved.
    blocker = home.outbox / "forms" / "2022-06" / filename
    blocker.mkdir(parents=True)

    first = _run(home, "2022-06-10T09:00")
    assert first.exit_code == 1 and "Traceback" not in first.stdout  # the log (stderr) keeps it for the operator
    assert f"2022-06{victim}：进展情况表未能生成：" in first.output
    with atomic(engine) as s:
        forms = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()
        assert len(offices) >= 2 and len(forms) == len(offices) - 1
        assert {d.state for d in forms} == {"sent"} and victim_id not in {d.office_id for d in forms}

    for hour in range(10, 10 + STUCK_RUNS):  # the same failure again, run after run
        assert _run(home, f"2022-06-10T{hour}:00").exit_code == 1
    with atomic(engine) as s:
        events = s.scalars(select(Event).where(Event.kind == "step_failed")).all()
        assert [(e.office_id, victim in e.detail) for e in events] == [(victim_id, True)]  # recorded once

    status = CliRunner().invoke(cli, ["--home", str(home.home), "status", "--now", "2022-06-10T14:00"])
    assert status.exit_code == 0
    assert f"服务卡住：同一故障已连续 {STUCK_RUNS + 1} 次运行出现" in status.output and victim in status.output
    stuck = [p for p in run_checks(home, engine, mail=False) if p.message.startswith("服务卡住")]
    assert [p.level for p in stuck] == ["error"] and victim in stuck[0].message

    blocker.rmdir()  # fixed: the next run sends the victim's form and the service is no longer stuck
    fixed = _run(home, "2022-06-10T15:00")
    assert fixed.exit_code == 0, fixed.output
    with atomic(engine) as s:
        forms = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()
        assert len(forms) == len(offices) and {d.state for d in forms} == {"sent"}
    assert [p for p in run_checks(home, engine, mail=False) if p.message.startswith("服务卡住")] == []
