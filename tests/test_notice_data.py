"""notice_data: what the consolidated notice says for a realistic month (tests/notice_factory.py)."""

from __future__ import annotations

import pytest
from notice_factory import add_submission, bj, seed_june
from sqlalchemy import select

from mailer.common.errors import RegistryError
from mailer.registry.model import Plan, Submission
from mailer.registry.store import atomic
from mailer.render.notice_data import (
    LATE,
    MISSING,
    ON_TIME,
    milestone_offices_text,
    notice_data,
    opening_text,
    overview_text,
    reporting_items,
)

LATE_TASKS = {9, 10, 11, 12, 13, 14}
MISSING_TASKS = {15, 17}


def test_every_task_in_order_with_the_status_of_its_leads(engine):
    """
    GIVEN the June reports: 7 offices on time, 督导室 late, 招考股 silent, 卫健所 awaiting its leader
    WHEN  the notice data is read
    THEN  all 19 tasks come in 编号 order with 按时/逾期/未报送 as their lead offices reported
    """
    with atomic(engine) as s:
        d = notice_data(s, seed_june(s).june)
    assert [r.seq for r in d.rows] == list(range(1, 20))
    expected = {
        seq: LATE if seq in LATE_TASKS else MISSING if seq in MISSING_TASKS else ON_TIME
        for seq in range(1, 20)
    }
    assert {r.seq: r.status for r in d.rows} == expected
    assert d.rows[0].name == "培英职业技术学校新校区建设项目"
    assert d.rows[0].leads == ("基财股",)
    assert d.title == "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报"
    assert d.annex_title == "台山市教育系统2022年重点工作任务进展情况汇总表（1—6月）"


def test_summary_counts(engine):
    with atomic(engine) as s:
        sm = notice_data(s, seed_june(s).june).summary
    assert (sm.total, sm.on_time, sm.late, sm.missing) == (19, 11, 6, 2)
    assert sm.late_offices == ("督导室",)
    assert set(sm.missing_offices) == {"招考股", "卫健所"}
    assert sm.pending_offices == ("卫健所",)
    assert len(sm.on_time_offices) == 7
    # June milestones: tasks 1 2 4 8 9 11 12 14 15 16 17 each have one.
    assert (sm.milestones_due, sm.tasks_with_due) == (11, 11)
    assert sm.milestones_overdue == 20


def test_text_comes_from_the_newest_approved_submission(engine):
    """基财股's first revision was returned and 职终股's first superseded: only the approved ones count."""
    with atomic(engine) as s:
        rows = {r.seq: r for r in notice_data(s, seed_june(s).june).rows}
    assert rows[1].progress.startswith("已完成招标文件编制")
    assert "退回稿" not in rows[1].progress and "旧稿" not in rows[7].progress
    assert rows[15].progress == rows[15].problems == ""
    assert rows[17].progress == "", "a submission awaiting approval is not published"


def test_joint_leads_each_speak_under_their_name(engine):
    with atomic(engine) as s:
        row = notice_data(s, seed_june(s).june).rows[15]
    assert row.seq == 16 and row.leads == ("机关党委", "人事股")
    assert (
        row.progress
        == "机关党委：已完成全市中小学校党组织摸排。\n人事股：已配合机关党委完成校长负责制试点学校领导班子配备摸底。"
    )
    assert row.problems.splitlines()[1] == "人事股：下一步做好试点学校干部选配。"
    assert row.status_text == ON_TIME


def test_joint_leads_with_different_statuses_show_each(engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        hr = s.scalars(select(Submission).where(Submission.office_id == seeded.offices["人事股"].id)).one()
        hr.state = "returned"
        s.flush()
        row = notice_data(s, seeded.june).rows[15]
    assert row.status == MISSING
    assert row.status_text == "机关党委：按时报送\n人事股：未报送"
    assert row.progress == "机关党委：已完成全市中小学校党组织摸排。"


def test_the_due_day_ends_at_midnight_beijing_time(engine):
    """人事股 sent at 23:30 on 20 June (Beijing) — on time; 00:10 on 21 June is late though UTC says 20 June."""
    with atomic(engine) as s:
        seeded = seed_june(s)
        assert notice_data(s, seeded.june).rows[3].status == ON_TIME
        hr = s.scalars(select(Submission).where(Submission.office_id == seeded.offices["人事股"].id)).one()
        hr.received_at = bj(2022, 6, 21, 0, 10)
        s.flush()
        d = notice_data(s, seeded.june)
    assert d.rows[3].status == LATE
    assert "人事股于6月21日报送（第4、16项任务），逾期1天" in reporting_items(d)[1]["text"]


def test_milestones_due_this_month_and_before(engine):
    with atomic(engine) as s:
        rows = notice_data(s, seed_june(s).june).rows
    assert rows[0].due_this_month == ("二是6月底前开展施工招标",)
    assert rows[0].overdue == ("一是3月底前完成招标文件编制",)
    assert (
        rows[0].milestones_text
        == "本月到期：二是6月底前开展施工招标。\n已到期：一是3月底前完成招标文件编制。"
    )
    assert rows[12].milestones_text == "本月无到期节点"  # task 13: July, October, December


def test_july_before_anyone_reported(engine):
    with atomic(engine) as s:
        d = notice_data(s, seed_june(s).july)
    assert {r.status for r in d.rows} == {MISSING}
    assert d.span == "1—7月"
    assert d.summary.milestones_due == 4  # tasks 9, 10, 13 and 18
    assert (
        overview_text(d)
        == "截至7月20日，19项重点工作任务中，未报送19项（" + "、".join(d.summary.missing_offices) + "）。"
    )


def test_removed_tasks_are_left_out(engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        seeded.tasks[19].removed = True
        s.flush()
        d = notice_data(s, seeded.june)
    assert [r.seq for r in d.rows] == list(range(1, 19))


def test_a_plan_without_tasks_is_refused(engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        for t in seeded.tasks.values():
            t.removed = True
        s.flush()
        with pytest.raises(RegistryError, match="没有任务"):
            notice_data(s, seeded.june)


def test_prose_reads_like_a_notice(engine):
    with atomic(engine) as s:
        d = notice_data(s, seed_june(s).june)
    assert opening_text(d) == (
        "根据《关于印发台山市教育系统2022年重点工作任务的通知》要求，各牵头股室对台山市教育系统2022年重点工作任务"
        "1—6月落实情况进行了报送，局办公室进行了汇总梳理。现将有关情况通报如下："
    )
    assert overview_text(d) == (
        "截至6月20日，19项重点工作任务中，按时报送11项，逾期报送6项（督导室），未报送2项（招考股、卫健所）。"
    )
    items = reporting_items(d)
    assert [i["head"] for i in items] == ["（一）按时报送。", "（二）逾期报送。", "（三）未报送。"]
    assert items[0]["text"] == (
        "基财股、人事股、基安股、职终股、机关党委、教育装备中心、教师发展中心共7个股室按时报送，"
        "涉及任务11项。"
    )
    assert items[1]["text"] == "督导室于6月22日报送（第9—14项任务），逾期2天。"
    assert items[2]["text"] == (
        "招考股、卫健所共2个股室未报送，涉及第15、17项任务。其中，卫健所报表已提交，"
        "尚待分管负责同志审定。请上述股室抓紧补报。"
    )
    assert milestone_offices_text(d).startswith("各牵头股室到期节点情况：基财股本月到期2个、此前到期3个；")
    assert d.summary_text.startswith("截至6月20日，19项重点工作任务中")


def test_all_on_time(engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        for sub in s.scalars(select(Submission)):
            sub.state, sub.late, sub.received_at = "approved", False, bj(2022, 6, 15)
        add_submission(
            s,
            seeded.june,
            seeded.offices["招考股"],
            {seeded.tasks[15]: ("高考顺利完成。", "")},
            received=bj(2022, 6, 19),
        )
        d = notice_data(s, seeded.june)
    assert overview_text(d) == "截至6月20日，19项重点工作任务中，各牵头股室均已按时报送进展情况。"
    assert [i["head"] for i in reporting_items(d)] == ["（一）按时报送。"]


def test_org_name_falls_back_to_the_plan_title(engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        plan = s.get(Plan, seeded.plan.id)
        plan.org_name = ""
        s.flush()
        assert notice_data(s, seeded.june).org_name == "台山市教育系统"
