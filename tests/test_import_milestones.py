"""Milestones as the notice and careless typing write them."""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.plan.milestones import ParsedMilestone, find_due, parse_milestones, tidy

D = dt.date


def ms(content: str, year: int = 2022) -> list[tuple[str, dt.date | None, str]]:
    return [(m.label, m.due, m.text) for m in parse_milestones(content, year)]


def test_the_notice_form():
    content = (
        "项目规划用地183.37亩。年内开展基础工程建设。\n关键节点及解决难点：\n一是 3 月底前完成招标文件编制。\n"
        "二是 6 月底前开展施工招标。\n三是 10 月底前开展基础工程建设。"
    )
    assert ms(content) == [
        ("一是", D(2022, 3, 31), "3月底前完成招标文件编制。"),
        ("二是", D(2022, 6, 30), "6月底前开展施工招标。"),
        ("三是", D(2022, 10, 31), "10月底前开展基础工程建设。"),
    ]


@pytest.mark.parametrize(
    "heading", ["关键节点及解决难点：", "关键节点和解决难点:", "关键节点 和 解决难点", "关键时间节点："]
)
def test_headings(heading):
    assert ms(f"说明，6月有会。\n{heading}\n一是12月底前完成。") == [
        ("一是", D(2022, 12, 31), "12月底前完成。")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "一是３月底前完成。",
        "一是 ３ 月 底 前完成。",
        "一是\u30003\u3000月底前完成。",
        "一是3  月底前完成。",
        "  一是3月底前完成。  ",
    ],
)
def test_width_and_spacing(line):
    assert ms(f"关键节点及解决难点：\n{line}") == [("一是", D(2022, 3, 31), "3月底前完成。")]


def test_several_in_one_paragraph():
    assert ms("关键节点及解决难点：一是3月底前完成方案；二是6月底前完成招标；三是年内投入使用。") == [
        ("一是", D(2022, 3, 31), "3月底前完成方案"),
        ("二是", D(2022, 6, 30), "6月底前完成招标"),
        ("三是", None, "年内投入使用。"),
    ]


def test_date_inside_the_line_and_undated_lines():
    assert ms("关键节点和解决难点：\n一是加强合作，9月底前完成签约。\n二是持续推进。") == [
        ("一是", D(2022, 9, 30), "加强合作，9月底前完成签约。"),
        ("二是", None, "持续推进。"),
    ]


def test_without_heading_only_labelled_or_dated_lines_count():
    content = (
        "扩建学校，6月有检查。\n12月底前完成验收。\n年内完成全部工程。\n一是 4 月底前完成方案。\n统一是原则。"
    )
    assert ms(content) == [
        ("", D(2022, 12, 31), "12月底前完成验收。"),
        ("", None, "年内完成全部工程。"),
        ("一是", D(2022, 4, 30), "4月底前完成方案。"),
    ]


def test_intro_before_labels_is_not_a_milestone():
    assert ms("关键节点：重点推进以下工作：一是5月底前启动；二是8月底前完成。") == [
        ("一是", D(2022, 5, 31), "5月底前启动"),
        ("二是", D(2022, 8, 31), "8月底前完成。"),
    ]


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("3月底前完成", D(2022, 3, 31)),
        ("2月底前完成", D(2022, 2, 28)),
        ("十二月底前完成", D(2022, 12, 31)),
        ("6月15日前完成", D(2022, 6, 15)),
        ("6月中旬前完成", D(2022, 6, 20)),
        ("2023年3月底前完成", D(2023, 3, 31)),
        ("年底前完成", D(2022, 12, 31)),
        ("上半年完成", D(2022, 6, 30)),
        ("完成对2020年国家监测结果解读", None),
        ("年内完成", None),
        ("根据1—6月情况，9月底前完成", D(2022, 9, 30)),  # a bare month is a mention; 9月底前 is the deadline
        ("6月完成", D(2022, 6, 30)),  # only a bare month: taken
    ],
)
def test_find_due(text, due):
    assert find_due(text, 2022) == due


def test_leap_year_february():
    assert find_due("2月底前", 2024) == D(2024, 2, 29)


def test_tidy_keeps_chinese_punctuation_and_latin_spaces():
    assert (
        tidy("一是 ３ 月底前（含）完成 Windows 10 升级， 共 183.37 亩")
        == "一是3月底前（含）完成Windows 10升级，共183.37亩"
    )


def test_empty():
    assert parse_milestones("", 2022) == []
    assert ParsedMilestone("一是", None, "x").due is None
