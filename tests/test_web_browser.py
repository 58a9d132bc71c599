"""The console in a real browser: Debian's chromium (tests/setup.sh installs it) driven by Playwright (no
browser download: ``executable_path``) against `duban web` started here on a free loopback port, on a copy
of the demo month (tests/webdata.py). One browser and one server for the module.

With DUBAN_SCREENSHOTS=1 the tests also save the README's pictures to docs/images/console-*.png.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.common.config import load_settings
from mailer.registry.homeid import open_home_registry
from mailer.registry.model import Event, InboundMessage, Office, OfficeDeadline, Submission
from mailer.registry.store import atomic
from tests.webdata import CLERK, KEY, LEADER, OFFICE, PASSWORD, STRANGER, VIEWER, copy_home

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "docs" / "images"
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(web_template, tmp_path_factory):
    home = copy_home(web_template, tmp_path_factory.mktemp("browser") / "home")
    port = _free_port()
    env = {**os.environ, "DUBAN_HOME": str(home), "DUBAN_SECRET_KEY": KEY,
           "XDG_CONFIG_HOME": str(home.parent / "xdg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailer", "web", "--listen", f"127.0.0.1:{port}", "--now", "2022-07-13T10:00"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "duban web exited") from None
            assert time.monotonic() < deadline, "duban web did not come up"
            time.sleep(0.1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUBAN_SECRET_KEY", KEY)
        engine = open_home_registry(load_settings(home))
    yield url, engine
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: run tests/setup.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def new_page(browser, server):
    contexts = []

    def make(*, phone: bool = False):
        ctx = browser.new_context(
            base_url=server[0], locale="zh-CN",
            **({"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2} if phone
               else {"viewport": {"width": 1280, "height": 860}}),
        )
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def shot(page, name: str, *, full: bool = False) -> None:
    if os.environ.get("DUBAN_SCREENSHOTS") == "1":
        PICTURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(PICTURES / f"console-{name}.png"), full_page=full)


def log_in(page, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def office_id(engine, name: str) -> int:
    with atomic(engine) as s:
        return s.scalars(select(Office).where(Office.name == name)).one().id


def test_the_clerk_logs_in_sees_the_month_and_opens_a_report(new_page, server):
    page = new_page()
    page.goto("/")
    assert "/login" in page.url  # not signed in
    shot(page, "login")
    log_in(page, CLERK)
    page.wait_for_selector("#overview")
    assert "2022-07 报送情况" in page.inner_text("h1")
    assert page.locator(f"#overview tr[data-office='{OFFICE}']").inner_text().count("待审定") == 1
    page.select_option("select[name=period]", "2022-06")
    page.wait_for_url("**period=2022-06")
    assert page.locator("#overview tbody tr").count() == 10
    assert page.locator("#overview .light").count() >= 19
    shot(page, "overview", full=True)
    # One click from the month to the report behind it: 人事股 sent a form with a blank row first, then
    # the corrected one.
    page.locator("#overview tr[data-office='人事股'] td a").first.click()
    page.wait_for_selector(".revs")
    assert "第2版" in page.inner_text(".revs") and "第1版" in page.inner_text(".revs")
    page.locator("details summary", has_text="与第1版相比").first.click()
    assert page.locator(".diff .add").first.is_visible()
    with page.expect_download() as dl:
        page.click("a[href^='/file/submission/']")
    assert dl.value.suggested_filename.endswith("人事股-第2版.docx")
    # July's report against June's approved one.
    page.goto(f"/report/2022-07/{office_id(server[1], OFFICE)}")
    page.locator("details summary", has_text="与上月已审定报告相比").first.click()
    assert "7月已完成项目招标" in page.locator(".diff .add").first.inner_text()
    shot(page, "report")


def test_the_clerk_releases_a_quarantined_mail(new_page, server):
    _, engine = server
    page = new_page()
    log_in(page, CLERK)
    page.goto("/inbox")
    item = page.locator("#pending li", has_text=STRANGER)
    shot(page, "inbox")
    item.get_by_role("button", name="认可发件人并放行").click()
    assert "请确认" in page.inner_text("h1") and STRANGER in page.inner_text("#confirm-text")
    page.get_by_role("button", name="确认认可发件人并放行").click()
    assert "已认可发件人并重新处理" in page.inner_text("#outcome")
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage).where(InboundMessage.from_addr == STRANGER)).one()
        assert row.released_at is not None
        assert s.scalars(select(Event).where(Event.kind == "released", Event.actor == CLERK)).first()


def test_the_clerk_extends_a_deadline_after_confirming(new_page, server):
    _, engine = server
    page = new_page()
    log_in(page, CLERK)
    row = page.locator("#overview tr[data-office='人事股']")
    row.locator("summary", has_text="操作").click()
    form = row.locator("form[action='/act/extend']")
    form.locator("input[name=to]").fill("2022-07-26")
    form.locator("input[name=reason]").fill("负责人外出培训")
    form.get_by_role("button", name="延长截止日").click()
    assert "2022-07-26" in page.inner_text("#confirm-text")
    with atomic(engine) as s:
        assert s.scalars(select(OfficeDeadline)).first() is None  # nothing before the confirmation
    page.get_by_role("button", name="确认延长截止日").click()
    assert "截止日延至" in page.inner_text("#outcome")
    page.get_by_role("link", name="返回").click()
    assert "延至2022-07-26" in page.locator("#overview tr[data-office='人事股']").inner_text()
    with atomic(engine) as s:
        ext = s.scalars(select(OfficeDeadline)).one()
        assert (str(ext.due_on), ext.set_by, ext.reason) == ("2022-07-26", CLERK, "负责人外出培训")


def test_a_leader_approves_from_a_phone(new_page, server):
    _url, engine = server
    page = new_page(phone=True)
    log_in(page, LEADER)
    page.wait_for_selector("#overview")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # no sideways scrolling
    page.goto(f"/report/2022-07/{office_id(engine, OFFICE)}")
    review = page.locator("#review")
    assert review.is_visible()
    shot(page, "phone-report")
    review.get_by_role("button", name="同意").tap()
    assert "同意" in page.inner_text("#confirm-text")
    page.get_by_role("button", name="确认审定报告").tap()
    assert f"{LEADER} 同意 {OFFICE} 第1版报告" in page.inner_text("#outcome")
    shot(page, "phone-approved")
    with atomic(engine) as s:
        sub = s.scalars(select(Submission).join(Office).where(Office.name == OFFICE, Submission.state == "approved")
                        .order_by(Submission.id.desc())).first()
        assert sub is not None and sub.period.key == "2022-07"
        assert s.scalars(select(Event).where(Event.kind == "decision_web")).one().actor == LEADER


def test_a_viewer_cannot_act(new_page, server):
    _, engine = server
    page = new_page()
    log_in(page, VIEWER)
    page.wait_for_selector("#overview")
    assert page.locator("form[action^='/act/']").count() == 0
    page.goto("/inbox")
    assert page.locator("form[action^='/act/']").count() == 0
    # Even a hand-made request with the viewer's own valid CSRF token is refused.
    status = page.evaluate("""async () => {
        const csrf = document.querySelector("input[name=csrf]").value;
        const body = new URLSearchParams({csrf, office: "招考股", period: "2022-07", to: "2022-07-29",
                                          reason: "试", confirmed: "1"});
        return (await fetch("/act/extend", {method: "POST", body})).status;
    }""")
    assert status == 403
    with atomic(engine) as s:
        assert s.scalars(select(OfficeDeadline).join(Office).where(Office.name == "招考股")).first() is None


def test_a_form_without_its_csrf_token_is_refused(new_page, server):
    _, engine = server
    page = new_page()
    log_in(page, CLERK)
    row = page.locator("#overview tr[data-office='招考股']")
    row.locator("summary", has_text="操作").click()
    form = row.locator("form[action='/act/extend']")
    form.evaluate("f => f.querySelector('input[name=csrf]').remove()")
    form.locator("input[name=to]").fill("2022-07-29")
    form.locator("input[name=reason]").fill("试")
    form.get_by_role("button", name="延长截止日").click()
    assert "安全校验失败" in page.inner_text("#outcome")
    with atomic(engine) as s:
        assert s.scalars(select(OfficeDeadline).join(Office).where(Office.name == "招考股")).first() is None


def test_wrong_passwords_lock_the_login(new_page):
    # Last in the module: the lock also holds for the browser's address.
    page = new_page()
    for _ in range(5):
        log_in(page, CLERK, "not-the-password")
        assert "用户名或密码不正确" in page.inner_text(".error")
    log_in(page, CLERK)  # the right password now: still locked
    assert "已暂时锁定" in page.inner_text(".error")
    assert "/login" in page.url
    shot(page, "locked")
