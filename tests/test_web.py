"""The web console over HTTP (Starlette's TestClient, the real app on a real demo month): sign-in, roles,
CSRF, the login limit, every page with the registry's data, and the clerk's and the leader's actions going
through the same functions as the CLI, audited with the web user."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.registry.homeid import open_home_registry
from mailer.registry.model import (
    Approval,
    Dispatch,
    Event,
    InboundMessage,
    Office,
    OfficeDeadline,
    Period,
    Submission,
    User,
)
from mailer.registry.store import atomic
from mailer.web.app import create_app
from tests.webdata import CLERK, KEY, LEADER, NOW, OFFICE, PASSWORD, STRANGER, VIEWER, copy_home


@pytest.fixture(scope="module")
def site(web_template, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUBAN_SECRET_KEY", KEY)
        home = copy_home(web_template, tmp_path_factory.mktemp("web") / "home")
        settings = load_settings(home)
        engine = open_home_registry(settings)
        yield settings, engine


def _app(site):
    settings, engine = site
    return create_app(settings, engine=engine, clock=lambda: NOW)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name, "password": password, "next": "/"},
                       follow_redirects=False)


@pytest.fixture(scope="module")
def clerk(site):
    with TestClient(_app(site)) as c:
        assert login(c, CLERK).status_code == 303
        yield c


def ids(site):
    _, engine = site
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
        july = s.scalars(select(Period).where(Period.month == 7)).one()
        sub = s.scalars(select(Submission).where(Submission.period_id == july.id,
                                                 Submission.office_id == office.id)).one()
        return office.id, sub.id


def test_every_page_needs_a_login_and_the_cookie_is_httponly_and_samesite(site):
    with TestClient(_app(site)) as c:
        for path in ("/", "/tasks", "/notices", "/inbox", "/audit", "/report/2022-06/1", "/file/submission/1"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        r = login(c, CLERK)
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        assert r.headers["location"] == "/"


def test_a_wrong_password_is_refused_and_five_failures_lock_the_name(site):
    with TestClient(_app(site)) as c:
        for _ in range(5):
            r = login(c, CLERK, "wrong-password")
            assert r.status_code == 401 and "用户名或密码不正确" in r.text
        r = login(c, CLERK)  # the right password, but locked now
        assert r.status_code == 429 and "已暂时锁定" in r.text
    _, engine = site
    with atomic(engine) as s:
        assert s.scalars(select(Event).where(Event.kind == "login_locked")).first() is not None


def test_the_month_at_a_glance_shows_every_office_with_state_lights_and_lateness(clerk):
    june = clerk.get("/?period=2022-06").text
    assert "2022-06 报送情况" in june and "已印发" in june
    assert june.count("已审定") >= 10 and "逾期1天" in june  # the demo's late office
    assert 'class="light ' in june
    july = clerk.get("/").text  # the newest period by default
    assert "2022-07 报送情况" in july and "待审定" in july and "已发送" in july
    assert "延长截止日" in july and "录入表格" in july  # the clerk's actions


def test_tasks_show_milestones_and_lights(clerk):
    html = clerk.get("/tasks?period=2022-06").text
    assert html.count('class="task-card"') >= 19
    assert re.search(r'class="light (green|yellow|red)"', html)
    assert "节点" in html and "牵头" in html


def test_a_report_shows_its_text_the_diff_to_the_previous_revision_and_the_original(clerk, site):
    _, engine = site
    with atomic(engine) as s:
        june = s.scalars(select(Period).where(Period.month == 6)).one()
        resubmitted = s.scalars(select(Submission).where(Submission.period_id == june.id,
                                                         Submission.revision == 2)).first()
        assert resubmitted is not None
        office_id, sid = resubmitted.office_id, resubmitted.id
    html = clerk.get(f"/report/2022-06/{office_id}").text
    assert "第2版" in html and "第1版" in html and "进展情况" in html
    assert "与第1版" in html
    f = clerk.get(f"/file/submission/{sid}")
    assert f.status_code == 200 and f.content[:2] == b"PK"
    assert "attachment" in f.headers["content-disposition"]


def test_a_report_of_july_is_compared_with_june(clerk, site):
    office_id, _ = ids(site)
    html = clerk.get(f"/report/2022-07/{office_id}").text
    assert "与上月" in html and "待审定" in html and re.search(r'class="light (green|yellow|red)"', html)
    assert "录入分管负责同志当面审定" in html  # the clerk records, the leader decides


def test_notices_list_the_draft_and_the_published_notice_for_download(clerk):
    html = clerk.get("/notices").text
    assert "印发稿" in html and "汇总稿" in html
    link = re.search(r'href="(/file/document/\d+)"', html)
    assert link
    assert clerk.get(link.group(1)).content[:2] == b"PK"


def test_the_inbox_shows_the_quarantined_mail_and_the_audit_every_step(clerk):
    html = clerk.get("/inbox").text
    assert STRANGER in html and "认可发件人并放行" in html
    audit = clerk.get("/audit").text
    assert "系统" in audit and "添加用户" in audit
    only = clerk.get("/audit?actions=1").text
    assert only.count("<tr>") < audit.count("<tr>")


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(clerk, site):
    r = clerk.post("/act/extend", data={"office": OFFICE, "period": "2022-07", "to": "2022-07-28",
                                        "reason": "出差", "confirmed": "1"})
    assert r.status_code == 403 and "安全校验失败" in r.text
    r = clerk.post("/act/extend", data={"csrf": "forged", "office": OFFICE, "period": "2022-07",
                                        "to": "2022-07-28", "reason": "出差", "confirmed": "1"})
    assert r.status_code == 403
    with atomic(site[1]) as s:
        assert s.scalars(select(OfficeDeadline)).first() is None


def test_the_viewer_sees_but_cannot_act(site):
    with TestClient(_app(site)) as c:
        assert login(c, VIEWER).status_code == 303
        page = c.get("/").text
        assert "待审定" in page and "延长截止日" not in page
        assert "认可发件人并放行" not in c.get("/inbox").text
        r = c.post("/act/extend", data={"csrf": csrf_of(page), "office": OFFICE, "period": "2022-07",
                                        "to": "2022-07-28", "reason": "出差", "confirmed": "1"})
        assert r.status_code == 403 and "查看" in r.text
    with atomic(site[1]) as s:
        assert s.scalars(select(OfficeDeadline)).first() is None


def test_extending_a_deadline_asks_for_confirmation_then_calls_the_cli_function(clerk, site):
    token = csrf_of(clerk.get("/").text)
    form = {"csrf": token, "office": OFFICE, "period": "2022-07", "to": "2022-07-27", "reason": "负责人出差",
            "back": "/"}
    r = clerk.post("/act/extend", data=form)
    assert r.status_code == 200 and "请确认" in r.text and "2022-07-27" in r.text
    with atomic(site[1]) as s:
        assert s.scalars(select(OfficeDeadline)).first() is None  # not before the confirmation
    r = clerk.post("/act/extend", data={**form, "confirmed": "1"})
    assert r.status_code == 200 and "截止日延至" in r.text
    with atomic(site[1]) as s:
        ext = s.scalars(select(OfficeDeadline)).one()
        assert (str(ext.due_on), ext.set_by) == ("2022-07-27", CLERK)
        ev = s.scalars(select(Event).where(Event.kind == "deadline_extended")).one()
        assert (ev.actor, ev.reason) == (CLERK, "负责人出差")
    # A wrong date is refused with the CLI's words.
    r = clerk.post("/act/extend", data={**form, "to": "2022-07-01", "confirmed": "1"})
    assert r.status_code == 400 and "须晚于" in r.text


def test_releasing_a_quarantined_mail_handles_it_again(clerk, site):
    with atomic(site[1]) as s:
        mid = s.scalars(select(InboundMessage).where(InboundMessage.from_addr == STRANGER)).one().id
    token = csrf_of(clerk.get("/inbox").text)
    r = clerk.post("/act/release", data={"csrf": token, "message": str(mid), "back": "/inbox", "confirmed": "1"})
    assert r.status_code == 200 and "已认可发件人" in r.text
    with atomic(site[1]) as s:
        row = s.get(InboundMessage, mid)
        assert row.released_at is not None
        assert s.scalars(select(Event).where(Event.kind == "released", Event.actor == CLERK)).first() is not None
        # Handled again from the archived original, as `duban inbox release` does (still held here: the
        # sender is no address of that office, which a release does not change).
        assert s.scalars(select(Event).where(Event.kind == "retried", Event.detail.contains(f"#{mid}"))).first()


def test_the_leader_approves_exactly_the_revision_shown_and_the_office_is_told(site):
    office_id, sid = ids(site)
    with TestClient(_app(site)) as c:
        assert login(c, LEADER).status_code == 303
        html = c.get(f"/report/2022-07/{office_id}").text
        assert 'id="review"' in html and "同意" in html
        token = csrf_of(html)
        r = c.post("/act/review", data={"csrf": token, "submission": str(sid), "decision": "approve",
                                        "back": "/", "confirmed": "1"})
        assert r.status_code == 200 and f"{LEADER} 同意 {OFFICE} 第1版报告" in r.text
        # Decided now: a second answer on the same page is refused, nothing changes twice.
        r = c.post("/act/review", data={"csrf": token, "submission": str(sid), "decision": "return",
                                        "comment": "再改", "confirmed": "1"})
        assert r.status_code == 400 and "不是待审定状态" in r.text
    with atomic(site[1]) as s:
        sub = s.get(Submission, sid)
        assert sub.state == "approved"
        approval = s.scalars(select(Approval).where(Approval.submission_id == sid)).one()
        assert approval.person.name == LEADER and approval.inbound_message_id is None
        assert s.scalars(select(Event).where(Event.kind == "decision_web")).one().actor == LEADER
        notice = s.scalars(select(Dispatch).where(Dispatch.kind == "approved_notice",
                                                  Dispatch.submission_id == sid)).one()
        assert notice.state == "sent"  # `duban web` sends what the action queued, as the CLI does


def test_a_leader_cannot_decide_another_leaders_office(site):
    _, engine = site
    with atomic(engine) as s:
        other = s.scalars(select(Submission).join(Office).where(Office.name != OFFICE)).first()
        sid, office_id, period = other.id, other.office_id, other.period.key
    with TestClient(_app(site)) as c:
        assert login(c, LEADER).status_code == 303
        html = c.get(f"/report/{period}/{office_id}").text
        assert 'id="review"' not in html
        r = c.post("/act/review", data={"csrf": csrf_of(html), "submission": str(sid), "decision": "approve",
                                        "confirmed": "1"})
        assert r.status_code == 400


def test_users_cli_adds_lists_and_changes_passwords_from_stdin(site):
    settings, engine = site
    run = CliRunner().invoke
    env = {"DUBAN_SECRET_KEY": KEY}
    r = run(cli, ["--home", str(settings.home), "users", "add", "王五", "--role", "查看"], input="short\n", env=env)
    assert r.exit_code == 1 and "密码太短" in r.output
    r = run(cli, ["--home", str(settings.home), "users", "add", "王五", "--role", "查看"],
            input="a-long-password\n", env=env)
    assert r.exit_code == 0, r.output
    r = run(cli, ["--home", str(settings.home), "users", "add", "赵六", "--role", "局长"], input="x" * 10, env=env)
    assert r.exit_code == 1 and "无法识别" in r.output
    r = run(cli, ["--home", str(settings.home), "users", "list"], env=env)
    assert "王五  查看" in r.output and f"{LEADER}  分管领导" in r.output
    with atomic(engine) as s:
        stored = s.scalars(select(User).where(User.name == "王五")).one().password_hash
        assert stored.startswith("$argon2") and "a-long-password" not in stored
    with TestClient(_app(site)) as c:
        assert login(c, "王五", "a-long-password").status_code == 303
        assert c.get("/", follow_redirects=False).status_code == 200
        r = run(cli, ["--home", str(settings.home), "users", "passwd", "王五"], input="another-password\n", env=env)
        assert r.exit_code == 0, r.output
        # The password changed: the old session ends.
        assert c.get("/", follow_redirects=False).status_code == 303
        assert login(c, "王五", "another-password").status_code == 303


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_starts_the_console_when_configured_and_stops_it_with_the_service(home):
    port = _free_port()
    cfg = home.home / "duban.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f'\n[web]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
    env = {**os.environ, "DUBAN_HOME": str(home.home)}
    proc = subprocess.Popen([sys.executable, "-m", "mailer", "serve"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    assert r.status == 200 and "督办控制台登录" in r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the console did not come up"
                time.sleep(0.2)
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with pytest.raises(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):
        pass


def _confirm(client: TestClient, action: str, form: dict, files=None):
    """Post an action, check the confirmation page, then confirm it (as the two clicks in the browser)."""
    token = csrf_of(client.get("/").text)
    first = client.post(f"/act/{action}", data={"csrf": token, **form}, files=files)
    assert first.status_code == 200 and "请确认" in first.text, first.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', first.text))
    return client.post(f"/act/{action}", data=hidden)


def test_a_form_brought_on_a_usb_stick_is_uploaded_checked_and_sent_for_review(clerk, site):
    from mailer.read.mailread import read_message
    from mailer.service.demo import fill_form

    settings, engine = site
    with atomic(engine) as s:
        office = s.scalars(select(Office).where(Office.name == "人事股")).one()
        d = s.scalars(select(Dispatch).where(Dispatch.kind == "form", Dispatch.office_id == office.id)
                      .order_by(Dispatch.id.desc())).first()
        eml = (settings.home / d.eml_path).read_bytes()
    att = read_message(eml, max_attachment_bytes=50 * 2**20).attachments[0]
    r = _confirm(clerk, "accept", {"office": "人事股", "period": "2022-07", "reason": "U盘报送"},
                 files={"file": ("人事股7月.docx", fill_form(att.data))})
    assert r.status_code == 200 and "有效，已送分管负责同志审定" in r.text
    assert not any((settings.inbox / "web-uploads").iterdir())  # the staged upload is gone
    with atomic(engine) as s:
        sub = s.scalars(select(Submission).where(Submission.office_id == office.id)
                        .order_by(Submission.id.desc())).first()
        assert (sub.period.key, sub.state) == ("2022-07", "pending_approval")
        ev = s.scalars(select(Event).where(Event.kind == "form_accepted")).one()
        assert (ev.actor, ev.reason) == (CLERK, "U盘报送")
        sid = sub.id
    # The leader then says 同意 on the phone; the clerk records it on the report page.
    r = _confirm(clerk, "decide", {"submission": str(sid), "decision": "approve", "comment": "电话同意"})
    assert r.status_code == 200 and "同意 人事股 第1版报告" in r.text
    with atomic(engine) as s:
        assert s.get(Submission, sid).state == "approved"
        ev = s.scalars(select(Event).where(Event.kind == "decision_in_person")).one()
        assert (ev.actor, ev.reason) == (CLERK, "电话同意")


def test_resend_task_done_and_reject_call_the_cli_functions(clerk, site):
    _, engine = site
    r = _confirm(clerk, "resend", {"office": "招考股", "period": "2022-07", "reason": "股室称未收到"})
    assert r.status_code == 200 and "已重发 招考股" in r.text
    r = _confirm(clerk, "done", {"seq": "15", "reason": "已完成"})
    assert r.status_code == 200 and "任务 15" in r.text and "已办结" in r.text
    r = _confirm(clerk, "done", {"seq": "15", "reason": "再来一次"})
    assert r.status_code == 400 and "无需再办结" in r.text
    with atomic(engine) as s:
        mid = s.scalars(select(InboundMessage).where(InboundMessage.from_addr == STRANGER)).one().id
    r = _confirm(clerk, "reject", {"message": str(mid), "reason": "冒名来信"})
    assert r.status_code == 200 and "已拒收" in r.text
    with atomic(engine) as s:
        assert s.get(InboundMessage, mid).kind == "rejected"
        kinds = {(e.kind, e.actor) for e in s.scalars(select(Event).where(Event.actor == CLERK))}
        assert {("form_resent", CLERK), ("task_done", CLERK), ("inbox_rejected", CLERK)} <= kinds
    assert "拒收来信" in clerk.get("/audit?actions=1").text


def test_a_month_not_yet_open_is_skipped_from_the_page(clerk, site):
    r = _confirm(clerk, "skip", {"period": "2022-08", "reason": "暑假本月不报"})
    assert r.status_code == 200 and "2022-08 已设为本月不报" in r.text
    with atomic(site[1]) as s:
        aug = s.scalars(select(Period).where(Period.month == 8)).one()
        assert aug.state == "skipped"
        assert s.scalars(select(Event).where(Event.kind == "period_skipped")).one().actor == CLERK
    assert "2022-07 报送情况" in clerk.get("/").text  # the newest period that is not skipped
