"""Intake, old and new side by side: the code of ``BASELINE`` (bench/baseline.py) and today's, in one run.

1. Throughput on the folder transport (no server noise) and over a real IMAP server (dovecot on loopback,
   started here as the tests do): N filled forms (each a real .docx, parsed in the bounded worker) and N
   plain replies (a stranger answering the form mail: quarantined, the bureau office told) waiting; one poll
   takes them in: fetch → archive → parse → one transaction with the answers queued → acknowledge.
   Messages per second, per kind: the best of three polls (the machine is shared with other work). A
   warm-up poll of two of each comes first, as in a running service.
2. History: the cost of one message (form, plain) with 10 and with 1,000 earlier form replies of the same
   office in the registry (each with its submission, entries, receipt and approval request, all carrying the
   form token), so a cost that grows with the registry shows.
3. Latency (today's code only): the service runs (`Service.serve`, IMAP IDLE, a 10-minute poll interval so
   only IDLE can wake it); a reply is delivered over LMTP; the time until its row is committed.

    .venv/bin/python bench/bench_intake.py [N] [--no-imap] [--no-latency]    (N = 10; as root: dovecot runs privately)
"""

from __future__ import annotations

import email.utils
import os
import statistics
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]
from baseline import BASELINE, measure_at, ratio_line, tree_root

ROOT = tree_root()  # the tree measured: the baseline's checkout in the child process, else this one
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("DUBAN_SECRET_KEY", "bench-key-not-for-production-use-0123456789")

DOMAIN = "jyj.example.gov.cn"
OFFICE = "基财股"


def _reply(original: bytes, sender: str, body: str, attachment: tuple[str, bytes] | None = None) -> bytes:
    """``sender`` answers our form mail from their client (In-Reply-To, References, quoted subject)."""
    from mailer.read.mailread import read_message
    from mailer.service.demo import at

    msg_in = read_message(original, max_attachment_bytes=10**8)
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, f"bgs@{DOMAIN}"
    msg["Subject"] = "回复：" + msg_in.subject
    msg["Date"] = email.utils.format_datetime(at(13, 10))
    msg["Message-ID"] = email.utils.make_msgid(domain=DOMAIN)
    msg["In-Reply-To"] = msg_in.message_id
    msg["References"] = msg_in.message_id
    msg.set_content(f"{body}\n\n------------------ 原始邮件 ------------------\n主题: {msg_in.subject}\n")
    if attachment:
        msg.add_attachment(attachment[1], maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename=attachment[0])
    return bytes(msg)


class Home:
    """A demo home whose June forms went out (only the office's tasks kept), ready to take replies in."""

    def __init__(self, root: Path, servers: Any = None) -> None:
        from sqlalchemy import select

        from mailer.common.config import init_home, load_settings
        from mailer.common.templates import install_default_templates
        from mailer.plan.importer import import_file
        from mailer.read.mailread import read_message
        from mailer.registry.model import Dispatch, Office, Task
        from mailer.registry.store import atomic, open_registry
        from mailer.service.cycle import run_once
        from mailer.service.demo import EXAMPLES, at, fill_form
        from mailer.transport.base import open_transport

        base = load_settings(init_home(root / "home"))
        install_default_templates(base.templates)
        self.servers = servers
        self.settings = servers.settings(base, user=f"bgs@{DOMAIN}") if servers else base
        self.engine = open_registry(self.settings.database_url, create=True)
        for name in ("notice-2022.docx", "directory-2022.xlsx"):
            import_file(self.settings, self.engine, EXAMPLES / name)
        with atomic(self.engine) as s:
            office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
            assert office.leader is not None
            office.leader.email = f"leader@{DOMAIN}"
            for task in s.scalars(select(Task)):  # only the office's tasks stay
                if not any(to.is_lead and to.office_id == office.id for to in task.offices):
                    task.removed = True
            self.office_id = office.id
            self.office_addr = office.addresses[0].email
        if servers:
            for user in servers.users:
                servers.reset(user)
        with open_transport(self.settings) as t:
            run_once(self.settings, self.engine, t, at(10), auto_confirm="bench")  # confirmed, as serve --yes
        with atomic(self.engine) as s:
            sent = s.scalars(select(Dispatch).where(Dispatch.kind == "form", Dispatch.office_id == office.id)).one()
            self.period_id, self.token, self.form_mid = sent.period_id, sent.token, sent.message_id
        self.raw_form = self.settings.path(sent.eml_path).read_bytes()
        form = read_message(self.raw_form, max_attachment_bytes=10**8).attachments[0]
        self.form_name, self.filled = form.filename, fill_form(form.data)
        self.drop = self.settings.inbox / "drop"
        self.drop.mkdir(parents=True, exist_ok=True)

    def message(self, kind: str, i: int) -> bytes:
        if kind == "form":
            return _reply(self.raw_form, self.office_addr, f"第{i}次报送", (self.form_name, self.filled))
        return _reply(self.raw_form, f"news{i}@example.org", "简报")

    def poll(self, kind: str, n: int, start: int = 0) -> float:
        """Seconds for one poll that takes in ``n`` new messages of ``kind``."""
        from sqlalchemy import func, select

        from mailer.registry.model import InboundMessage
        from mailer.registry.store import atomic
        from mailer.service.demo import at
        from mailer.service.intake import poll
        from mailer.transport.base import open_transport

        for i in range(start, start + n):
            raw = self.message(kind, i)
            if self.servers:
                self.servers.deliver(raw, to=f"bgs@{DOMAIN}", sender=self.office_addr if kind == "form" else
                                     f"news{i}@example.org")
            else:
                (self.drop / f"{kind}-{i:05d}.eml").write_bytes(raw)
        with atomic(self.engine) as s:
            before = s.scalar(select(func.count(InboundMessage.id))) or 0
        with open_transport(self.settings) as t:
            started = time.perf_counter()
            report = poll(self.settings, self.engine, t, now=at(13, 12))
            took = time.perf_counter() - started
        with atomic(self.engine) as s:
            after = s.scalar(select(func.count(InboundMessage.id))) or 0
        assert after - before == n == report.taken, (after, before, report)
        return took

    def add_history(self, count: int) -> None:
        """``count`` earlier form replies of the office, as intake records them (rows written directly: taking
        1,000 real forms in would take minutes per commit measured)."""
        from sqlalchemy import func, insert, select

        from mailer.registry.model import Dispatch, Entry, InboundMessage, Submission, Task, TaskOffice
        from mailer.registry.store import atomic
        from mailer.service.demo import at

        when = at(12, 10)
        with atomic(self.engine) as s:
            tasks = list(s.scalars(select(Task.id).join(TaskOffice, TaskOffice.task_id == Task.id).where(
                TaskOffice.office_id == self.office_id, TaskOffice.is_lead.is_(True), Task.removed.is_(False))))
            first = (s.scalar(select(func.max(Submission.revision)).where(
                Submission.period_id == self.period_id, Submission.office_id == self.office_id)) or 0) + 1
            base = (s.scalar(select(func.max(InboundMessage.id))) or 0) + 1
            sub0 = (s.scalar(select(func.max(Submission.id))) or 0) + 1
            s.execute(insert(InboundMessage), [
                {"id": base + i, "sha256": f"{base + i:064x}", "message_id": f"<history{base + i}@{DOMAIN}>",
                 "source": "history", "source_uid": str(i), "archive_path": "inbox/archive/history.eml",
                 "from_addr": self.office_addr, "subject": "回复：报送", "received_at": when, "kind": "form",
                 "matched_by": "in_reply_to", "period_id": self.period_id, "office_id": self.office_id,
                 "answers_dispatch_id": None, "outcome": "历史"} for i in range(count)])
            s.execute(insert(Submission), [
                {"id": sub0 + i, "period_id": self.period_id, "office_id": self.office_id, "revision": first + i,
                 "inbound_message_id": base + i, "state": "superseded", "token": self.token,
                 "received_at": when, "findings": []} for i in range(count)])
            s.execute(insert(Entry), [
                {"submission_id": sub0 + i, "task_id": t, "progress": "按计划推进", "problems": "无", "remark": ""}
                for i in range(count) for t in tasks])
            s.execute(insert(Dispatch), [
                {"key": f"{kind}:{sub0 + i}", "kind": kind, "period_id": self.period_id,
                 "office_id": self.office_id, "submission_id": sub0 + i, "in_reply_to_id": base + i,
                 "message_id": f"<{kind}.{sub0 + i}@{DOMAIN}>", "token": self.token,
                 "to_addrs": [self.office_addr], "subject": f"[{self.token}] 已收到", "state": "sent",
                 "sent_at": when, "eml_path": ""}
                for i in range(count) for kind in ("receipt", "approval_request")])


def _best(home: Home, kind: str, count: int, rounds: int) -> float:
    """Seconds per message: the best of ``rounds`` polls of ``count`` messages (the machine is shared, and a
    poll slowed by a neighbour says nothing about intake)."""
    return min(home.poll(kind, count, start=r * count) for r in range(rounds)) / count


def measure(args: dict[str, Any]) -> dict[str, float]:
    """Throughput (msg/s) and cost per message (ms) at each history size, for the ``mailer`` imported."""
    n, m, rounds = int(args["n"]), int(args.get("m", 5)), int(args.get("rounds", 3))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="duban-bench-") as tmp:
        home = Home(Path(tmp) / "folder")
        home.poll("form", 2, 10_000)
        home.poll("plain", 2, 10_000)
        for kind in ("form", "plain"):
            out[f"folder_{kind}_per_s"] = 1 / _best(home, kind, n, rounds)
        for h in args.get("history", [10, 1000]):
            home = Home(Path(tmp) / f"history{h}")
            home.poll("form", 2, 10_000)
            home.poll("plain", 2, 10_000)
            home.add_history(int(h))
            for kind in ("form", "plain"):
                out[f"history{h}_{kind}_ms"] = _best(home, kind, m, rounds) * 1000
        if args.get("imap", True):
            from mailserver import MailServers

            with MailServers.start() as servers:
                home = Home(Path(tmp) / "imap", servers)
                home.poll("form", 2, 10_000)
                home.poll("plain", 2, 10_000)
                for kind in ("form", "plain"):
                    out[f"imap_{kind}_per_s"] = 1 / _best(home, kind, n, rounds)
    return out


def latency(rounds: int = 10) -> None:
    from mailserver import MailServers
    from sqlalchemy import func, select

    from mailer.registry.model import InboundMessage
    from mailer.registry.store import atomic
    from mailer.service.daemon import Service

    with tempfile.TemporaryDirectory() as tmp, MailServers.start() as servers:
        home = Home(Path(tmp), servers)
        svc = Service(home.settings, interval_s=600)
        thread = threading.Thread(target=svc.serve, daemon=True)
        thread.start()
        time.sleep(2.0)  # connected and idling
        samples = []
        for i in range(rounds):
            with atomic(home.engine) as s:
                before = s.scalar(select(func.count(InboundMessage.id))) or 0
            t0 = time.perf_counter()
            servers.deliver(home.message("plain", 20_000 + i), to=f"bgs@{DOMAIN}", sender="late@example.org")
            while True:
                with atomic(home.engine) as s:
                    if (s.scalar(select(func.count(InboundMessage.id))) or 0) > before:
                        break
                if time.perf_counter() - t0 > 60:
                    raise SystemExit("no intake within 60 s: IDLE did not wake the service")
                time.sleep(0.02)
            samples.append(time.perf_counter() - t0)
            time.sleep(0.5)
        svc.stop.set()
        thread.join(timeout=30)
    print(f"arrival → registry with IDLE, now ({rounds} rounds): median {statistics.median(samples) * 1000:.0f} ms, "
          f"max {max(samples) * 1000:.0f} ms")


def main() -> None:
    words = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(words[0]) if words else 10
    args = {"n": n, "m": 5, "rounds": 3, "history": [10, 1000], "imap": "--no-imap" not in sys.argv}
    print(f"measuring {BASELINE} (a temporary worktree), then now; N = {n} per kind …", flush=True)
    old = measure_at(BASELINE, __file__, "measure", args)
    new = measure(args)
    print(f"\nintake throughput, best of {args['rounds']} polls of {n} messages per kind (fetch, archive, parse, commit, "
          "answers queued, acknowledge):")
    for where in ("folder", "imap") if args["imap"] else ("folder",):
        for kind, what in (("form", "filled forms/s"), ("plain", "plain replies/s")):
            k = f"{where}_{kind}_per_s"
            print("  " + ratio_line(f"{where:6s} {what:15s}", old[k], new[k], higher_is_better=True))
    print(f"\ncost per message with earlier form replies of the office in the registry (best of {args['rounds']} polls "
          f"of {args['m']}):")
    for kind in ("form", "plain"):
        for h in args["history"]:
            k = f"history{h}_{kind}_ms"
            print("  " + ratio_line(f"{kind:5s} after {h:5d}", old[k], new[k], higher_is_better=False, unit=" ms"))
        lo, hi = args["history"][0], args["history"][-1]
        grow_old = old[f"history{hi}_{kind}_ms"] / old[f"history{lo}_{kind}_ms"]
        grow_new = new[f"history{hi}_{kind}_ms"] / new[f"history{lo}_{kind}_ms"]
        print(f"  {kind:5s} growth {lo} → {hi} earlier messages: {BASELINE} ×{grow_old:.2f}, now ×{grow_new:.2f}")
    if "--no-latency" not in sys.argv and args["imap"]:
        print()
        latency()


if __name__ == "__main__":
    main()
