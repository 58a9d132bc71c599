"""The console's Starlette application: routes, sign-in, the pages and the action endpoint.

Every page needs a signed-in account; every POST needs the session's CSRF token; actions need the role
their Spec names (mailer.web.acts) and go through a confirmation page before they run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mailer.common.config import Settings
from mailer.common.errors import DubanError
from mailer.common.labels import label
from mailer.registry.audit import record
from mailer.registry.model import Document, Office, Submission, utcnow
from mailer.registry.store import atomic
from mailer.web import views
from mailer.web.accounts import Account, authenticate, supervised_office_ids
from mailer.web.acts import ACTIONS, Env, as_form, deliver, stage_upload
from mailer.web.auth import (
    LoginLimiter,
    client_ip,
    csrf_ok,
    csrf_token,
    current_account,
    log_in,
    session_key,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["label"] = label
templates.env.filters["changed"] = views.changed
templates.env.globals["sub_states"] = {
    "pending_approval": "待审定", "approved": "已审定", "returned": "已退回", "invalid": "格式有误",
    "superseded": "已被新版取代",
}
NAV = (("/", "本月总览"), ("/tasks", "任务"), ("/notices", "通报"), ("/inbox", "收件"), ("/audit", "审计"))
Handler = Callable[[Request], Awaitable[Response]]


def _now(request: Request) -> dt.datetime:
    clock = request.app.state.clock
    return clock() if clock is not None else utcnow()


def _today(request: Request) -> dt.date:
    settings: Settings = request.app.state.settings
    from zoneinfo import ZoneInfo

    return _now(request).astimezone(ZoneInfo(settings.cycle.timezone)).date()


def page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> Response:
    me = current_account(request)
    return templates.TemplateResponse(
        request,
        name,
        {"me": me, "csrf": csrf_token(request), "nav": NAV, "path": request.url.path, **ctx},
        status_code=status_code,
    )


def message(request: Request, text: str, *, status_code: int = 200, error: bool = False, back: str = "/") -> Response:
    return page(request, "message.html", status_code=status_code, text=text, error=error, back=back)


def signed_in(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        if await run_in_threadpool(current_account, request) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return await handler(request)

    return wrapped


def _safe_next(target: str) -> str:
    # Only a path of this site: never an absolute or protocol-relative URL (open redirect).
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


# --- sign-in ----------------------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    nxt = _safe_next(request.query_params.get("next", "/"))
    if request.method == "GET":
        return page(request, "login.html", next=nxt, error="")
    form = await request.form()
    if not csrf_ok(request, form):
        return page(request, "login.html", status_code=403, next=nxt,
                    error="页面已过期或安全校验失败，请重新登录。")
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    nxt = _safe_next(str(form.get("next", "/")))
    limiter: LoginLimiter = request.app.state.limiter
    ip = client_ip(request)
    wait = limiter.locked_for(name, ip)
    if wait:
        return page(request, "login.html", status_code=429, next=nxt,
                    error=f"登录失败次数过多，已暂时锁定。请 {wait // 60 + 1} 分钟后再试，或联系局办公室重设密码。")
    engine: Engine = request.app.state.engine
    account = await run_in_threadpool(authenticate, engine, name, password)
    if account is None:
        limiter.failed(name, ip)
        if limiter.locked_for(name, ip):
            await run_in_threadpool(_audit, engine, "login_locked", f"用户“{name}”登录失败次数过多，已锁定 15 分钟（{ip}）",
                                    name)
        return page(request, "login.html", status_code=401, next=nxt, error="用户名或密码不正确。")
    limiter.succeeded(name)
    log_in(request, account)
    await run_in_threadpool(_audit, engine, "login", f"用户“{account.name}”登录网页控制台（{ip}）", account.name)
    return RedirectResponse(nxt, status_code=303)


def _audit(engine: Engine, kind: str, detail: str, actor: str) -> None:
    with atomic(engine) as s:
        record(s, kind, detail, actor=actor)


async def logout(request: Request) -> Response:
    form = await request.form()
    if csrf_ok(request, form):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- pages -----------------------------------------------------------------------------------------------


def _lights(session: Any, request: Request, period: Any) -> dict[int, Any]:
    from mailer.render.lights import task_lights

    return task_lights(session, request.app.state.settings, period, _today(request))


@signed_in
async def overview_page(request: Request) -> Response:
    def load() -> dict[str, Any]:
        settings: Settings = request.app.state.settings
        with atomic(request.app.state.engine) as s:
            period = views.pick_period(s, request.query_params.get("period"))
            all_periods = [(p.key, label("period", p.state)) for p in views.periods(s)]
            if period is None:
                return {"period": None, "periods": all_periods}
            rows = views.overview(settings, s, period, _now(request))
            lights = _lights(s, request, period)
            by_seq = {t["seq"]: lights.get(t["id"]) for t in views.tasks(s, period)}
            for r in rows:
                r["lights"] = [(seq, by_seq.get(seq)) for seq in r["tasks"]]
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["state"]] = counts.get(r["state"], 0) + 1
            light_counts = {c: sum(1 for x in lights.values() if x.light.value == c) for c in ("green", "yellow", "red")}
            return {"period": {"key": period.key, "state": label("period", period.state), "raw": period.state,
                               "due_on": period.due_on}, "periods": all_periods, "rows": rows, "counts": counts,
                    "light_counts": light_counts}

    data = await run_in_threadpool(load)
    return page(request, "overview.html", **data)


@signed_in
async def tasks_page(request: Request) -> Response:
    def load() -> dict[str, Any]:
        with atomic(request.app.state.engine) as s:
            period = views.pick_period(s, request.query_params.get("period"))
            rows = views.tasks(s, period)
            lights = _lights(s, request, period) if period is not None else {}
            for r in rows:
                r["light"] = lights.get(r["id"])
            return {"rows": rows, "period": period.key if period else "",
                    "periods": [p.key for p in views.periods(s)]}

    return page(request, "tasks.html", **await run_in_threadpool(load))


@signed_in
async def report_page(request: Request) -> Response:
    me: Account = request.scope["account"]

    def load() -> dict[str, Any] | None:
        with atomic(request.app.state.engine) as s:
            period = views.pick_period(s, request.path_params["period"])
            office = s.get(Office, request.path_params["office_id"])
            if period is None or office is None:
                return None
            rev = request.query_params.get("rev")
            view = views.report(s, period, office, int(rev) if rev and rev.isdigit() else None)
            shown = view.shown
            lights = _lights(s, request, period)
            for row in view.rows:
                row["light"] = lights.get(row["task_id"])
            may_review = (
                shown is not None and shown.state == "pending_approval" and me.role == "leader"
                and office.id in supervised_office_ids(s, me)
            )
            return {
                "office": office.name, "office_id": office.id, "period": period.key,
                "leader": office.leader.name if office.leader else "",
                "revisions": [{"revision": r.revision, "state": r.state, "received": views.local(
                    request.app.state.settings, r.received_at), "late": r.late} for r in view.revisions],
                "shown": None if shown is None else {
                    "id": shown.id, "revision": shown.revision, "state": shown.state, "late": shown.late,
                    "filled_by": shown.filled_by, "filled_on": shown.filled_on, "has_file": bool(shown.form_path),
                    "received": views.local(request.app.state.settings, shown.received_at, "%Y-%m-%d %H:%M"),
                },
                "previous": view.previous.revision if view.previous else None,
                "rows": view.rows, "findings": view.findings, "may_review": may_review,
                "may_record": shown is not None and shown.state == "pending_approval" and me.can_act,
            }

    data = await run_in_threadpool(load)
    if data is None:
        return message(request, "没有这个期次或股室。", status_code=404, error=True)
    return page(request, "report.html", **data)


@signed_in
async def notices_page(request: Request) -> Response:
    def load() -> list[dict[str, Any]]:
        with atomic(request.app.state.engine) as s:
            return views.notices(request.app.state.settings, s)

    return page(request, "notices.html", rows=await run_in_threadpool(load))


@signed_in
async def inbox_page(request: Request) -> Response:
    def load() -> dict[str, Any]:
        with atomic(request.app.state.engine) as s:
            return views.inbox(request.app.state.settings, s)

    return page(request, "inbox.html", **await run_in_threadpool(load))


@signed_in
async def audit_page(request: Request) -> Response:
    def load() -> dict[str, Any]:
        with atomic(request.app.state.engine) as s:
            key = request.query_params.get("period") or None
            period = views.pick_period(s, key) if key else None
            actions_only = request.query_params.get("actions") == "1"
            return {"rows": views.audit(request.app.state.settings, s, period, actions_only=actions_only),
                    "period": key or "", "actions_only": actions_only,
                    "periods": [p.key for p in views.periods(s)]}

    return page(request, "audit.html", **await run_in_threadpool(load))


# --- files ---------------------------------------------------------------------------------------------


@signed_in
async def submission_file(request: Request) -> Response:
    settings: Settings = request.app.state.settings

    def load() -> tuple[Path, str] | None:
        with atomic(request.app.state.engine) as s:
            sub = s.get(Submission, request.path_params["sid"])
            if sub is None or not sub.form_path:
                return None
            return settings.path(sub.form_path), f"{sub.period.key}-{sub.office.name}-第{sub.revision}版.docx"

    found = await run_in_threadpool(load)
    if found is None or not found[0].is_file():
        return message(request, "没有这份文件。", status_code=404, error=True)
    return FileResponse(found[0], filename=found[1])


@signed_in
async def document_file(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    want_pdf = request.query_params.get("pdf") == "1"

    def load() -> Path | None:
        with atomic(request.app.state.engine) as s:
            doc = s.get(Document, request.path_params["did"])
            if doc is None or doc.kind not in ("draft", "published"):
                return None
            rel = doc.pdf_path if want_pdf else doc.path
            return settings.path(rel) if rel else None

    path = await run_in_threadpool(load)
    if path is None or not path.is_file():
        return message(request, "没有这份文件。", status_code=404, error=True)
    return FileResponse(path, filename=path.name)


# --- actions -----------------------------------------------------------------------------------------


@signed_in
async def act(request: Request) -> Response:
    me: Account = request.scope["account"]
    spec = ACTIONS.get(request.path_params["name"])
    if spec is None:
        return message(request, "没有这个操作。", status_code=404, error=True)
    data = await request.form()
    if not csrf_ok(request, data):
        return message(request, "安全校验失败（页面已过期或请求并非来自本页面），操作未执行。请刷新页面后重试。",
                       status_code=403, error=True)
    if me.role not in spec.roles:
        return message(request, f"您的角色（{me.role_label}）不能执行“{spec.title}”。", status_code=403, error=True)
    form = as_form(data)
    back = _safe_next(form.pop("back", "/"))
    settings: Settings = request.app.state.settings
    upload = data.get("file")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        content = await upload.read()
        form["upload"] = await run_in_threadpool(stage_upload, settings, upload.filename, content)
    clock = request.app.state.clock
    env = Env(settings, request.app.state.engine, clock() if clock else None, me)
    confirmed = form.pop("confirmed", "") == "1"
    form.pop("csrf", None)
    try:
        if not confirmed:
            text = await run_in_threadpool(spec.describe, env, form)
            return page(request, "confirm.html", title=spec.title, text=text, fields=form,
                        action=request.url.path, back=back)
        outcome = await run_in_threadpool(spec.run, env, form)
    except DubanError as e:
        return message(request, f"{spec.title}未执行：{e}", status_code=400, error=True, back=back)
    log.info("Console action %s by %s", request.path_params["name"], me.name)
    note = ""
    if spec.sends_mail:
        note = (await run_in_threadpool(deliver, settings, env.engine) if request.app.state.send_now
                else "邮件已排入发送队列，服务将在下次运行时发出。")
    return message(request, "\n".join(x for x in (outcome, note) if x), back=back)


async def health(_request: Request) -> Response:
    return Response("ok", media_type="text/plain")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    send_now: bool = True,
    clock: Callable[[], dt.datetime] | None = None,
) -> Starlette:
    """The console for ``settings``' home.

    :param send_now: send the mail an action queues at once (``duban web``); inside ``duban serve`` the
        service sends it on its next run, so two senders never race
    :param clock: the time the pages and actions take as now (tests, demos); default: the real clock
    """
    from mailer.registry.homeid import open_home_registry

    app = Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", overview_page),
            Route("/tasks", tasks_page),
            Route("/report/{period}/{office_id:int}", report_page),
            Route("/notices", notices_page),
            Route("/inbox", inbox_page),
            Route("/audit", audit_page),
            Route("/file/submission/{sid:int}", submission_file),
            Route("/file/document/{did:int}", document_file),
            Route("/act/{name}", act, methods=["POST"]),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=session_key(settings),
                session_cookie="duban_session",
                max_age=settings.web.session_hours * 3600,
                same_site="lax",
                https_only=settings.web.secure_cookies,
            )
        ],
    )
    app.state.settings = settings
    app.state.engine = engine or open_home_registry(settings)
    app.state.limiter = LoginLimiter()
    app.state.send_now = send_now
    app.state.clock = clock
    return app
