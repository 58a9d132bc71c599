"""The notice import reads every task of the seed notice right, in every layout people produce.

The expected values are written out by hand from examples/seed/notice.txt (offices as the notice writes
them, the lead being the underlined or, in the seed, first-listed office) and checked against the registry
after importing the .docx that tests/make_notice.py builds, in each variant, as .xlsx, after a LibreOffice
round trip and as a legacy .doc.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from make_notice import (
    Variant,
    build_directory,
    build_notice,
    build_tasks_xlsx,
    content_paragraphs,
    read_seed,
)
from sqlalchemy import select

from mailer.plan.importer import import_file
from mailer.registry.model import Plan, Task
from mailer.registry.store import atomic

TASKS = [  # 序号, 任务名称, 责任股室 as written, 牵头股室
    (1, "培英职业技术学校新校区建设项目", ["基财股", "职终股"], "基财股"),
    (2, "增加学位供给", ["基财股", "基安股"], "基财股"),
    (3, "提升基础教育生均公用经费补助标准", ["基财股"], "基财股"),
    (4, "加强教师培训", ["人事股"], "人事股"),
    (5, "义务教育学校课后服务", ["基安股"], "基安股"),
    (6, "筑牢校园安全防线", ["基安股"], "基安股"),
    (7, "引进职业技能人才", ["职终股"], "职终股"),
    (8, "开展产业人才定向培养", ["职终股"], "职终股"),
    (9, "完成教育强镇复评工作", ["督导室", "教育装备中心", "基安股", "基财股"], "督导室"),
    (10, "开展幼儿园办园行为专项督导评估工作", ["督导室", "幼教组"], "督导室"),
    (
        11,
        "开展规范化幼儿园认定和义务教育标准化学校达标验收工作",
        ["督导组", "教育装备中心", "基安股", "基财股", "幼教组"],
        "督导组",
    ),
    (
        12,
        "做好国家、广东省义务教育质量监测工作",
        ["督导组", "教师发展中心", "教育装备中心", "基安股", "基财股", "人事股", "机关党委"],
        "督导组",
    ),
    (
        13,
        "做好台山市人民政府履行教育职责评价工作",
        [
            "督导室",
            "基安股",
            "人事股",
            "基财股",
            "教师发展中心",
            "职终股",
            "办公室",
            "招考股",
            "机关党委",
            "卫健所",
            "教育装备中心",
        ],
        "督导室",
    ),
    (
        14,
        "推进“双减”督导工作常态化，优化“双减”工作成效",
        ["督导室", "基安股", "职终股", "教师发展中心"],
        "督导室",
    ),
    (15, "做好“平安高考”相关工作", ["招考股"], "招考股"),
    (16, "稳步推进中小学校党组织领导的校长负责制", ["机关党委", "人事股"], "机关党委"),
    (17, "强化校园食品安全监督管理", ["卫健所"], "卫健所"),
    (18, "初中理化生实验操作考核标准化考场二期建设项目", ["教育装备中心", "招考股"], "教育装备中心"),
    (19, "优质中学建设", ["教师发展中心"], "教师发展中心"),
]
REMARKS = {
    1: "2022 年台山市政府重点工作任务 江门重点建设项目 台山重点建设项目 2022 年江门市教育系统重大项目任务",
    2: "2022 年台山市十件民生实事",
    3: "2022 年台山市十件民生实事",
    4: "2022 年台山市十件民生实事",
    5: "2022 年台山市十件民生实事",
    6: "2022 年台山市十件民生实事",
    7: "台山市政府主要领导同志交办事项",
    8: "2月7-10日江门市委主要领导调研交办事项（2月7-8日台山工业新城、恩平工业园大槐集聚区、开平市翠山湖高新区调研）",
    9: "江门市人民政府教育督导室2022年工作要点",
    10: "江门市人民政府教育督导室2022年工作要点",
    11: "江门市人民政府教育督导室 2022 年工作要点",
    12: "江门市人民政府教育督导室 2022 年工作要点",
    13: "江门市人民政府教育督导室2022年工作要点",
    14: "江门市人民政府教育督导室2022年工作要点",
    15: "",
    16: "台山市委十四届18次常委会会议交办任务分工",
    17: "2022年台山市十件民生实事",
    18: "",
    19: "2022 年台山市政府重点工作任务",
}

# Every milestone: (label, due MM-DD in 2022, text with digits half-width and stray spaces removed).
MILESTONES = {
    1: [
        ("一是", "03-31", "3月底前完成招标文件编制。"),
        ("二是", "06-30", "6月底前开展施工招标。"),
        ("三是", "10-31", "10月底前开展基础工程建设。"),
    ],
    2: [
        (
            "一是",
            "03-31",
            "3月底前完成台城中心小学教学楼设备配套方案。完成恒大名都小区配套幼儿园项目规划设计。",
        ),
        (
            "二是",
            "06-30",
            "6月底前完成李星衢纪念学校桂水分教点教学楼基础工程。完成台城中心小学教学楼、恒大名都小区配套幼儿园设备采购和安装工作。",
        ),
        (
            "三是",
            "10-31",
            "10月底前完成李星衢纪念学校桂水分教点教学楼建设工程。台城中心小学教学楼、恒大名都小区配套幼儿园投入使用。增加优质公办学位1170个。",
        ),
    ],
    3: [
        (
            "一是",
            "05-31",
            "5月底前完成春季学期公办幼儿园、公办小学、公办初中和公办普通高中生均公用经费拨付。",
        ),
        (
            "二是",
            "10-31",
            "10月底前完成秋季学期公办幼儿园、公办小学、公办初中和公办普通高中生均公用经费拨付。",
        ),
    ],
    4: [
        ("一是", "03-31", "3月底前完成年度培训方案；与东部新会区签订帮扶协议。"),
        ("二是", "04-30", "4月底前双方确定结对学校，分类制定帮扶培训计划。"),
        ("三是", "05-31", "5月底前双确定支教帮扶教师名单。"),
        ("四是", "06-30", "6月底前完成上半年培训。"),
        ("五是", "10-31", "10月底前开展下半年培训；选派教师前往东部地区跟岗学习。"),
        ("六是", "12-31", "12月底前完成教师全员培训和校长、教师、教研员能力提升专项培训。"),
    ],
    5: [
        (
            "一是",
            "03-31",
            "3月底前实现义务教育学校课后服务全覆盖、有需求的学生全覆盖。课后服务时间100%达到“每周5天（周一至周五），每天至少2小时”的标准。",
        ),
        (
            "二是",
            "10-31",
            "10月底前丰富课后服务内容，支持鼓励有条件的学校由基础托管逐步提升为基础托管+素质提升的模式开展课后服务。",
        ),
    ],
    6: [
        (
            "一是",
            "03-31",
            "3月底前实现全市中小学、幼儿园专职保安员配备率、封闭化管理达标率、一键式紧急报警和视频监控系统达标率、“护学岗”设置率4项指标均达到100%。",
        ),
        ("二是", "10-31", "10月底前实现全市中小学、幼儿园“4个100%”安全防范建设与规范管理督查全覆盖。"),
    ],
    7: [
        (
            "一是",
            "05-31",
            "5月底前完成编制中职学校招生宣传特刊、录制中职学校招生宣传片，利用“职业教育宣传周”大力宣传我市职业教育发展成果，增强职业教育吸引力，扩大招生规模。",
        ),
        (
            "二是",
            "10-31",
            "10月底前加强与广东科学技术职业学院合作，高质量培养我市职业学校校长和专业骨干教师业务水平。",
        ),
        (
            "三是",
            "12-31",
            "12月底前积极争取上级财政资金支持，继续完善“现代制造业”“旅游服务业”“国际厨点师”三大人才培养基地设施设备建设，充分发挥三大基地社会培训功能。",
        ),
    ],
    8: [
        ("一是", "03-31", "3月底前完成对工业园区或重点企业用工需求调研。"),
        ("二是", "06-30", "6月底前完成企业校园招聘和毕业生就业推荐工作。"),
        ("三是", "09-30", "9月底前完成订单培养“专项班”组建及企业新型学徒制培训计划。"),
        ("四是", "12-31", "12月底前完成“专项班”及企业新型学徒制一期培训任务。"),
    ],
    9: [
        ("一是", "03-31", "3月底前开展教育强镇复评预算方案及相关镇调研工作。"),
        ("二是", "06-30", "6月底前指导受评镇开展复评自查自纠工作，做好督前视导迎检准备。"),
        ("三是", "07-31", "7月底前接受江门教育强镇督前视导，并指导各镇开展督前检查存在问题整改。"),
        ("四是", "12-31", "12月底前接受省教育强镇复评督导验收工作。"),
    ],
    10: [
        (
            "一是",
            "05-31",
            "5月底前制定《台山市幼儿园办园行为督导评估工作计划(2012-2025)》，启动办园行为第二周期督导评估系统。",
        ),
        ("二是", "07-31", "7月底前指导幼儿园完成办园行为自查自纠，整理评估资料，提交自评报告。"),
        ("三是", "10-31", "10月底前完成22所幼儿园办园行为县级督导评估。"),
        ("四是", "12-31", "12月底前开展自评、县级督评存在问题整改，并接受江门市复评。"),
    ],
    11: [
        ("一是", "04-30", "4月底前开展台山市规范化幼儿园认定初评，指导幼儿园落实相关指标整改。"),
        ("二是", "06-30", "6月底前指导学校、幼儿园完成申报资料整理，做好迎评准备工作。"),
        ("三是", "10-31", "10月底前完成2所幼儿园的规范化幼儿园认定工作和2所学校的标准化学校验收工作。"),
    ],
    12: [
        (
            "一是",
            "04-30",
            "4月底前完成对2020年国家义务教育质量监测结果分析解读，并报市人民政府；印发《台山市2020年国家义务教育质量监测结果解读与应用工作方案》，召开结果解读与应用工作会议。",
        ),
        ("二是", "06-30", "6月底前完成2022年广东省义务教育质量监测实施工作。"),
        (
            "三是",
            "12-31",
            "12月底前完成2020年国家义务教育质量监测结果调研、二次解读和问题整改工作，并检验应用成效。",
        ),
    ],
    13: [
        (
            "一是",
            "07-31",
            "7月底前总结2021年迎评工作经验，根据省下发考核评价反馈意见，联合各股室梳理问题清单并落实整改。",
        ),
        ("二是", "10-31", "10月底前制定2022年迎评工作方案，召开工作会议，开展考核评价工作。"),
        ("三是", "12-31", "12月底前完成第三方公众满意度调查。"),
    ],
    14: [
        ("一是", "06-30", "6月底前开展实地督导，强化指导，提升课后服务水平。"),
        (
            "二是",
            "09-30",
            "9月底前组织责任督学配合校外培训监管部门开展校外培训机构联合治理，巩固学科类校外培训机构清零成果，规范培训行为。",
        ),
        ("三是", "11-30", "11月底前开展“作业一体化”研究，建立和完善市优质作业设计资源库。"),
    ],
    15: [
        (
            "一是",
            "03-31",
            "3月底前做好英语听说考试考务培训和考场设施设备调试，顺利完成普通高考英语听说考试工作。完成广东省2021年普通高考考生体检和补报名工作。",
        ),
        (
            "二是",
            "05-31",
            "5月底前做好普通高考考前防疫和考试安全准备工作，开展全体考生和考务人员全覆盖的防疫教育和诚信考试培训。",
        ),
        (
            "三是",
            "06-30",
            "6月底前强化部门联动，做好防疫、交通、食品安全、卫生、环境治理等各项工作，顺利完成普通高考工作。",
        ),
    ],
    16: [
        ("一是", "06-30", "6月底前完成对我市中小学校党组织全面摸排，摸清底数。"),
        ("二是", "09-30", "9月底前完成试点工作。"),
        ("三是", "12-31", "12月底前对条件成熟的学校，按“一校一案”积极稳妥推进。"),
    ],
    17: [
        ("一是", "03-31", "3月底前开展春季开学校园食品安全检查。"),
        ("二是", "06-30", "6月底前开展全市中考、高考考点学校食品安全检查。"),
        ("三是", "09-30", "9月底前开展秋季开学校园食品安全检查。"),
        ("四是", "10-31", "10月底前开展学校食品安全管理专项培训。"),
    ],
    18: [
        ("一是", "04-30", "4月底前完成初中理化生实验操作考核标准化考场建设项目方案。"),
        ("二是", "05-31", "5月底前完成考场建设项目方案论证工作。"),
        ("三是", "07-31", "7月底前完成考场建设项目公开招标工作。"),
        ("四是", "08-31", "8月底前考场建设项目开始施工。"),
        ("五是", "11-30", "11月底前完成初中理化生实验操作考核标准化考场建设工作。"),
    ],
    19: [
        ("一是", "04-30", "4月底前根据江门市相关评价方案标准，完成培育对象初选工作。"),
        (
            "二是",
            "10-31",
            "10月底前对4所优质中学候选对象开展督导检查，开展教学能力比赛和培训，推动学校高质量发展。完成3所江门市优质示范性初中学校及1所江门市优质高中培育对象的选送工作。",
        ),
    ],
}

# The directory knows 督导组 as 督导室 and 办公室 as 局办公室.
CANONICAL = {"督导组": "督导室", "办公室": "局办公室"}


def registry_tasks(engine) -> dict[int, dict]:
    with atomic(engine) as s:
        plan = s.scalars(select(Plan).where(Plan.active.is_(True))).one()
        return {
            t.seq: {
                "name": t.name,
                "content": t.content,
                "remark": t.remark,
                "lead_assumed": t.lead_assumed,
                "offices": [link.office.name for link in t.offices],
                "leads": [link.office.name for link in t.offices if link.is_lead],
                "milestones": [(m.label, m.due, m.text) for m in t.milestones],
                "removed": t.removed,
            }
            for t in s.scalars(select(Task).where(Task.plan_id == plan.id).order_by(Task.seq))
        }


def assert_all_tasks(
    engine, *, canonical: bool, lead_assumed: bool = False, variant: Variant | None = None
) -> None:
    """Every task's 序号, name, content, offices, lead, remark and every milestone's date and text."""
    variant = variant or Variant()
    got = registry_tasks(engine)
    assert sorted(got) == list(range(1, 20))
    seed = {t.seq: t for t in read_seed().tasks}
    for seq, name, offices, lead in TASKS:
        if canonical:
            offices = [CANONICAL.get(o, o) for o in offices]
            lead = CANONICAL.get(lead, lead)
        task = got[seq]
        assert task["name"] == name, seq
        assert task["offices"] == offices, seq
        assert task["leads"] == [lead], seq
        assert task["lead_assumed"] is lead_assumed, seq
        assert task["remark"] == REMARKS[seq], seq
        assert task["content"] == "\n".join(content_paragraphs(seed[seq], variant)), seq
        expected = [(label, dt.date.fromisoformat(f"2022-{md}"), text) for label, md, text in MILESTONES[seq]]
        assert task["milestones"] == expected, seq
    assert sum(len(t["milestones"]) for t in got.values()) == 62


@pytest.fixture
def directory(home, engine, tmp_path):
    path = build_directory(tmp_path / "directory.xlsx")
    import_file(home, engine, path)
    return path


def test_default_notice_without_directory_keeps_names_as_written(home, engine, tmp_path):
    """
    GIVEN the notice .docx (one table, lead underlined by run formatting)
    WHEN  it is imported into an empty registry
    THEN  all 19 tasks are there as written, offices created (not in the directory) and reported
    """
    report = import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    assert report.kind == "notice" and report.plan_created and report.task_count == 19
    assert_all_tasks(engine, canonical=False)
    assert not report.lead_assumed
    assert "督导组" in report.offices_created and "办公室" in report.offices_created
    assert report.offices_outside_directory and "请导入名录工作簿" in report.render()
    with atomic(engine) as s:
        task1 = s.scalars(select(Task).where(Task.seq == 1)).one()
        assert task1.content.split("\n")[1] == "关键节点及解决难点："
        assert task1.offices_text == "基财股 职终股"


def test_plan_metadata_comes_from_the_notice_body(home, engine, tmp_path):
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    with atomic(engine) as s:
        plan = s.scalars(select(Plan)).one()
        assert plan.title == "台山市教育系统2022年重点工作任务一览表"
        assert plan.notice_title == "关于印发台山市教育系统2022年重点工作任务的通知"
        assert plan.org_name == "台山市教育系统"
        assert plan.year == 2022
        assert plan.issuer == "台山市教育局办公室"
        assert plan.issued_on == dt.date(2022, 6, 2)
        assert (plan.first_month, plan.due_day) == (6, 20)
        assert plan.source_file == "notice.docx" and len(plan.source_sha256) == 64 and plan.active


def test_reporting_rule_defaults_to_the_settings_when_the_notice_has_none(home, engine, tmp_path):
    seed = read_seed()
    seed.body = [p.replace("从6月起，每月20日前", "按要求") for p in seed.body]
    settings = dataclasses.replace(home, cycle=dataclasses.replace(home.cycle, first_month=7, due_day=15))
    import_file(settings, engine, build_notice(tmp_path / "notice.docx", seed=seed))
    with atomic(engine) as s:
        plan = s.scalars(select(Plan)).one()
        assert (plan.first_month, plan.due_day) == (7, 15)


VARIANTS = {
    "split tables": Variant(layout="split"),
    "header rows inside one table": Variant(layout="header_rows"),
    "character style, split runs": Variant(underline="char_style", split_runs=True),
    "paragraph style, split tables": Variant(underline="para_style", layout="split"),
    "odd digits, split runs, header rows": Variant(odd_digits=True, split_runs=True, layout="header_rows"),
    "one office per paragraph, character style": Variant(offices_per_paragraph=True, underline="char_style"),
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_variant_reads_the_same(home, engine, tmp_path, directory, variant):
    """
    GIVEN the directory, and the notice laid out and formatted as people do
    WHEN  it is imported
    THEN  every task, lead and milestone is the same as in the seed, offices by their directory names
    """
    report = import_file(home, engine, build_notice(tmp_path / "notice.docx", variant))
    assert report.task_count == 19 and not report.offices_created and not report.offices_outside_directory
    assert_all_tasks(engine, canonical=True, variant=variant)


def test_odd_digits_keep_the_content_as_written(home, engine, tmp_path):
    import_file(home, engine, build_notice(tmp_path / "notice.docx", Variant(odd_digits=True)))
    content = registry_tasks(engine)[1]["content"]
    assert "３月底前" in content and "３月底前" not in registry_tasks(engine)[1]["milestones"][0][2]


def test_without_underline_the_first_office_is_assumed_lead_and_reported(home, engine, tmp_path, directory):
    report = import_file(home, engine, build_notice(tmp_path / "notice.docx", Variant(underline="none")))
    assert_all_tasks(engine, canonical=True, lead_assumed=True)
    assert [seq for seq, _ in report.lead_assumed] == list(range(1, 20))
    assert "任务 3：责任股室没有下划线，默认第一个股室（基财股）为牵头股室" in report.render()


@pytest.mark.parametrize("lead_column", [True, False], ids=["牵头股室 column", "no lead column"])
def test_task_workbook(home, engine, tmp_path, directory, lead_column):
    report = import_file(home, engine, build_tasks_xlsx(tmp_path / "tasks.xlsx", lead_column=lead_column))
    assert report.kind == "tasks" and report.plan_title == "台山市教育系统2022年重点工作任务一览表"
    assert_all_tasks(engine, canonical=True, lead_assumed=not lead_column)


def test_workbook_and_notice_are_one_plan(home, engine, tmp_path, directory):
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    report = import_file(home, engine, build_tasks_xlsx(tmp_path / "tasks.xlsx"))
    assert report.unchanged, report.render()
    with atomic(engine) as s:
        assert len(s.scalars(select(Plan)).all()) == 1


@pytest.mark.libreoffice
def test_libreoffice_round_trip(home, engine, tmp_path, directory):
    """
    GIVEN the notice saved again by LibreOffice (as a WPS or LibreOffice user would send it back)
    WHEN  it is imported
    THEN  nothing is lost: underline, paragraphs, tables
    """
    from mailer.word.pdf import convert

    src = build_notice(tmp_path / "src" / "notice.docx", Variant(underline="char_style", split_runs=True))
    again = convert(src, tmp_path / "lo", "docx")
    import_file(home, engine, again)
    assert_all_tasks(engine, canonical=True)


@pytest.mark.libreoffice
def test_legacy_doc_is_converted(home, engine, tmp_path, directory):
    from mailer.word.pdf import convert

    doc = convert(build_notice(tmp_path / "src" / "notice.docx"), tmp_path / "doc", "doc")
    assert doc.read_bytes()[:4] == bytes.fromhex("d0cf11e0")
    report = import_file(home, engine, doc)
    assert report.converted_from == "doc"
    assert "（由 .doc 转换）" in report.render()
    assert_all_tasks(engine, canonical=True)


def test_a_notice_named_wrongly_is_read_by_its_content(home, engine, tmp_path):
    path = build_notice(tmp_path / "notice.docx")
    renamed = path.rename(tmp_path / "通知（定稿）.dat")
    assert import_file(home, engine, renamed).task_count == 19


def test_seed_copy_matches_the_shared_seed():
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "seed" / "notice.txt"
    if not shared.exists():
        pytest.skip("no shared seed on this machine")
    ours = Path(__file__).resolve().parent.parent / "examples" / "seed" / "notice.txt"
    assert ours.read_bytes() == shared.read_bytes()


def test_title_in_a_table_row_old_style_date_and_rule_with_zi(home, engine, tmp_path):
    """A notice whose title row sits inside the table, dated 二〇二二年…, with "自7月起，每月15日前"."""
    from docx import Document

    doc = Document()
    for text in (
        "关于印发某县教育局2022年重点任务的通知",
        "各股室自7月起，每月15日前报送进展。",
        "某县教育局办公室",
        "二〇二二年六月十二日",
        "附件1",
    ):
        doc.add_paragraph(text)
    table = doc.add_table(rows=3, cols=5)
    title = table.rows[0].cells[0].merge(table.rows[0].cells[4])
    title.text = "某县教育局 2022 年重点任务清单"
    for cell, text in zip(
        table.rows[1].cells,
        ["序 号", "任务名称", "主要内容及关键时间节点计划", "责任股室", "备注"],
        strict=True,
    ):
        cell.text = text
    for cell, text in zip(
        table.rows[2].cells,
        ["１", "甲", "关键节点：一是9月底前完成。", "基财股（牵头）、人事股", ""],
        strict=True,
    ):
        cell.text = text
    path = tmp_path / "x.docx"
    doc.save(str(path))
    report = import_file(home, engine, path)
    assert report.plan_title == "某县教育局2022年重点任务清单" and not report.lead_assumed
    with atomic(engine) as s:
        plan = s.scalars(select(Plan)).one()
        assert (plan.org_name, plan.issuer, plan.issued_on) == (
            "某县教育局",
            "某县教育局办公室",
            dt.date(2022, 6, 12),
        )
        assert (plan.first_month, plan.due_day) == (7, 15)
        task = plan.tasks[0]
        assert task.seq == 1 and [link.office.name for link in task.offices if link.is_lead] == ["基财股"]
        assert [(m.label, m.due) for m in task.milestones] == [("一是", dt.date(2022, 9, 30))]


def test_tables_continuing_without_a_header(home, engine, tmp_path, directory):
    """Page-split tables where nobody repeated the header: each continues the table before it."""
    from docx import Document

    path = build_notice(tmp_path / "notice.docx", Variant(layout="split"))
    doc = Document(str(path))
    task_tables = [t for t in doc.tables if t.rows[0].cells[0].text == "序号"]
    assert len(task_tables) == 9
    for table in task_tables[1:]:
        table._tbl.remove(table.rows[0]._tr)
    doc.save(str(path))
    import_file(home, engine, path)
    assert_all_tasks(engine, canonical=True)


def test_a_task_spread_over_two_rows(home, engine, tmp_path):
    """序号 and 任务名称 merged down over two rows: the second row's text belongs to the same task."""
    from docx import Document

    doc = Document()
    doc.add_paragraph("台山市教育系统2022年重点工作任务一览表")
    table = doc.add_table(rows=4, cols=5)
    for cell, text in zip(
        table.rows[0].cells,
        ["序号", "任务名称", "主要内容和关键时间节点计划", "责任股室", "备注"],
        strict=True,
    ):
        cell.text = text
    table.cell(1, 0).text, table.cell(1, 1).text = "1", "甲"
    table.cell(1, 0).merge(table.cell(2, 0))
    table.cell(1, 1).merge(table.cell(2, 1))
    table.cell(1, 2).text, table.cell(1, 3).text = "关键节点及解决难点：\n一是3月底前完成。", "基财股"
    table.cell(2, 2).text, table.cell(2, 4).text = "二是6月底前完成。", "续"
    for cell, text in zip(table.rows[3].cells, ["2", "乙", "年内完成。", "人事股", ""], strict=True):
        cell.text = text
    path = tmp_path / "notice.docx"
    doc.save(str(path))
    import_file(home, engine, path)
    got = registry_tasks(engine)
    assert sorted(got) == [1, 2]
    assert (
        got[1]["content"] == "关键节点及解决难点：\n一是3月底前完成。\n二是6月底前完成。"
        and got[1]["remark"] == "续"
    )
    assert [m[1] for m in got[1]["milestones"]] == [dt.date(2022, 3, 31), dt.date(2022, 6, 30)]
    assert got[2]["milestones"] == [("", None, "年内完成。")]


def test_cells_merged_down_over_two_tasks(home, engine, tmp_path, directory):
    """Tasks 5 and 6 share one merged 责任股室 cell, tasks 2–6 one merged 备注 cell: each task gets it."""
    from docx import Document

    path = build_notice(tmp_path / "notice.docx")
    doc = Document(str(path))
    table = doc.tables[0]
    for r in (3, 4, 5, 6):
        table.cell(r, 4).paragraphs[0].runs[0]._r.getparent().remove(
            table.cell(r, 4).paragraphs[0].runs[0]._r
        )
    table.cell(2, 4).merge(table.cell(6, 4))
    lead = table.cell(6, 3).paragraphs[0]
    for run in list(lead.runs):
        run._r.getparent().remove(run._r)
    table.cell(5, 3).merge(table.cell(6, 3))
    doc.save(str(path))
    import_file(home, engine, path)
    assert_all_tasks(engine, canonical=True)
