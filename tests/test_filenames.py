"""File names built from office names and notice titles stay within what file systems accept (issue 8.7):
an office name of 68+ Chinese characters used to stop every form on the send day ("File name too long")."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.common.filenames import NAME_BUDGET_BYTES, fit_name
from mailer.plan.importer import import_file
from mailer.read.mailread import read_message
from mailer.registry.model import Dispatch, Office
from mailer.registry.store import atomic, open_registry
from mailer.service.cycle import run_once
from mailer.service.demo import EXAMPLES, at
from mailer.transport.base import open_transport

LONG = "台山市教育局关于统筹推进县域内城乡义务教育一体化改革发展和学前教育普及普惠县创建暨义务教育优质均衡发展督导评估工作领导小组办公室综合协调组"


def test_short_names_are_kept_and_long_ones_cut_with_a_hash_within_the_budget():
    assert fit_name("进展情况表-基财股", ".docx") == "进展情况表-基财股.docx"
    a = fit_name("进展情况表-" + LONG * 2 + "甲", ".docx")
    b = fit_name("进展情况表-" + LONG * 2 + "乙", ".docx")
    assert a != b and a.endswith(".docx") and b.startswith("进展情况表-台山市")
    assert len(a.encode()) <= NAME_BUDGET_BYTES and len(b.encode()) <= NAME_BUDGET_BYTES
    assert fit_name("进展情况表-" + LONG * 2 + "甲", ".docx") == a  # the same name every time
    assert len(fit_name("x" * 300, "（第12稿）.docx", budget=100).encode()) <= 100


@pytest.fixture
def long_named(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    with atomic(engine) as s:
        # Two offices whose long names differ only at the end.
        for office, tail in zip(s.scalars(select(Office).where(Office.name.in_(("基财股", "基安股")))), "甲乙",
                                strict=True):
            office.name = LONG + tail
    assert len(LONG) >= 68
    return home, engine


def test_forms_of_offices_with_very_long_names_go_out_under_distinct_short_names(long_named):
    """
    GIVEN two lead offices whose names are 70 Chinese characters long and differ only in the last one
    WHEN  the send day comes
    THEN  every form goes out; each long-named form's file (in outbox/forms and as the attachment) is within
          the budget and the two are distinct
    """
    settings, engine = long_named
    with open_transport(settings) as t:
        run_once(settings, engine, t, at(10))
    with atomic(engine) as s:
        forms = s.scalars(select(Dispatch).where(Dispatch.kind == "form")).all()
        assert len(forms) == 10 and all(d.state == "sent" for d in forms)
        paths = [d.eml_path for d in forms]
    names = [read_message(settings.path(p).read_bytes(), max_attachment_bytes=10**8).attachments[0].filename
             for p in paths]
    long_ones = [n for n in names if n.startswith("2022年1—6月重点工作进展情况表-台山市教育局")]
    assert len(long_ones) == 2 and long_ones[0] != long_ones[1]
    assert all(len(n.encode()) <= NAME_BUDGET_BYTES for n in names)
    on_disk = sorted(p.name for p in (settings.outbox / "forms" / "2022-06").iterdir())
    assert set(long_ones) <= set(on_disk)


def test_a_notice_with_a_very_long_title_is_written(home, engine):
    import dataclasses
    import datetime as dt

    from notice_factory import seed_june

    from mailer.render.notice import assemble_notice, final_name

    settings = dataclasses.replace(home, service=dataclasses.replace(home.service, libreoffice="no-such-soffice"))
    with atomic(engine) as s:
        seeded = seed_june(s)
        seeded.june.plan.org_name = LONG * 2
        s.flush()
        a = assemble_notice(settings, s, seeded.june, version=12, issued_on=dt.date(2022, 6, 24))
    assert a.docx.exists() and len(a.docx.name.encode()) <= NAME_BUDGET_BYTES
    assert a.docx.name.endswith("（第12稿）.docx") and not final_name(a.docx).endswith("稿）.docx")
