"""Each lead office's state in a period, derived from dispatches, submissions and approvals."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from make_notice import build_directory, build_notice
from sqlalchemy import select

from mailer.cli import cli
from mailer.plan.importer import import_file
from mailer.registry.model import Approval, Dispatch, Period, Plan, Submission
from mailer.registry.offices import find_office
from mailer.registry.status import display_width, format_table, office_states, render_status_table
from mailer.registry.store import atomic

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2022, 6, day, hour, tzinfo=TZ)


def add_period(s) -> Period:
    plan = s.scalars(select(Plan)).one()
    period = Period(
        plan_id=plan.id, year=2022, month=6, send_on=dt.date(2022, 6, 10), due_on=dt.date(2022, 6, 20)
    )
    s.add(period)
    s.flush()
    return period


def dispatch(s, period, office, kind, state="sent", n=0):
    s.add(
        Dispatch(
            key=f"{kind}:{period.key}:{office.name}:{n}",
            kind=kind,
            period_id=period.id,
            office_id=office.id,
            message_id=f"<{kind}.{office.id}.{n}@jyj.example.gov.cn>",
            state=state,
        )
    )


def submit(s, period, office, revision, state, when, *, late=False):
    sub = Submission(
        period_id=period.id, office_id=office.id, revision=revision, state=state, received_at=when, late=late
    )
    s.add(sub)
    s.flush()
    return sub


@pytest.fixture
def june(home, engine, tmp_path):
    """
    The 2022-06 period with: 基财股 approved by 陈志明; 人事股 not sent; 基安股 sent, reminded once, silent;
    职终股 format errors; 督导室 invalid then resubmitted late, pending; 招考股 returned; the rest sent.
    """
    import_file(home, engine, build_directory(tmp_path / "d.xlsx"))
    import_file(home, engine, build_notice(tmp_path / "n.docx"))
    with atomic(engine) as s:
        period = add_period(s)
        o = {
            n: find_office(s, n)
            for n in (
                "基财股",
                "人事股",
                "基安股",
                "职终股",
                "督导室",
                "招考股",
                "机关党委",
                "卫健所",
                "教育装备中心",
                "教师发展中心",
            )
        }
        for name, office in o.items():
            if name != "人事股":
                dispatch(s, period, office, "form")
        dispatch(s, period, o["基安股"], "reminder", n=1)
        dispatch(s, period, o["基安股"], "reminder", state="pending", n=2)  # not sent yet: not counted
        sub = submit(s, period, o["基财股"], 1, "approved", at(14))
        s.add(
            Approval(
                kind="review",
                submission_id=sub.id,
                person_id=o["基财股"].leader.id,
                decision="approved",
                decided_at=at(15, 9),
            )
        )
        submit(s, period, o["职终股"], 1, "invalid", at(15))
        submit(s, period, o["督导室"], 1, "invalid", at(18))
        submit(s, period, o["督导室"], 2, "pending_approval", at(22), late=True)
        submit(s, period, o["招考股"], 1, "returned", at(16))
        return period.id


def states(engine, period_id, now=None):
    with atomic(engine) as s:
        return {st.office: st for st in office_states(s, s.get(Period, period_id), now=now or at(23))}


def test_each_state(engine, june):
    got = states(engine, june)
    # In the order of the first task each leads.
    assert list(got) == [
        "基财股",
        "人事股",
        "基安股",
        "职终股",
        "督导室",
        "招考股",
        "机关党委",
        "卫健所",
        "教育装备中心",
        "教师发展中心",
    ]
    assert {k: v.state for k, v in got.items()} == {
        "基财股": "已审定",
        "人事股": "未发送",
        "基安股": "已发送",
        "职终股": "格式有误",
        "督导室": "待审定",
        "招考股": "已退回",
        "机关党委": "已发送",
        "卫健所": "已发送",
        "教育装备中心": "已发送",
        "教师发展中心": "已发送",
    }
    jcg = got["基财股"]
    assert (jcg.revision, jcg.late, jcg.days_late, jcg.approved_by) == (1, False, 0, "陈志明")
    assert jcg.approved_at == at(15, 9) and jcg.submitted_at == at(14) and jcg.tasks == [1, 2, 3]
    jag = got["基安股"]
    assert (jag.reminders, jag.late, jag.days_late, jag.revision) == (1, True, 3, None)
    dds = got["督导室"]
    assert (dds.revision, dds.late, dds.days_late) == (2, True, 2)
    assert dds.tasks == [9, 10, 11, 12, 13, 14]
    assert not got["职终股"].late and got["人事股"].days_late == 3


def test_before_the_due_date_nobody_is_late(engine, june):
    got = states(engine, june, now=at(18))
    assert not got["基安股"].late and got["基安股"].days_late == 0


def test_render_status_table(engine, june):
    with atomic(engine) as s:
        table = render_status_table(office_states(s, s.get(Period, june), now=at(23)))
    lines = table.splitlines()
    assert lines[0].split() == ["股室", "牵头任务", "状态", "版本", "报送时间", "逾期", "审定", "催报"]
    jcg = next(line for line in lines if line.startswith("基财股"))
    assert "已审定" in jcg and "陈志明 06-15 09:00" in jcg and "06-14 10:00" in jcg
    assert "逾期3天" in next(line for line in lines if line.startswith("基安股"))
    assert lines[-1] == "共 10 个牵头股室：未发送 1，已发送 5，格式有误 1，待审定 1，已退回 1，已审定 1"
    state_col = display_width(lines[0][: lines[0].index("状态")])
    for line in lines[2:-1]:
        cut = next(i for i in range(len(line) + 1) if display_width(line[:i]) >= state_col)
        assert display_width(line[:cut]) == state_col and line[cut : cut + 2] in (
            "未发",
            "已发",
            "格式",
            "待审",
            "已退",
            "已审",
        ), line


def test_format_table_cuts_long_cells():
    out = format_table(["名称", "x"], [["一二三四五六七八九十", "1"]], max_width={0: 9})
    assert out.splitlines()[2] == "一二三四…  1"  # 4 wide characters and "…" fill the 9 columns


def test_status_cli(home, engine, june):
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home.home), "status"]).output
    assert out.startswith("2022年1—6月（2022-06，已开启，截止 2022年6月20日）")
    data = json.loads(
        runner.invoke(cli, ["--home", str(home.home), "status", "--period", "2022-06", "--json"]).output
    )
    assert data["period"] == "2022-06" and len(data["offices"]) == 10
    assert data["offices"][0] == {
        "office": "基财股",
        "tasks": [1, 2, 3],
        "state": "已审定",
        "revision": 1,
        "submitted_at": "2022-06-14T02:00:00+00:00",
        "late": False,
        "days_late": 0,
        "approved_by": "陈志明",
        "approved_at": "2022-06-15T01:00:00+00:00",
        "reminders": 0,
        # No entries in this fixture: nothing reported done, so March's milestone of task 1 is overdue.
        "light": "red",
    }
    task1 = data["tasks"][0]
    assert (task1["seq"], task1["light"], task1["label"]) == (1, "red", "红")
    assert task1["reasons"][0] == "节点逾期未完成：一是3月底前完成招标文件编制（3月31日到期）"
    header = out.splitlines()[1].split()
    assert header[:5] == ["股室", "牵头任务", "状态", "灯", "版本"]
    assert "●红" in next(line for line in out.splitlines() if line.startswith("基财股"))
    assert "红灯任务 " in out
    missing = runner.invoke(cli, ["--home", str(home.home), "status", "--period", "2022-07"])
    assert missing.exit_code == 1 and "登记库中没有 2022年7月 的报送期" in missing.output


def test_status_without_a_period(home, engine):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home.home), "status"])
    assert result.exit_code == 0 and result.output.startswith("尚无报送期：还没有发出任何表格。")
    assert json.loads(runner.invoke(cli, ["--home", str(home.home), "status", "--json"]).output) == {
        "period": None,
        "offices": [],
    }
