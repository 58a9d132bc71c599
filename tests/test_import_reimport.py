"""Importing again: plans are updated in place with a diff, directories updated, leads corrected by hand."""

from __future__ import annotations

import copy

import pytest
from make_notice import SeedTask, Variant, build_directory, build_notice, read_seed
from openpyxl import load_workbook
from sqlalchemy import select
from test_import_bad import registry_rows
from test_import_notice import registry_tasks

from mailer.common.errors import PlanImportError
from mailer.plan.importer import import_file, set_lead
from mailer.registry.model import Entry, Office, Person, Plan, Recipient, Submission, Task
from mailer.registry.offices import find_office
from mailer.registry.store import atomic


@pytest.fixture
def directory(home, engine, tmp_path):
    return import_file(home, engine, build_directory(tmp_path / "directory.xlsx"))


def test_same_notice_again_changes_nothing(home, engine, tmp_path, directory):
    path = build_notice(tmp_path / "notice.docx")
    import_file(home, engine, path)
    before = registry_rows(engine)
    report = import_file(home, engine, path)
    assert report.unchanged and "19 项任务，无变化" in report.render()
    assert str(report).endswith("19 项任务，无变化")
    assert registry_rows(engine) == before


def test_changed_notice_reports_new_changed_removed(home, engine, tmp_path, directory):
    import_file(home, engine, build_notice(tmp_path / "v1.docx"))
    with atomic(engine) as s:  # an earlier report points at task 19: it must survive its removal
        task19 = s.scalars(select(Task).where(Task.seq == 19)).one()
        s.add(Entry(submission_id=_submission(s), task_id=task19.id, progress="已完成初选"))
    seed = read_seed()
    t3 = next(t for t in seed.tasks if t.seq == 3)
    t3.content = [p.replace("10 月底前", "11 月底前") for p in t3.content]
    t5 = next(t for t in seed.tasks if t.seq == 5)
    t5.offices, t5.leads = [["基安股", "人事股"]], ["人事股"]
    t8 = next(t for t in seed.tasks if t.seq == 8)
    t8.remark = ["江门市委交办事项"]
    seed.tasks = [t for t in seed.tasks if t.seq != 19]
    seed.tasks.append(
        SeedTask(
            seq=20,
            name="新增任务",
            content=["关键节点及解决难点：", "一是12月底前完成。"],
            offices=[["招考股"]],
            leads=["招考股"],
            remark=[],
            group=8,
        )
    )
    report = import_file(home, engine, build_notice(tmp_path / "v2.docx", seed=seed))
    assert report.new == [20]
    assert report.changed == {3: ["主要内容", "时间节点"], 5: ["责任股室/牵头股室"], 8: ["备注"]}
    assert report.removed == [19]
    text = report.render()
    assert "新增任务：20" in text and "任务 3 有变更：主要内容、时间节点" in text
    assert "文件中已没有的任务（保留记录，标为已移除）：19" in text
    got = registry_tasks(engine)
    assert got[19]["removed"] and got[19]["name"] == "优质中学建设"
    assert got[3]["milestones"][1][1].isoformat() == "2022-11-30"
    assert got[5]["offices"] == ["基安股", "人事股"] and got[5]["leads"] == ["人事股"]
    with atomic(engine) as s:
        assert len(s.scalars(select(Plan)).all()) == 1
        assert s.scalars(select(Entry)).one().task.seq == 19

    again = import_file(home, engine, build_notice(tmp_path / "v1.docx"))
    assert again.restored == [19] and again.removed == [20]
    assert not registry_tasks(engine)[19]["removed"]


def _submission(s) -> int:
    from mailer.registry.model import Period

    plan = s.scalars(select(Plan)).one()
    office = find_office(s, "教师发展中心")
    period = Period(plan_id=plan.id, year=2022, month=6, send_on=plan.issued_on, due_on=plan.issued_on)
    s.add(period)
    s.flush()
    sub = Submission(period_id=period.id, office_id=office.id, revision=1, state="approved")
    s.add(sub)
    s.flush()
    return sub.id


def test_set_lead_and_it_survives_a_notice_without_underline(home, engine, tmp_path, directory):
    import_file(home, engine, build_notice(tmp_path / "plain.docx", Variant(underline="none")))
    assert registry_tasks(engine)[2]["lead_assumed"]
    message = set_lead(engine, 2, ["基安股"])
    assert message == "任务 2（增加学位供给）的牵头股室已改为：基安股。"
    task = registry_tasks(engine)[2]
    assert task["leads"] == ["基安股"] and not task["lead_assumed"]
    report = import_file(home, engine, build_notice(tmp_path / "plain.docx", Variant(underline="none")))
    assert (2, "基安股") in report.leads_kept and 2 not in [seq for seq, _ in report.lead_assumed]
    assert 2 not in report.changed
    assert registry_tasks(engine)[2]["leads"] == ["基安股"]
    # An underline in the file is the notice's word: it wins over the correction.
    report = import_file(home, engine, build_notice(tmp_path / "underlined.docx"))
    assert report.changed[2] == ["责任股室/牵头股室"] and report.changed[1] == ["下划线"]
    assert registry_tasks(engine)[2]["leads"] == ["基财股"]


def test_set_lead_by_alias_and_several(home, engine, tmp_path, directory):
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    assert set_lead(engine, 9, ["督导组", "基财股"]).endswith("的牵头股室已改为：督导室、基财股。")
    assert registry_tasks(engine)[9]["leads"] == ["督导室", "基财股"]


def test_set_lead_refusals(home, engine, tmp_path):
    with pytest.raises(PlanImportError, match="尚未导入任何工作计划"):
        set_lead(engine, 1, ["基财股"])
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    with pytest.raises(PlanImportError, match="没有编号为 42 的任务"):
        set_lead(engine, 42, ["基财股"])
    with pytest.raises(
        PlanImportError, match=r"“人事股”不是任务 1 的责任股室（基财股、职终股）"
    ):
        set_lead(engine, 1, ["人事股"])


def test_notice_first_then_directory_merges_the_second_names(home, engine, tmp_path):
    """
    GIVEN the notice imported before the directory (督导组 and 办公室 created as offices of their own)
    WHEN  the directory, which knows them as aliases of 督导室 and 局办公室, is imported
    THEN  they are merged: tasks 11 and 12 are led by 督导室, 局办公室 is the bureau office
    """
    import_file(home, engine, build_notice(tmp_path / "notice.docx"))
    report = import_file(home, engine, build_directory(tmp_path / "directory.xlsx"))
    assert ("督导组", "督导室") in report.directory.offices_merged
    assert "任务表中的“督导组”已并入“督导室”" in report.render()
    tasks = registry_tasks(engine)
    assert tasks[11]["leads"] == ["督导室"] and tasks[12]["leads"] == ["督导室"]
    assert "局办公室" in tasks[13]["offices"]
    with atomic(engine) as s:
        names = sorted(o.name for o in s.scalars(select(Office)))
        assert "督导组" not in names and "办公室" not in names and len(names) == 12
        assert all(o.in_directory for o in s.scalars(select(Office)))
        bureau = s.scalars(select(Office).where(Office.is_bureau_office.is_(True))).one()
        assert bureau.name == "局办公室" and bureau.addresses[0].email == "bgs@jyj.example.gov.cn"
    assert import_file(home, engine, build_notice(tmp_path / "notice.docx")).unchanged


def test_directory_contents(home, engine, directory):
    assert directory.kind == "directory" and len(directory.directory.offices_added) == 12
    with atomic(engine) as s:
        jcg = find_office(s, "基财股")
        assert [a.email for a in jcg.addresses] == ["jcg@jyj.example.gov.cn", "jcg-zhou@jyj.example.gov.cn"]
        assert (jcg.contact, jcg.phone, jcg.leader.name, jcg.leader.title) == (
            "周嘉伟",
            "0750-5500002",
            "陈志明",
            "副局长",
        )
        assert find_office(s, "督导组").name == "督导室"
        signer = s.scalars(select(Person).where(Person.is_signer.is_(True))).one()
        assert (signer.name, signer.title, signer.email) == ("林振华", "局长", "linzh@jyj.example.gov.cn")
        leaders = {o.leader.name for o in s.scalars(select(Office))}
        assert leaders == {"陈志明", "黄丽娟", "梁国栋", "伍慧敏"}
        assert len(s.scalars(select(Recipient)).all()) == 5


def test_directory_reimport_updates(home, engine, tmp_path, directory):
    before = registry_rows(engine)
    assert import_file(home, engine, build_directory(tmp_path / "same.xlsx")).unchanged
    assert registry_rows(engine) == before
    path = build_directory(tmp_path / "v2.xlsx")
    wb = load_workbook(path)
    offices = wb["股室"]
    offices["C3"] = "jcg-new@jyj.example.gov.cn"  # 基财股 gets a new address
    offices["F4"] = "陈志明"  # 职终股 changes leader
    offices["B7"] = "督导组"  # 督导室 drops one alias
    offices.delete_rows(13)  # 卫健所 leaves the directory
    wb["人员"].append(["新同志", "副局长", "xintz@jyj.example.gov.cn", "分管负责同志"])
    wb["分发名单"].delete_rows(6)
    wb.save(path)
    report = import_file(home, engine, path).directory
    assert sorted(report.offices_updated) == ["基财股", "督导室", "职终股"]
    assert report.offices_dropped == ["卫健所"] and report.people_added == ["新同志"]
    assert report.distribution_changed and report.distribution == 4
    with atomic(engine) as s:
        assert [a.email for a in find_office(s, "基财股").addresses] == ["jcg-new@jyj.example.gov.cn"]
        assert find_office(s, "职终股").leader.name == "陈志明"
        assert find_office(s, "教育督导室") is None
        wjs = find_office(s, "卫健所")
        assert not wjs.in_directory and wjs.addresses == [] and wjs.leader is None
    assert import_file(home, engine, path).unchanged


def test_two_plans_the_newest_import_is_active(home, engine, tmp_path):
    import_file(home, engine, build_notice(tmp_path / "2022.docx"))
    seed = copy.deepcopy(read_seed())
    seed.title = seed.title.replace("2022", "2023")
    report = import_file(home, engine, build_notice(tmp_path / "2023.docx", seed=seed))
    assert report.plan_created and report.year == 2023
    assert "已设为当前计划（原当前计划：台山市教育系统2022年重点工作任务一览表（2022年））" in report.render()
    with atomic(engine) as s:
        assert [(p.year, p.active) for p in s.scalars(select(Plan).order_by(Plan.year))] == [
            (2022, False),
            (2023, True),
        ]
        plan = s.scalars(select(Plan).where(Plan.year == 2023)).one()
        assert plan.tasks[0].milestones[0].due.year == 2023
