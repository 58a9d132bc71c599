"""Registry data for notice tests, built directly with the model (no importer): the seed notice's plan
(台山市教育系统2022年重点工作任务, 19 tasks with their offices and dated milestones), periods 2022-06 and
2022-07, and the June reports of a realistic month:

- on time: 基财股 (its 1st revision returned, the 2nd approved), 人事股 (at 23:30 on the due day, Beijing
  time), 基安股, 职终股 (an earlier revision superseded), 机关党委, 教育装备中心, 教师发展中心;
- late: 督导室 (22 June), which leads tasks 9–14;
- not reported: 招考股 (nothing sent, task 15) and 卫健所 (sent, still awaiting its leader, task 17).

Task 16 is led jointly by 机关党委 and 人事股, so its text comes from both offices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailer.common.periods import month_end
from mailer.registry.model import Entry, Milestone, Office, Period, Plan, Submission, Task, TaskOffice

BJ = ZoneInfo("Asia/Shanghai")
LABELS = "一二三四五六七八九十"

# (seq, name, offices (leads marked with *), [(month, milestone text)], remark)
SEED_TASKS: list[tuple[int, str, list[str], list[tuple[int, str]], str]] = [
    (
        1,
        "培英职业技术学校新校区建设项目",
        ["*基财股", "职终股"],
        [(3, "3月底前完成招标文件编制"), (6, "6月底前开展施工招标"), (10, "10月底前开展基础工程建设")],
        "2022年台山市政府重点工作任务",
    ),
    (
        2,
        "增加学位供给",
        ["*基财股", "基安股"],
        [
            (3, "3月底前完成台城中心小学教学楼设备配套方案。完成恒大名都小区配套幼儿园项目规划设计"),
            (
                6,
                "6月底前完成李星衢纪念学校桂水分教点教学楼基础工程。完成台城中心小学教学楼、恒大名都小区配套幼儿园设备采购和安装工作",
            ),
            (10, "10月底前完成李星衢纪念学校桂水分教点教学楼建设工程"),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        3,
        "提升基础教育生均公用经费补助标准",
        ["*基财股"],
        [
            (5, "5月底前完成春季学期公办幼儿园、公办小学、公办初中和公办普通高中生均公用经费拨付"),
            (10, "10月底前完成秋季学期公办幼儿园、公办小学、公办初中和公办普通高中生均公用经费拨付"),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        4,
        "加强教师培训",
        ["*人事股"],
        [
            (3, "3月底前完成年度培训方案；与东部新会区签订帮扶协议"),
            (4, "4月底前双方确定结对学校，分类制定帮扶培训计划"),
            (5, "5月底前双方确定支教帮扶教师名单"),
            (6, "6月底前完成上半年培训"),
            (10, "10月底前开展下半年培训；选派教师前往东部地区跟岗学习"),
            (12, "12月底前完成教师全员培训和校长、教师、教研员能力提升专项培训"),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        5,
        "义务教育学校课后服务",
        ["*基安股"],
        [
            (3, "3月底前实现义务教育学校课后服务全覆盖、有需求的学生全覆盖"),
            (
                10,
                "10月底前丰富课后服务内容，支持鼓励有条件的学校由基础托管逐步提升为基础托管+素质提升的模式开展课后服务",
            ),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        6,
        "筑牢校园安全防线",
        ["*基安股"],
        [
            (3, "3月底前实现全市中小学、幼儿园“4个100%”指标均达到100%"),
            (10, "10月底前实现全市中小学、幼儿园“4个100%”安全防范建设与规范管理督查全覆盖"),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        7,
        "引进职业技能人才",
        ["*职终股"],
        [
            (5, "5月底前完成编制中职学校招生宣传特刊、录制中职学校招生宣传片"),
            (10, "10月底前加强与广东科学技术职业学院合作"),
            (12, "12月底前继续完善三大人才培养基地设施设备建设"),
        ],
        "台山市政府主要领导同志交办事项",
    ),
    (
        8,
        "开展产业人才定向培养",
        ["*职终股"],
        [
            (3, "3月底前完成对工业园区或重点企业用工需求调研"),
            (6, "6月底前完成企业校园招聘和毕业生就业推荐工作"),
            (9, "9月底前完成订单培养“专项班”组建及企业新型学徒制培训计划"),
            (12, "12月底前完成“专项班”及企业新型学徒制一期培训任务"),
        ],
        "江门市委主要领导调研交办事项",
    ),
    (
        9,
        "完成教育强镇复评工作",
        ["*督导室", "教育装备中心", "基安股", "基财股"],
        [
            (3, "3月底前开展教育强镇复评预算方案及相关镇调研工作"),
            (6, "6月底前指导受评镇开展复评自查自纠工作，做好督前视导迎检准备"),
            (7, "7月底前接受江门教育强镇督前视导，并指导各镇开展督前检查存在问题整改"),
            (12, "12月底前接受省教育强镇复评督导验收工作"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        10,
        "开展幼儿园办园行为专项督导评估工作",
        ["*督导室", "幼教组"],
        [
            (5, "5月底前制定幼儿园办园行为督导评估工作计划，启动办园行为第二周期督导评估系统"),
            (7, "7月底前指导幼儿园完成办园行为自查自纠，整理评估资料，提交自评报告"),
            (10, "10月底前完成22所幼儿园办园行为县级督导评估"),
            (12, "12月底前开展自评、县级督评存在问题整改，并接受江门市复评"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        11,
        "开展规范化幼儿园认定和义务教育标准化学校达标验收工作",
        ["*督导室", "教育装备中心", "基安股", "基财股", "幼教组"],
        [
            (4, "4月底前开展台山市规范化幼儿园认定初评，指导幼儿园落实相关指标整改"),
            (6, "6月底前指导学校、幼儿园完成申报资料整理，做好迎评准备工作"),
            (10, "10月底前完成2所幼儿园的规范化幼儿园认定工作和2所学校的标准化学校验收工作"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        12,
        "做好国家、广东省义务教育质量监测工作",
        ["*督导室", "教师发展中心", "教育装备中心", "基安股", "基财股", "人事股", "机关党委"],
        [
            (4, "4月底前完成对2020年国家义务教育质量监测结果分析解读，并报市人民政府"),
            (6, "6月底前完成2022年广东省义务教育质量监测实施工作"),
            (12, "12月底前完成2020年国家义务教育质量监测结果调研、二次解读和问题整改工作"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        13,
        "做好台山市人民政府履行教育职责评价工作",
        [
            "*督导室",
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
        [
            (7, "7月底前总结2021年迎评工作经验，梳理问题清单并落实整改"),
            (10, "10月底前制定2022年迎评工作方案，召开工作会议，开展考核评价工作"),
            (12, "12月底前完成第三方公众满意度调查"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        14,
        "推进“双减”督导工作常态化，优化“双减”工作成效",
        ["*督导室", "基安股", "职终股", "教师发展中心"],
        [
            (6, "6月底前开展实地督导，强化指导，提升课后服务水平"),
            (9, "9月底前组织责任督学配合校外培训监管部门开展校外培训机构联合治理"),
            (11, "11月底前开展“作业一体化”研究，建立和完善市优质作业设计资源库"),
        ],
        "江门市人民政府教育督导室2022年工作要点",
    ),
    (
        15,
        "做好“平安高考”相关工作",
        ["*招考股"],
        [
            (3, "3月底前顺利完成普通高考英语听说考试工作"),
            (5, "5月底前做好普通高考考前防疫和考试安全准备工作"),
            (6, "6月底前强化部门联动，顺利完成普通高考工作"),
        ],
        "",
    ),
    (
        16,
        "稳步推进中小学校党组织领导的校长负责制",
        ["*机关党委", "*人事股"],
        [
            (6, "6月底前完成对我市中小学校党组织全面摸排，摸清底数"),
            (9, "9月底前完成试点工作"),
            (12, "12月底前对条件成熟的学校，按“一校一案”积极稳妥推进"),
        ],
        "台山市委十四届18次常委会会议交办任务分工",
    ),
    (
        17,
        "强化校园食品安全监督管理",
        ["*卫健所"],
        [
            (3, "3月底前开展春季开学校园食品安全检查"),
            (6, "6月底前开展全市中考、高考考点学校食品安全检查"),
            (9, "9月底前开展秋季开学校园食品安全检查"),
            (10, "10月底前开展学校食品安全管理专项培训"),
        ],
        "2022年台山市十件民生实事",
    ),
    (
        18,
        "初中理化生实验操作考核标准化考场二期建设项目",
        ["*教育装备中心", "招考股"],
        [
            (4, "4月底前完成初中理化生实验操作考核标准化考场建设项目方案"),
            (5, "5月底前完成考场建设项目方案论证工作"),
            (7, "7月底前完成考场建设项目公开招标工作"),
            (8, "8月底前考场建设项目开始施工"),
            (11, "11月底前完成初中理化生实验操作考核标准化考场建设工作"),
        ],
        "",
    ),
    (
        19,
        "优质中学建设",
        ["*教师发展中心"],
        [
            (4, "4月底前根据江门市相关评价方案标准，完成培育对象初选工作"),
            (10, "10月底前完成3所江门市优质示范性初中学校及1所江门市优质高中培育对象的选送工作"),
        ],
        "2022年台山市政府重点工作任务",
    ),
]

# June progress as the offices wrote it: (progress, problems and next steps).
JUNE_TEXT: dict[int, tuple[str, str]] = {
    1: (
        "已完成招标文件编制，6月15日发布施工招标公告，目前正在开展投标资格审查。",
        "项目用地内仍有部分青苗未完成补偿。下一步将协调镇政府加快补偿，确保10月底前开展基础工程建设。",
    ),
    2: (
        "李星衢纪念学校桂水分教点教学楼基础工程已完工；台城中心小学教学楼设备已完成采购，正在安装。",
        "恒大名都小区配套幼儿园设备采购因供货延迟，预计7月中旬完成安装。",
    ),
    3: (
        "春季学期生均公用经费已于5月25日全部拨付到校，合计拨付资金2856万元。",
        "下一步做好秋季学期经费测算。",
    ),
    4: (
        "已完成上半年教师培训1120人次；与新会区签订帮扶协议，确定结对学校12所、支教帮扶教师16名。",
        "下半年培训场地紧张，拟与教师发展中心统筹安排。",
    ),
    5: (
        "全市义务教育学校课后服务实现两个全覆盖，服务时间均达到“5+2”要求。",
        "部分农村学校课后服务内容较单一，下一步推广素质拓展课程。",
    ),
    6: ("全市中小学、幼儿园“4个100%”指标保持达标，6月开展校园安全专项检查一次。", "暂无。"),
    7: (
        "已完成中职招生宣传特刊编印和宣传片录制，职业教育宣传周活动已开展。",
        "与广东科学技术职业学院合作协议正在商定。",
    ),
    8: (
        "已完成重点企业用工需求调研，6月组织校园招聘会2场，推荐毕业生就业386人。",
        "下一步组建订单培养“专项班”。",
    ),
    9: (
        "已指导6个受评镇完成复评自查自纠，迎检材料基本整理完毕。",
        "个别镇迎检经费未落实，已报请市政府协调。",
    ),
    10: ("已印发幼儿园办园行为督导评估工作计划，督导评估系统已启动。", "7月指导幼儿园完成自评。"),
    11: ("已完成规范化幼儿园认定初评，2所学校申报资料整理完毕。", "下一步做好迎评准备。"),
    12: ("2022年广东省义务教育质量监测已于6月8日完成。", "下一步开展监测结果解读。"),
    13: ("已梳理2021年迎评反馈问题清单，共12项，已整改8项。", "剩余4项需多部门协同，7月底前完成整改。"),
    14: ("6月开展“双减”实地督导，覆盖学校42所。", "下一步配合开展校外培训机构联合治理。"),
    16: ("已完成全市中小学校党组织摸排。", "9月底前完成试点工作。"),
    17: ("已完成中考、高考考点学校食品安全检查。", "暂无。"),
    18: ("考场建设项目方案已通过论证，招标文件正在编制。", "7月底前完成公开招标。"),
    19: ("已完成优质中学培育对象初选，确定候选学校4所。", "下一步开展督导检查和教学能力比赛。"),
}
HR_ON_16 = ("已配合机关党委完成校长负责制试点学校领导班子配备摸底。", "下一步做好试点学校干部选配。")

ON_TIME_OFFICES = ("基财股", "人事股", "基安股", "职终股", "机关党委", "教育装备中心", "教师发展中心")
LATE_OFFICE = "督导室"
PENDING_OFFICE = "卫健所"
SILENT_OFFICE = "招考股"


@dataclass
class Seeded:
    plan: Plan
    june: Period
    july: Period
    offices: dict[str, Office]
    tasks: dict[int, Task]


def bj(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    """An aware datetime given in Beijing time."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=BJ)


def add_plan(
    session: Session,
    tasks: Iterable[tuple[int, str, list[str], list[tuple[int, str]], str]] = SEED_TASKS,
    *,
    year: int = 2022,
) -> tuple[Plan, dict[str, Office], dict[int, Task]]:
    """The plan with its tasks, offices, lead marks and dated milestones."""
    plan = Plan(
        year=year,
        title=f"台山市教育系统{year}年重点工作任务一览表",
        notice_title=f"关于印发台山市教育系统{year}年重点工作任务的通知",
        issuer="台山市教育局办公室",
        issued_on=dt.date(year, 6, 2),
        org_name="台山市教育系统",
        first_month=6,
        due_day=20,
    )
    session.add(plan)
    offices: dict[str, Office] = {}
    by_seq: dict[int, Task] = {}
    for seq, name, office_names, milestones, remark in tasks:
        task = Task(
            plan=plan,
            seq=seq,
            name=name,
            content=f"{name}。",
            remark=remark,
            offices_text=" ".join(o.lstrip("*") for o in office_names),
        )
        for pos, raw in enumerate(office_names):
            oname = raw.lstrip("*")
            office = offices.get(oname)
            if office is None:
                office = offices[oname] = Office(name=oname, in_directory=True)
                session.add(office)
            task.offices.append(TaskOffice(office=office, position=pos, is_lead=raw.startswith("*")))
        for pos, (month, text) in enumerate(milestones):
            task.milestones.append(
                Milestone(position=pos, label=f"{LABELS[pos]}是", due=month_end(year, month), text=text)
            )
        session.add(task)
        by_seq[seq] = task
    session.flush()
    return plan, offices, by_seq


def add_period(session: Session, plan: Plan, month: int, *, state: str = "collecting") -> Period:
    year = plan.year
    period = Period(
        plan=plan,
        year=year,
        month=month,
        state=state,
        send_on=dt.date(year, month, 10),
        due_on=dt.date(year, month, 20),
        remind_on=dt.date(year, month, 17),
        escalate_on=dt.date(year, month, 21),
        assemble_after=dt.date(year, month, 22),
    )
    session.add(period)
    session.flush()
    return period


def add_submission(
    session: Session,
    period: Period,
    office: Office,
    texts: dict[Task, tuple[str, str]],
    *,
    received: dt.datetime,
    state: str = "approved",
    revision: int = 1,
    late: bool = False,
) -> Submission:
    sub = Submission(
        period=period,
        office=office,
        revision=revision,
        state=state,
        received_at=received,
        late=late,
        filled_by="张三",
        filled_on=f"{received.month}月{received.day}日",
    )
    for task, (progress, problems) in texts.items():
        sub.entries.append(Entry(task=task, progress=progress, problems=problems))
    session.add(sub)
    session.flush()
    return sub


def led_by(tasks: dict[int, Task], office: str) -> list[Task]:
    return [t for t in tasks.values() for to in t.offices if to.is_lead and to.office.name == office]


def seed_june(session: Session) -> Seeded:
    """The realistic month described in the module docstring."""
    plan, offices, tasks = add_plan(session)
    june = add_period(session, plan, 6)
    july = add_period(session, plan, 7, state="open")

    def texts(office: str) -> dict[Task, tuple[str, str]]:
        out = {}
        for t in led_by(tasks, office):
            out[t] = HR_ON_16 if (office == "人事股" and t.seq == 16) else JUNE_TEXT[t.seq]
        return out

    received = {
        "基财股": bj(2022, 6, 18, 9, 30),
        "人事股": bj(2022, 6, 20, 23, 30),
        "基安股": bj(2022, 6, 17),
        "职终股": bj(2022, 6, 19),
        "机关党委": bj(2022, 6, 16),
        "教育装备中心": bj(2022, 6, 20, 8),
        "教师发展中心": bj(2022, 6, 15),
    }
    for name in ON_TIME_OFFICES:
        rev = 1
        if name == "基财股":  # returned by its leader, resubmitted the same day
            add_submission(
                session,
                june,
                offices[name],
                {t: ("（退回稿）进展待补充", "") for t in led_by(tasks, name)},
                received=bj(2022, 6, 17),
                state="returned",
            )
            rev = 2
        if name == "职终股":  # an approved report later replaced by a corrected one
            add_submission(
                session,
                june,
                offices[name],
                {t: ("（旧稿）", "") for t in led_by(tasks, name)},
                received=bj(2022, 6, 18),
                state="superseded",
            )
            rev = 2
        add_submission(session, june, offices[name], texts(name), received=received[name], revision=rev)
    add_submission(
        session, june, offices[LATE_OFFICE], texts(LATE_OFFICE), received=bj(2022, 6, 22, 15), late=True
    )
    add_submission(
        session,
        june,
        offices[PENDING_OFFICE],
        texts(PENDING_OFFICE),
        received=bj(2022, 6, 19),
        state="pending_approval",
    )
    return Seeded(plan=plan, june=june, july=july, offices=offices, tasks=tasks)


def synthetic_tasks(n: int) -> list[tuple[int, str, list[str], list[tuple[int, str]], str]]:
    """``n`` tasks cycling through the seed's 19 (for benchmarks): same offices, milestones and lengths."""
    out = []
    for i in range(n):
        _, name, offices, milestones, remark = SEED_TASKS[i % len(SEED_TASKS)]
        out.append(
            (i + 1, f"{name}（{i + 1}）" if i >= len(SEED_TASKS) else name, offices, milestones, remark)
        )
    return out
