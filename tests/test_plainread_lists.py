"""`duban tasks`, `offices` and `audit` read plainly (sqlite3, mailer.registry.listings and .audit) say exactly
what they say through SQLAlchemy, on a home holding what these lists show beyond the June forms sent: clerk
actions with reasons, a task removed by a re-import, assumed leads, an office known only from the task table,
several addresses; and the same refusals on a home without a plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from make_notice import SeedTask, read_seed
from make_notice import build_notice as make_notice_docx

from mailer.cli import cli
from mailer.common.config import Settings
from mailer.registry import rows as rows_mod
from mailer.registry.rows import open_plain

LISTS = [
    ["tasks"],
    ["tasks", "--json"],
    ["tasks", "--all"],
    ["tasks", "--all", "--json"],
    ["offices"],
    ["offices", "--json"],
    ["audit"],
    ["audit", "--json"],
    ["audit", "--actions"],
    ["audit", "--actions", "--json"],
    ["audit", "--period", "2022-06"],
    ["audit", "--period", "2022-06", "--actions", "--json"],
]


def _invoke(home: Path, argv: list[str]) -> tuple[int, str]:
    result = CliRunner(env={"DUBAN_USER": "王文员"}).invoke(cli, ["--home", str(home), *argv], catch_exceptions=False)
    return result.exit_code, result.output


def _both_ways(
    home: Settings, monkeypatch: pytest.MonkeyPatch, commands: list[list[str]]
) -> dict[str, tuple[int, str]]:
    """Each command's exit code and output, read plainly; asserts they are the same through a session."""
    assert open_plain(home) is not None
    plain = {" ".join(a): _invoke(home.home, a) for a in commands}
    with monkeypatch.context() as m:
        m.setattr(rows_mod, "open_plain", lambda _settings: None)
        through_orm = {" ".join(a): _invoke(home.home, a) for a in commands}
    assert plain == through_orm
    return plain


@pytest.fixture
def acted_home(sent_home: Settings, tmp_path: Path) -> Settings:
    """The June home after the clerk's actions (with reasons) and a re-import of the notice that drops task
    19 and adds a task without an underlined lead, led by an office the directory does not know."""
    def act(*argv: str) -> None:
        code, out = _invoke(sent_home.home, list(argv))
        assert code == 0, (argv, out)

    act("offices", "set-address", "基财股", "jicai2@example.gov.cn", "--add", "--reason", "股室新增邮箱")
    act("extend", "--office", "基财股", "--period", "2022-06", "--to", "2022-06-25", "--reason", "负责人出差")
    act("tasks", "done", "12", "--reason", "项目已竣工验收", "--by", "李主任")
    seed = read_seed()
    seed.tasks = [t for t in seed.tasks if t.seq != 19]
    seed.tasks.append(
        SeedTask(seq=20, name="新增任务", content=["关键节点及解决难点：", "一是12月底前完成。"],
                 offices=[["新设股", "招考股"]], leads=[], remark=["新增"], group=8)
    )
    act("import", str(make_notice_docx(tmp_path / "v2.docx", seed=seed)))
    act("tasks", "set-lead", "1", "基财股", "职终股")  # after the import: the notice's underline would win
    return sent_home


def test_the_lists_say_the_same_both_ways_after_actions_and_a_reimport(
    acted_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = {k: text for k, (code, text) in _both_ways(acted_home, monkeypatch, LISTS).items() if code == 0}
    assert len(out) == len(LISTS)
    # What the comparison compared: each feature these lists show is there.
    every = {t["seq"]: t for t in json.loads(out["tasks --all --json"])}
    # JSON's true/false, as the ORM gave them (SQLite's driver gives 0/1 through a session too: only these
    # assertions and PostgreSQL's test below would see a missing converter).
    assert every[19]["removed"] is True and every[1]["removed"] is False and "19（已删除）" in out["tasks --all"] and 19 not in {
        t["seq"] for t in json.loads(out["tasks --json"])
    }
    assert every[20]["lead_assumed"] is True and every[1]["lead_assumed"] is False and every[20]["offices"] == ["新设股", "招考股"]
    assert every[1]["leads"] == ["基财股", "职终股"]
    assert "默认第一个股室为牵头股室" in out["tasks"]
    offices = {o["name"]: o for o in json.loads(out["offices --json"])}
    assert offices["新设股"]["in_directory"] is False and offices["新设股"]["leads_tasks"] == [20]
    assert len(offices["基财股"]["addresses"]) == 3 and offices["基财股"]["addresses"][-1] == "jicai2@example.gov.cn"
    assert [o["is_bureau_office"] for o in offices.values()].count(True) == 1
    assert offices["基财股"]["in_directory"] is True
    assert any(o["aliases"] for o in offices.values()) and offices["基财股"]["leader"]
    actions = json.loads(out["audit --actions --json"])
    assert {(a["actor"], a["kind"]) for a in actions} >= {("王文员", "address_changed"), ("李主任", "task_done")}
    assert {a["reason"] for a in actions} >= {"股室新增邮箱", "负责人出差", "项目已竣工验收"}
    june = {a["kind"]: a for a in json.loads(out["audit --period 2022-06 --actions --json"])}
    assert "address_changed" not in june  # not of a period
    assert june["deadline_extended"]["office"] == "基财股" and june["deadline_extended"]["period"] == "2022-06"
    assert june["deadline_extended"]["at"].endswith("+08:00")
    assert len(json.loads(out["audit --json"])) > len(actions)


def test_a_period_not_opened_is_refused_the_same_both_ways(sent_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _both_ways(sent_home, monkeypatch, [["audit", "--period", "2022-09"], ["audit", "--period", "x"]])
    assert got["audit --period 2022-09"] == (
        1, "错误：2022-09 期次尚未开启（表格未发出）。请用 duban status 查看已有的期次。\n"
    )
    assert got["audit --period x"][0] == 1 and "不是报送期" in got["audit --period x"][1]


def test_a_home_without_a_plan_says_the_same_both_ways(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _both_ways(
        home, monkeypatch,
        [["tasks"], ["tasks", "--json"], ["offices"], ["offices", "--json"], ["audit"], ["audit", "--period", "2022-06"]],
    )
    assert got["tasks"][0] == 1 and "尚未导入任何工作计划" in got["tasks"][1]
    assert "尚无股室" in got["offices"][1] and got["offices --json"] == (0, "[]\n")
    assert got["audit"] == (0, "没有审计记录。\n")
    assert got["audit --period 2022-06"] == (1, "错误：登记册中还没有任务计划：请先导入通知（duban import 通知.docx）。\n")


@pytest.mark.postgres
def test_the_lists_say_the_same_on_postgresql(acted_home: Settings, pg_url: str, tmp_path: Path) -> None:
    """The same registry copied into PostgreSQL (read through a session there: booleans, dates, ordering of
    the other database) lists exactly what sqlite3 reads from the SQLite file."""
    import shutil

    from mailer.common.config import load_settings
    from mailer.registry.copying import copy_registry
    from mailer.registry.store import close_all, open_registry

    lite = {" ".join(a): _invoke(acted_home.home, a) for a in LISTS}
    on_pg = tmp_path / "pg"
    shutil.copytree(acted_home.home, on_pg, symlinks=True)
    toml = on_pg / "duban.toml"
    toml.write_text(f'registry_url = "{pg_url}"\n' + toml.read_text(encoding="utf-8"), encoding="utf-8")
    copy_registry(open_registry(acted_home.database_url), pg_url)
    close_all()
    assert open_plain(load_settings(on_pg)) is None
    assert {" ".join(a): _invoke(on_pg, a) for a in LISTS} == lite
    close_all()
