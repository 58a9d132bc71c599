"""A real month for the console's tests: `duban demo`'s June 2022 (published, with a late office, a form
with errors, a report returned and resubmitted) and then July opened through the same service code, with one
office's report awaiting its leader and a form from a stranger held in quarantine. Built once per session
(tests/conftest.py ``web_template``) and copied per module."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest
from sqlalchemy import select

from mailer.common.config import load_settings
from mailer.read.mailread import read_message
from mailer.registry.homeid import open_home_registry
from mailer.registry.model import Dispatch, Office
from mailer.registry.store import atomic, close_all
from mailer.service.cycle import run_once
from mailer.service.demo import People, fill_form, run_demo
from mailer.transport.base import open_transport
from mailer.web.accounts import add_user

TZ = ZoneInfo("Asia/Shanghai")
KEY = "test-secret-key-not-for-production"  # as tests/conftest.py sets for every test
NOW = dt.datetime(2022, 7, 13, 10, 0, tzinfo=TZ)  # the console's clock in the tests
PASSWORD = "mima-2022-duban"
CLERK, LEADER, VIEWER = "张三", "陈志明", "李四"
OFFICE = "基财股"  # reports in July; its leader is 陈志明
STRANGER = "someone@example.org"


def july(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2022, 7, day, hour, minute, tzinfo=TZ)


def build(directory: Path) -> Path:
    """The home described above, with the users 张三 (办公室), 陈志明 (分管领导 of 基财股) and 李四 (查看)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUBAN_SECRET_KEY", KEY)
        mp.setenv("XDG_CONFIG_HOME", str(directory / "xdg"))
        home = run_demo(directory / "home").home
        settings = load_settings(home)
        engine = open_home_registry(settings)

        def day(when: dt.datetime) -> None:
            with open_transport(settings) as t:
                run_once(settings, engine, t, when, auto_confirm="webdata")

        day(july(11))  # July's forms go out
        with atomic(engine) as s:
            office = s.scalars(select(Office).where(Office.name == OFFICE)).one()
            addr, leader = office.addresses[0].email, office.leader
            assert leader is not None
            leader_email = leader.email
        people = People(home, engine, settings.mail.from_address)
        # The office reports July with news in it (so the console has a difference to June to show) ...
        mine = _form_sent(engine, addr)
        name, data = _attachment(home, mine)
        people._reply(mine, addr, "请审核。", july(12, 10), (name, _with_news(fill_form(data))))
        # ... and a stranger answers another office's form with a filled form: quarantined, the bureau told.
        with atomic(engine) as s:
            d = s.scalars(select(Dispatch).where(Dispatch.kind == "form").order_by(Dispatch.id.desc())).first()
            assert d is not None
        name, data = _attachment(home, d)
        people._reply(d, STRANGER, "请查收附件。", july(12, 11), (name, fill_form(data)))
        day(july(12, 12))
        add_user(engine, CLERK, "办公室", PASSWORD, by="webdata")
        add_user(engine, LEADER, "分管领导", PASSWORD, leader_email=leader_email, by="webdata")
        add_user(engine, VIEWER, "查看", PASSWORD, by="webdata")
        close_all()
    return home


def _form_sent(engine: object, addr: str) -> Dispatch:
    with atomic(engine) as s:  # type: ignore[arg-type]
        rows = s.scalars(select(Dispatch).where(Dispatch.kind == "form").order_by(Dispatch.id.desc())).all()
        return next(d for d in rows if addr in d.to_addrs)


def _attachment(home: Path, d: Dispatch) -> tuple[str, bytes]:
    att = read_message((home / d.eml_path).read_bytes(), max_attachment_bytes=50 * 2**20).attachments[0]
    return att.filename, att.data


def _with_news(data: bytes) -> bytes:
    doc = docx.Document(io.BytesIO(data))
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                for para in cell.paragraphs:
                    for run in para.runs:
                        run.text = run.text.replace("本月完成阶段性工作", "7月已完成项目招标，进入施工阶段")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def copy_home(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target
