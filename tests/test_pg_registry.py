"""A home whose registry is a real PostgreSQL database (tests/pgserver.py): a whole demo June on it, homes
kept apart by schema in one database, and `duban registry copy` from SQLite to PostgreSQL."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from mailer.common.config import DEFAULT_TOML, load_settings
from mailer.registry.model import Base, Dispatch, Period, Submission
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.demo import run_demo

pytestmark = pytest.mark.postgres


def pg_home(folder: Path, url: str, schema: str = "") -> Path:
    """A folder whose duban.toml points at ``url`` (``duban init`` keeps a duban.toml it finds)."""
    folder.mkdir(parents=True)
    extra = f'registry_schema = "{schema}"\n' if schema else ""
    (folder / "duban.toml").write_text(f'registry_url = "{url}"\n{extra}' + DEFAULT_TOML, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def pg_june(pg_server, tmp_path_factory):
    """A demo June run on a PostgreSQL registry, once for the module: (home, registry URL)."""
    url = pg_server.url(pg_server.new_database())
    with pytest.MonkeyPatch.context() as mp:  # what conftest's function-scoped _secret_key sets, for this scope
        mp.setenv("DUBAN_SECRET_KEY", "test-secret-key-not-for-production")
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
        mp.delenv("DUBAN_HOME", raising=False)
        result = run_demo(pg_home(tmp_path_factory.mktemp("pgjune") / "demo", url))
    close_all()
    return result.home, url


def test_a_demo_june_runs_whole_on_postgresql(pg_june):
    """
    GIVEN a home with registry_url pointing at an empty PostgreSQL database
    WHEN  the demo imports the notice and the directory and runs June (intake, approvals, sign-off)
    THEN  the period is published with every office approved, every message sent exactly once, and all
          of it lives in PostgreSQL (no SQLite file in registry/)
    """
    home, _url = pg_june
    settings = load_settings(home)
    assert settings.database_url.startswith("postgresql+psycopg://")
    engine = open_registry(settings.database_url)
    assert engine.dialect.name == "postgresql"
    with atomic(engine) as s:
        assert s.scalars(select(Period)).one().state == "published"
        subs = s.scalars(select(Submission).order_by(Submission.id)).all()
        last = {sub.office.name: sub.state for sub in subs}
        assert len(last) == 10 and set(last.values()) == {"approved"}
        assert [sub.office.name for sub in subs if sub.late] == ["教师发展中心"]
        rows = s.scalars(select(Dispatch)).all()
    kinds = Counter(d.kind for d in rows)
    assert all(d.state == "sent" for d in rows)
    assert len({d.message_id for d in rows}) == len(rows)
    assert kinds["form"] == 10 and kinds["published"] == 1 and kinds["returned"] == 1
    assert len(list((settings.outbox / "mail").glob("*.eml"))) == len(rows)
    assert not list(settings.registry.glob("*.sqlite3"))
    close_all()


def test_two_homes_in_one_database_are_kept_apart_by_schema(tmp_path: Path, pg_url: str):
    """
    GIVEN a city bureau's home (`duban init --registry-url … --registry-schema city`) and a county bureau's
          home, each with its own registry_schema in ONE database
    WHEN  both are initialised, one imports the plan, previews (`duban plan`) and runs its send day
    THEN  the preview lists what the run then sends; each home sees only its own tasks and mail; their ids
          differ; the tables live in two schemas
    """
    from click.testing import CliRunner

    from mailer.cli import cli
    from mailer.plan.importer import import_file
    from mailer.registry.homeid import open_home_registry, registry_id
    from mailer.registry.model import Task
    from mailer.service.cycle import run_once
    from mailer.service.demo import EXAMPLES, at
    from mailer.transport.base import open_transport

    made = CliRunner().invoke(cli, ["init", str(tmp_path / "city"), "--registry-url", pg_url,
                                    "--registry-schema", "city"])
    assert made.exit_code == 0, made.output
    city = load_settings(tmp_path / "city")
    assert (city.registry_url, city.registry_schema) == (pg_url, "city")
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "city"), "--registry-url", pg_url])
    assert again.exit_code == 1 and "duban registry copy" in again.output, again.output
    assert load_settings(tmp_path / "city").registry_schema == "city"  # left as it was
    county = load_settings(pg_home(tmp_path / "county", pg_url, "county_a"))
    e_city = open_home_registry(city)
    e_county = open_home_registry(county, create=True)
    assert registry_id(e_city) != registry_id(e_county)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(county, e_county, EXAMPLES / name)
    from mailer.service.preview import preview_tick

    # `duban plan` on PostgreSQL: the preview runs on a scratch SQLite copy and lists the send day's forms.
    planned = preview_tick(county, e_county, at(10))
    assert [p.kind for p in planned] == ["form"] * 10
    with open_transport(county) as t:
        run_once(county, e_county, t, at(10), auto_confirm="test")
    with atomic(e_county) as s:
        assert len(s.scalars(select(Task)).all()) > 10
        assert Counter(s.scalars(select(Dispatch.kind)))["form"] == 10
    with atomic(e_city) as s:
        assert s.scalars(select(Task)).all() == []
        assert s.scalars(select(Dispatch)).all() == []
    plain = create_engine(pg_url)
    with plain.connect() as c:
        schemas = dict(c.execute(text(
            "SELECT table_schema, count(*) FROM information_schema.tables "
            "WHERE table_name IN ('tasks', 'dispatches', 'meta') GROUP BY table_schema")).all())
        assert schemas == {"city": 3, "county_a": 3}
        assert c.execute(text("SELECT count(*) FROM county_a.dispatches")).scalar_one() == 10
    plain.dispose()
    close_all()
    # Opening the county home through the city's registry is refused: the ids differ.
    from mailer.common.errors import RegistryError

    (county.home / "duban.id").write_text((city.home / "duban.id").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(RegistryError, match="不属于目录"):
        open_home_registry(county)
    # A mistyped schema is an empty registry for an initialised home: refused, never created on the fly.
    toml = county.home / "duban.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"county_a"', '"county_b"'), encoding="utf-8")
    with pytest.raises(RegistryError, match="是空的"):
        open_home_registry(load_settings(county.home))
    close_all()


def test_registry_copy_moves_a_demo_month_from_sqlite_to_postgresql(pg_june, tmp_path: Path, pg_url: str):
    """
    GIVEN a SQLite home holding a demo June (the PostgreSQL demo's registry, copied into a SQLite file)
    WHEN  `duban registry copy --to <fresh PostgreSQL database> --schema county_a` runs, and the home switches
          registry_url and registry_schema as the command says
    THEN  every row arrives (counts checked), the home opens on PostgreSQL as its own, new rows get new ids,
          and a second copy to the now non-empty database is refused
    """
    from click.testing import CliRunner

    from mailer.cli import cli
    from mailer.registry.copying import copy_registry
    from mailer.registry.homeid import open_home_registry
    from mailer.registry.model import Event

    demo_home, demo_url = pg_june
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    toml = home / "duban.toml"
    toml.write_text(toml.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")  # back to SQLite
    sqlite_url = load_settings(home).database_url
    assert sqlite_url.startswith("sqlite:///")
    copy_registry(open_registry(demo_url), sqlite_url)
    sqlite_engine = open_home_registry(load_settings(home), verify=True)
    with atomic(sqlite_engine) as s:
        before = {t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in Base.metadata.sorted_tables}
        max_event = s.scalar(select(func.max(Event.id)))
    assert before["dispatches"] > 30 and before["entries"] > 0
    close_all()

    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home), "registry", "copy", "--to", pg_url, "--schema", "county_a"])
    assert out.exit_code == 0, out.output
    assert f'registry_url = "{pg_url}"' in out.output and 'registry_schema = "county_a"' in out.output
    assert f"共 {sum(before.values())} 行" in out.output and "PGPASSWORD" in out.output

    again = runner.invoke(cli, ["--home", str(home), "registry", "copy", "--to", pg_url, "--schema", "county_a"])
    assert again.exit_code == 1 and "不是空的" in again.output, again.output

    toml.write_text(f'registry_url = "{pg_url}"\nregistry_schema = "county_a"\n' + toml.read_text(encoding="utf-8"),
                    encoding="utf-8")
    settings = load_settings(home)
    engine = open_home_registry(settings, verify=True)  # the home's id went along
    assert engine.dialect.name == "postgresql"
    with atomic(engine) as s:
        after = {t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                 for t in Base.metadata.sorted_tables}
        assert s.scalars(select(Period)).one().state == "published"
        s.add(Event(kind="test", detail="after the copy"))
    assert after == before
    with atomic(engine) as s:
        assert s.scalar(select(func.max(Event.id))) == max_event + 1  # the sequence was moved on
    check = runner.invoke(cli, ["--home", str(home), "check", "--no-mail"])
    assert "没有 duban serve 在为本目录工作" in check.output, check.output
    close_all()


def test_text_longer_than_its_column_is_cut_on_postgresql_not_refused(tmp_path: Path, pg_url: str):
    """
    GIVEN SQLite, which stores any length, and PostgreSQL, which refuses text longer than VARCHAR(n)
    WHEN  a row with an over-long value is written to each, and the SQLite registry is copied to PostgreSQL
    THEN  SQLite keeps it whole; PostgreSQL gets it cut to the column (no "value too long" stopping intake),
          and the copy counts the cut value
    """
    from mailer.registry.copying import copy_registry
    from mailer.registry.model import Event

    long_kind = "k" * 100  # events.kind is VARCHAR(40)
    lite = open_registry(f"sqlite:///{tmp_path / 'r.sqlite3'}", create=True)
    with atomic(lite) as s:
        s.add(Event(kind=long_kind, detail="x"))
    with atomic(lite) as s:
        assert s.scalars(select(Event.kind)).one() == long_kind
    report = copy_registry(lite, pg_url)
    assert report.cut == 1 and report.rows["events"] == 1
    pg = open_registry(pg_url)
    with atomic(pg) as s:
        s.add(Event(kind=long_kind, detail="y"))
    with atomic(pg) as s:
        assert s.scalars(select(Event.kind)).all() == ["k" * 40, "k" * 40]
    close_all()


def test_one_sender_per_home_on_postgresql_across_processes(tmp_path: Path, pg_url: str):
    """
    GIVEN a home on PostgreSQL (whose services may run on several machines, so a file lock is not enough)
    WHEN  one holder keeps the send lock and another asks for it
    THEN  the other gets False after its wait; once released, it gets the lock; another home is not blocked
    """
    from mailer.registry.homeid import open_home_registry
    from mailer.service.outgoing import send_lock

    one = load_settings(pg_home(tmp_path / "one", pg_url, "one"))
    other = load_settings(pg_home(tmp_path / "other", pg_url, "other"))
    open_home_registry(one, create=True)
    open_home_registry(other, create=True)
    with send_lock(one) as first:
        assert first
        with send_lock(one, wait_s=0.5) as second:
            assert second is False
        with send_lock(other, wait_s=0) as elsewhere:
            assert elsewhere
    with send_lock(one, wait_s=0) as again:
        assert again
    assert not list(one.registry.glob("sending.lock"))  # the database's lock, not the file's
    close_all()


def test_short_commands_say_the_same_on_postgresql_as_read_plainly_from_sqlite(pg_june, tmp_path: Path):
    """
    GIVEN the demo June on PostgreSQL (published: approvals, a returned report, a late office, a sign-off)
          and the same registry copied into a SQLite file under a copy of the home
    WHEN  every short command (`status`, `tasks`, `offices`, `inbox list`, `outbox list`, `audit`, text and
          JSON) runs on both
    THEN  the outputs are identical (but for PostgreSQL's line on the service lock): the one SQL text of each read gives the same answer through SQLAlchemy
          on PostgreSQL as through sqlite3 on SQLite (mailer.registry.rows)
    """
    from click.testing import CliRunner
    from test_plainread import SHORT

    from mailer.cli import cli
    from mailer.registry.copying import copy_registry
    from mailer.registry.rows import open_plain

    pg_home_dir, pg_registry = pg_june
    lite = tmp_path / "lite"
    shutil.copytree(pg_home_dir, lite)
    toml = lite / "duban.toml"
    toml.write_text(toml.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")  # back to SQLite
    copy_registry(open_registry(pg_registry), load_settings(lite).database_url)
    close_all()
    assert open_plain(load_settings(pg_home_dir)) is None
    assert open_plain(load_settings(lite)) is not None

    def outputs(home: Path) -> dict[str, str]:
        out = {}
        for argv in SHORT:
            result = CliRunner().invoke(cli, ["--home", str(home), *argv], catch_exceptions=False)
            assert result.exit_code == 0, (argv, result.output)
            out[" ".join(argv)] = result.output.replace(str(home), "HOME")
        return out

    # PostgreSQL's status also names the `duban serve` holding the home's lock in the database (SQLite's is a file).
    on_pg = {k: "".join(ln for ln in v.splitlines(keepends=True) if not ln.startswith("服务："))
             for k, v in outputs(pg_home_dir).items()}
    close_all()
    assert outputs(lite) == on_pg
    assert "已审定" in on_pg["status --now 2022-06-25T09:00"]
    close_all()
