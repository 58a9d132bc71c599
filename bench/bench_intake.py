"""Intake over a real IMAP server (dovecot on loopback, started here as the tests do).

1. Throughput: N filled forms (each a real .docx, parsed in the bounded worker) and N short leader replies
   waiting in duban's INBOX; one poll takes them in: fetch (BODY.PEEK) → archive → parse → one transaction
   with the answers queued → MOVE to 已处理. Messages per second, per kind.
2. Latency: the service runs (`Service.serve`, IMAP IDLE, a 10-minute poll interval so only IDLE can wake
   it); a reply is delivered over LMTP; the time until its row is committed in the registry.

    .venv/bin/python bench/bench_intake.py [N]      (run as root: dovecot is started privately)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import os

os.environ.setdefault("DUBAN_SECRET_KEY", "bench-key-not-for-production-use-0123456789")

from mailserver import MailServers
from sqlalchemy import func, select
from test_cycle_imap import DOMAIN, answer

from mailer.config import init_home, load_settings
from mailer.cycle import run_once
from mailer.demo import EXAMPLES, at, fill_form
from mailer.intake import poll
from mailer.mailread import read_message
from mailer.model import Dispatch, InboundMessage, Office, Task
from mailer.plan_import import import_file
from mailer.service import Service
from mailer.store import atomic, open_registry
from mailer.templates import install_default_templates


def setup(servers: MailServers, root: Path):  # type: ignore[no-untyped-def]
    base = load_settings(init_home(root / "home"))
    install_default_templates(base.templates)
    settings = servers.settings(base, user=f"bgs@{DOMAIN}")
    engine = open_registry(settings.database_url, create=True)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(settings, engine, EXAMPLES / name)
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == "基财股")).one()
        assert office.leader is not None
        office.leader.email = f"leader@{DOMAIN}"
        for task in s.scalars(select(Task)):  # only the test server's office keeps its tasks
            if not any(to.is_lead and to.office_id == office.id for to in task.offices):
                task.removed = True
    for user in servers.users:
        servers.reset(user)
    from mailer.transport.base import open_transport

    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10), auto_confirm="bench")  # a new plan: confirmed, as serve --yes
    with atomic(engine) as s:
        form_mail = s.scalars(select(Dispatch).where(Dispatch.kind == "form", Dispatch.office_id == office.id)).one()
    raw_form = settings.path(form_mail.eml_path).read_bytes()
    return settings, engine, raw_form


def throughput(servers: MailServers, settings, engine, raw_form: bytes, n: int) -> None:  # type: ignore[no-untyped-def]
    from mailer.transport.base import open_transport

    form = read_message(raw_form, max_attachment_bytes=10**8).attachments[0]
    filled = fill_form(form.data)
    for kind, make in (
        ("form", lambda i: answer(servers, raw_form, f"jcg@{DOMAIN}", f"第{i}次报送", at(13, 10),
                                  (form.filename, filled))),
        ("unrelated", lambda i: answer(servers, raw_form, f"news{i}@example.org", "简报", at(13, 10))),
    ):
        for i in range(n):
            make(i)
        with atomic(engine) as s:
            before = s.scalar(select(func.count(InboundMessage.id))) or 0
        with open_transport(settings) as t:
            started = time.perf_counter()
            report = poll(settings, engine, t, now=at(13, 12))
            took = time.perf_counter() - started
        with atomic(engine) as s:
            after = s.scalar(select(func.count(InboundMessage.id))) or 0
        assert after - before == n == report.taken, (after, before, report)
        print(f"intake over IMAP, {kind:9s}: {n} messages in {took:6.2f} s = {n / took:6.1f} msg/s "
              f"(fetch, archive, parse, commit, answers queued, acknowledge)")


def latency(servers: MailServers, settings, engine, raw_form: bytes, rounds: int = 10) -> None:  # type: ignore[no-untyped-def]
    svc = Service(settings, interval_s=600)
    thread = threading.Thread(target=svc.serve, daemon=True)
    thread.start()
    time.sleep(2.0)  # connected and idling
    samples = []
    for i in range(rounds):
        with atomic(engine) as s:
            before = s.scalar(select(func.count(InboundMessage.id))) or 0
        t0 = time.perf_counter()
        answer(servers, raw_form, f"late{i}@example.org", "你好", at(13, 10))
        while True:
            with atomic(engine) as s:
                if (s.scalar(select(func.count(InboundMessage.id))) or 0) > before:
                    break
            if time.perf_counter() - t0 > 60:
                raise SystemExit("no intake within 60 s: IDLE did not wake the service")
            time.sleep(0.02)
        samples.append(time.perf_counter() - t0)
        time.sleep(0.5)
    svc.stop.set()
    thread.join(timeout=30)
    print("samples (ms):", [round(x * 1000) for x in samples])
    print(f"arrival → registry with IDLE ({rounds} rounds): median {statistics.median(samples) * 1000:.0f} ms, "
          f"max {max(samples) * 1000:.0f} ms")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as tmp, MailServers.start() as servers:
        settings, engine, raw_form = setup(servers, Path(tmp))
        throughput(servers, settings, engine, raw_form, n)
        latency(servers, settings, engine, raw_form)


if __name__ == "__main__":
    main()
