"""亮灯: the rule over plain facts (each branch, working-day boundaries around a holiday), reading "done" from
the reported text, the [lights] setting, and the loader over a realistic month (tests/notice_factory.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from notice_factory import add_submission, bj, seed_june

from mailer.common.config import DEFAULT_TOML, ConfigError, LightSettings, init_home, load_settings
from mailer.common.holidays import HolidayFile, HolidayYear
from mailer.common.workdays import Calendar
from mailer.registry.store import atomic
from mailer.render.lights import (
    Light,
    MilestoneFact,
    OfficeFact,
    TaskFacts,
    as_of,
    evaluate,
    judge,
    lights_by_seq,
    office_lights,
    reported_done,
    task_lights,
    yellow_until,
)

# 2031 as holidays.toml would give it: Monday 2 June off (端午节). Thursday 29 May is "today".
CAL = Calendar(HolidayFile(years={2031: HolidayYear(2031, off={dt.date(2031, 6, 2): "端午节"}, work={})}))
TODAY = dt.date(2031, 5, 29)
APPROVED = OfficeFact("基财股", "approved", due_on=dt.date(2031, 5, 20))


def facts(
    *milestones: MilestoneFact, offices: tuple[OfficeFact, ...] = (APPROVED,), closed=False
) -> TaskFacts:
    return TaskFacts(1, "新校区建设", tuple(milestones), offices, closed)


def due(d: dt.date, *, done: bool = False, label: str = "二是") -> MilestoneFact:
    return MilestoneFact(label, "6月初完成施工招标", d, done)


def light(f: TaskFacts, n: int = 3, today: dt.date = TODAY) -> Light:
    return judge(f, today=today, calendar=CAL, yellow_workdays=n).light


def test_light_names():
    assert [(x.label, x.text, x.css) for x in Light] == [
        ("绿", "●绿", "green"),
        ("黄", "●黄", "yellow"),
        ("红", "●红", "red"),
    ]
    assert Light.worst([Light.GREEN, Light.RED, Light.YELLOW]) is Light.RED
    assert Light.worst([]) is Light.GREEN


def test_green_on_schedule():
    result = judge(facts(due(dt.date(2031, 9, 30))), today=TODAY, calendar=CAL, yellow_workdays=3)
    assert result.light is Light.GREEN and result.reasons == ["按计划推进"]
    assert result.to_dict() == {"light": "green", "label": "绿", "reasons": ["按计划推进"]}


def test_horizon_counts_working_days_over_a_holiday():
    # Friday 30 May (1), Monday 2 June is 端午节, Tuesday 3 June (2), Wednesday 4 June (3).
    assert yellow_until(CAL, TODAY, 3) == dt.date(2031, 6, 4)
    assert light(facts(due(dt.date(2031, 6, 4)))) is Light.YELLOW  # the 3rd working day: inside
    assert light(facts(due(dt.date(2031, 6, 5)))) is Light.GREEN  # the 4th: outside
    # Without the holiday the 3rd working day would be Tuesday and Wednesday would stay green.
    plain = Calendar(HolidayFile(years={2031: HolidayYear(2031, off={}, work={})}))
    assert (
        judge(facts(due(dt.date(2031, 6, 4))), today=TODAY, calendar=plain, yellow_workdays=3).light
        is Light.GREEN
    )


def test_a_due_date_on_a_day_off_counts_from_the_working_day_before():
    saturday = dt.date(2031, 5, 31)  # "5月底前": by Friday 30 May
    assert light(facts(due(saturday)), n=0) is Light.GREEN  # N=0: only what is due today
    assert light(facts(due(saturday)), n=1) is Light.YELLOW
    sunday = dt.date(2031, 6, 8)  # by Friday 6 June, the 5th working day after today
    assert light(facts(due(sunday)), n=4) is Light.GREEN
    assert light(facts(due(sunday)), n=5) is Light.YELLOW


def test_due_today_is_yellow_not_red_and_yesterday_is_red():
    assert light(facts(due(TODAY)), n=0) is Light.YELLOW
    result = judge(facts(due(TODAY - dt.timedelta(days=1))), today=TODAY, calendar=CAL, yellow_workdays=3)
    assert result.light is Light.RED
    assert result.reasons == ["节点逾期未完成：二是6月初完成施工招标（5月28日到期）"]


def test_a_milestone_reported_done_lights_nothing():
    assert light(facts(due(TODAY - dt.timedelta(days=30), done=True), due(TODAY, done=True))) is Light.GREEN


def test_undated_milestones_light_nothing():
    assert light(facts(MilestoneFact("三是", "年内完成", None))) is Light.GREEN


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ("pending", "基财股报表待分管负责同志审定"),
        ("returned", "基财股报表已退回修改"),
        ("invalid", "基财股报表格式有误，待重新报送"),
    ],
)
def test_a_report_not_yet_approved_is_yellow(report, reason):
    result = judge(
        facts(offices=(OfficeFact("基财股", report),)), today=TODAY, calendar=CAL, yellow_workdays=3
    )
    assert result.light is Light.YELLOW and result.reasons == [reason]


def test_not_reported_before_the_due_date_is_not_a_fault():
    office = OfficeFact("基财股", "none", due_on=dt.date(2031, 6, 20))
    result = judge(facts(offices=(office,)), today=TODAY, calendar=CAL, yellow_workdays=3)
    assert result.light is Light.GREEN and result.reasons == [
        "按计划推进",
        "基财股本期尚未报送（截止6月20日）",
    ]


def test_an_office_late_is_red_reported_or_not():
    silent = OfficeFact("招考股", "none", late=True, days_late=3)
    late = OfficeFact("督导室", "approved", late=True, days_late=2)
    assert evaluate(facts(offices=(silent,)), today=TODAY, horizon=TODAY).reasons == ["招考股逾期未报送3天"]
    assert evaluate(facts(offices=(late,)), today=TODAY, horizon=TODAY).reasons == ["督导室逾期报送2天"]
    assert light(facts(offices=(late,))) is Light.RED


def test_red_wins_and_lists_the_yellow_reasons_after():
    joint = (OfficeFact("机关党委", "pending"), OfficeFact("人事股", "none", late=True, days_late=1))
    result = judge(
        facts(due(dt.date(2031, 6, 3)), offices=joint), today=TODAY, calendar=CAL, yellow_workdays=3
    )
    assert result.light is Light.RED
    assert result.reasons == [
        "人事股逾期未报送1天",
        "节点临近未完成：二是6月初完成施工招标（6月3日到期）",
        "机关党委报表待分管负责同志审定",
    ]


def test_a_closed_task_is_green():
    assert light(facts(due(dt.date(2031, 1, 1)), closed=True)) is Light.GREEN


@pytest.mark.parametrize(
    ("label", "text", "progress", "done"),
    [
        ("一是", "3月底前完成招标文件编制", "一是已于3月25日完成招标文件编制；二是正在开展施工招标。", True),
        ("二是", "6月底前开展施工招标", "一是已于3月25日完成招标文件编制；二是正在开展施工招标。", False),
        ("二是", "6月底前开展施工招标", "一是招标文件编制完毕；二是施工招标已完成，中标单位已进场。", True),
        (
            "一是",
            "3月底前完成招标文件编制",
            "已完成招标文件编制，6月15日发布施工招标公告。",
            True,
        ),  # by subject
        ("一是", "3月底前完成招标文件编制", "招标文件编制工作尚未完成。", False),
        ("一是", "3月底前完成招标文件编制", "招标文件编制已基本完成。", False),
        ("一是", "3月底前完成招标文件编制", "招标文件编制已完成80%。", False),
        ("一是", "3月底前完成招标文件编制", "计划3月底前完成招标文件编制。", False),  # a plan, not a fact
        ("三是", "10月底前开展基础工程建设", "已完成招标文件编制。", False),  # another milestone's subject
        ("", "5月底前完成春季学期生均公用经费拨付", "春季学期生均公用经费已于5月25日全部拨付到校。", True),
        ("二是", "6月底前开展施工招标", "二是已开展施工招标。", True),  # the milestone's own verb
        ("", "10月底前持续推进课后服务", "已推进课后服务。", False),  # ongoing work is never "done"
        ("", "5月底前完成春季学期生均公用经费拨付", "春季学期生均公用经费拨付已顺利完成。", True),
        ("一是", "3月底前完成招标文件编制", "", False),
        ("一是", "３月底前完成招标文件编制", "一是 已完成 招标文件编制", True),  # full-width digits, spaces
    ],
)
def test_reported_done(label, text, progress, done):
    assert reported_done(label, text, progress) is done


def test_a_milestone_is_recognised_by_what_its_siblings_do_not_share():
    # Task 2 of the plan: the June milestone (基础工程) and the October one (建设工程) name the same school.
    june = "6月底前完成李星衢纪念学校桂水分教点教学楼基础工程"
    october = "10月底前完成李星衢纪念学校桂水分教点教学楼建设工程"
    report = "李星衢纪念学校桂水分教点教学楼基础工程已完工。"
    assert reported_done("", june, report, [october]) is True
    assert reported_done("", october, report, [june]) is False
    assert reported_done("", october, report) is True  # without its siblings the school's name alone matches
    # Every sentence of a milestone must be reported done.
    both = "3月底前完成年度培训方案；与东部新会区签订帮扶协议"
    assert reported_done("", both, "已完成年度培训方案。") is False
    assert reported_done("", both, "已完成年度培训方案，已与东部新会区签订帮扶协议。") is True


def test_setting(tmp_path):
    assert "[lights]" in DEFAULT_TOML and "yellow_workdays = 5" in DEFAULT_TOML
    root = init_home(tmp_path / "h")
    assert load_settings(root).lights == LightSettings(yellow_workdays=5)
    cfg = root / "duban.toml"
    cfg.write_text(DEFAULT_TOML.replace("yellow_workdays = 5", "yellow_workdays = 8"), encoding="utf-8")
    assert load_settings(root).lights.yellow_workdays == 8
    cfg.write_text(DEFAULT_TOML.replace("yellow_workdays = 5", "yellow_workdays = -1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lights\.yellow_workdays = -1：请写 0–60 之间的工作日天数"):
        load_settings(root)
    cfg.write_text(DEFAULT_TOML.replace("yellow_workdays = 5", 'yellow_workdays = "五"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lights\.yellow_workdays”的值 '五' 类型不对"):
        load_settings(root)


# --- the loader over a realistic June 2022 (seed_june) ---------------------------------------------------


def test_task_lights_of_a_realistic_month(home, engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        got = lights_by_seq(s, home, seeded.june, dt.date(2022, 6, 23))
        by_id = task_lights(s, home, seeded.june, dt.date(2022, 6, 23))
        assert {seeded.tasks[seq].id: r for seq, r in got.items()} == by_id
    assert sorted(got) == list(range(1, 20))
    # 督导室 reported on 22 June, after the 20th: red whatever its text says.
    assert all(got[seq].light is Light.RED for seq in range(9, 15))
    assert "督导室逾期报送2天" in got[9].reasons
    # 招考股 sent nothing: late, red.
    assert got[15].light is Light.RED and "招考股逾期未报送3天" in got[15].reasons
    # Task 1 reported its March milestone done ("已完成招标文件编制"); June's "施工招标" is due within 5
    # working days of 23 June and not reported done: yellow.
    assert got[1].light is Light.YELLOW
    assert got[1].reasons == ["节点临近未完成：二是6月底前开展施工招标（6月30日到期）"]
    # Task 3: "5月底前完成…经费拨付" is done by "春季学期生均公用经费已于5月25日全部拨付到校": green.
    assert got[3].light is Light.GREEN and got[3].reasons == ["按计划推进"]
    # 卫健所's report awaits its leader (task 17): at least yellow, with that reason.
    assert "卫健所报表待分管负责同志审定" in got[17].reasons
    states = office_lights(got, [("督导室", range(9, 15)), ("基财股", (1, 2, 3))])
    assert states == {"督导室": Light.RED, "基财股": Light.RED}  # task 2: its March 方案 not reported


def test_a_past_period_keeps_the_lights_it_ended_with(home, engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        assert as_of(seeded.june, dt.date(2022, 12, 1)) == dt.date(2022, 6, 30)
        december = lights_by_seq(s, home, seeded.june, dt.date(2022, 12, 1))
        # Task 1's October milestone is not overdue in June's lights, however late they are read.
        assert not any("10月底前" in r for r in december[1].reasons)
        # A report approved in July saying the June milestone is done turns July's light, not June's.
        add_submission(
            s,
            seeded.july,
            seeded.offices["基财股"],
            {seeded.tasks[1]: ("二是施工招标已于6月28日完成。", "")},
            received=bj(2022, 7, 15),
        )
        july = lights_by_seq(s, home, seeded.july, dt.date(2022, 7, 21))
        june = lights_by_seq(s, home, seeded.june, dt.date(2022, 7, 21))
    assert not any("施工招标" in r for r in july[1].reasons)
    assert any("二是6月底前开展施工招标" in r for r in june[1].reasons)
