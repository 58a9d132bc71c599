"""The sender policy through the folder mailbox and the CLI: the envelope sender, the directory's allowed
envelope domains, retry and the clerk's release, `duban check`, the config, never answering machines."""

from __future__ import annotations

import json
import re

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from test_intake import counts, drop, form_dispatch, mail, take, the_form

from mailer.cli import cli
from mailer.common.config import load_settings
from mailer.common.errors import ConfigError
from mailer.registry.model import Approval, Dispatch, Event, InboundMessage, Office, Submission
from mailer.registry.store import atomic, open_registry
from mailer.service.demo import EXAMPLES, fill_form

JCG = "jcg@jyj.example.gov.cn"
LEADER = "chenzm@jyj.example.gov.cn"  # 陈志明, 基财股's supervising leader


@pytest.fixture
def sent(sent_home):
    home = sent_home
    engine = open_registry(home.database_url)
    return home, engine


def via(envelope: str, raw: bytes) -> bytes:
    """As the bureau's mail server stores it: the envelope sender on top as Return-Path."""
    return f"Return-Path: <{envelope}>\r\n".encode() + raw


def cli_run(settings, *args: str):
    return CliRunner().invoke(cli, ["--home", str(settings.home), *args])


def directory_allowing(tmp_path, domains: str):
    """The example directory with 基财股's row allowing ``domains`` as envelope senders."""
    wb = openpyxl.load_workbook(EXAMPLES / "directory-2022.xlsx")
    ws = wb["股室"]
    col = ws.max_column + 1
    ws.cell(1, col, "允许代发域名")
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 1).value == "基财股":
            ws.cell(row, col, domains)
    path = tmp_path / "名录.xlsx"
    wb.save(path)
    return path


def test_a_form_through_a_mailing_service_is_quarantined_until_the_directory_allows_its_domain(sent, tmp_path):
    """
    GIVEN the default policy (strict) and no server results
    WHEN  基财股's filled form arrives with an envelope sender of another domain (a mailing service)
    THEN  it is quarantined (nothing recorded as a report, no answer to the office), the bureau office told;
          once the directory's 允许代发域名 lists that domain, `duban inbox retry` takes it as the report
    """
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    raw = via("bounce-7f3a@mta.sendservice.cn", mail(JCG, "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                                     attachment=(name, fill_form(data))))
    drop(settings, "a.eml", raw)
    take(settings, engine)
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert (row.kind, row.sender_verdict) == ("quarantined", "fail")
        assert "bounce-7f3a@mta.sendservice.cn" in row.outcome
        assert "名录中也未将 mta.sendservice.cn 登记为“允许代发域名”" in row.outcome
        assert s.scalar(select(func.count(Submission.id))) == 0
        assert [x.kind for x in s.scalars(select(Dispatch).where(Dispatch.in_reply_to_id == row.id))] == []
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.kind == "quarantine_notice")) == 1

    # Retried without a change: still quarantined, and the bureau office is not told a second time.
    result = cli_run(settings, "inbox", "retry", str(row.id))
    assert result.exit_code == 0, result.output
    assert "已隔离" in result.output
    with atomic(engine) as s:
        assert s.scalar(select(func.count(Dispatch.id)).where(Dispatch.kind == "quarantine_notice")) == 1

    result = cli_run(settings, "import", str(directory_allowing(tmp_path, "sendservice.cn")))
    assert result.exit_code == 0, result.output
    with atomic(engine) as s:
        assert s.scalars(select(Office).where(Office.name == "基财股")).one().envelope_domains == "sendservice.cn"
    result = cli_run(settings, "inbox", "retry", str(row.id))
    assert result.exit_code == 0, result.output
    with atomic(engine) as s:
        assert s.get(InboundMessage, row.id).kind == "form"
        assert s.scalars(select(Submission)).one().state == "pending_approval"


def test_a_bad_allowed_domain_in_the_directory_changes_nothing(sent, tmp_path):
    settings, engine = sent
    result = cli_run(settings, "import", str(directory_allowing(tmp_path, "not a domain!")))
    assert result.exit_code == 1
    assert "允许代发域名" in result.output and "代发域名格式不正确" in result.output
    with atomic(engine) as s:
        assert s.scalars(select(Office).where(Office.name == "基财股")).one().envelope_domains == ""


def test_a_forged_leader_approval_is_released_by_the_clerk_and_audited(sent):
    """
    GIVEN a report waiting for 陈志明's approval
    WHEN  "同意" arrives under his From with an envelope sender of another domain
    THEN  nothing is approved and he gets no answer; `duban inbox list` shows it quarantined with the reason;
          after the clerk phoned him, `duban inbox release ID --by 甄晓雯` records the approval and the release
    """
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "form.eml", mail(JCG, "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                    attachment=(name, fill_form(data))))
    take(settings, engine)
    with atomic(engine) as s:
        request = s.scalars(select(Dispatch).where(Dispatch.kind == "approval_request")).one()
    drop(settings, "ok.eml", via("chenzm@home-isp.example.net",
                                 mail(LEADER, "回复：" + request.subject, "同意。", in_reply_to=request.message_id,
                                      day=14)))
    before = counts(engine)
    take(settings, engine, day=14)
    with atomic(engine) as s:
        row = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row.kind == "quarantined" and "陈志明" in row.outcome
        assert s.scalars(select(Submission)).one().state == "pending_approval"
        assert s.scalar(select(func.count(Approval.id))) == 0
    assert counts(engine)["dispatches"] == before["dispatches"] + 1  # only the notice to the bureau office

    listed = json.loads(cli_run(settings, "inbox", "list", "--kind", "quarantined", "--json").output)
    assert [(r["id"], r["sender_verdict"], r["released"]) for r in listed] == [(row.id, "fail", False)]
    plain = cli_run(settings, "inbox", "list").output
    assert "自称 副局长陈志明" in plain and "Return-Path" in plain

    check = cli_run(settings, "check", "--no-mail").output
    assert f"[提醒] 来信 #{row.id}" in check and f"`duban inbox release {row.id}`" in check

    result = cli_run(settings, "inbox", "release", str(row.id), "--by", "甄晓雯")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"来信 #{row.id} 已认可发件人并重新处理：decision")
    with atomic(engine) as s:
        assert s.scalars(select(Submission)).one().state == "approved"
        released = s.scalars(select(Event).where(Event.kind == "released")).one()
        assert "甄晓雯" in released.detail and f"#{row.id}" in released.detail
        assert s.get(InboundMessage, row.id).released_at is not None

    again = cli_run(settings, "inbox", "release", str(row.id))
    assert again.exit_code == 1
    assert f"来信 #{row.id} 的状态是 decision，不是 quarantined" in again.output


def test_relaxed_and_off_do_not_judge_the_envelope(sent):
    settings, engine = sent
    for mode in ("relaxed", "off"):
        (settings.home / "duban.toml").write_text(f'[senders]\nsender_check = "{mode}"\n', encoding="utf-8")
        s2 = load_settings(settings.home)
        assert s2.senders.sender_check == mode
        drop(s2, f"{mode}.eml", via("x@elsewhere.example.net", mail(JCG, f"问询 {mode}", "请问表格在哪里下载？")))
        take(s2, engine)
    with atomic(engine) as s:
        assert [r.kind for r in s.scalars(select(InboundMessage))] == ["unrelated", "unrelated"]
        assert [r.sender_verdict for r in s.scalars(select(InboundMessage))] == ["unknown", ""]


def test_the_policy_is_validated_and_shown_by_duban_check(home):
    cfg = home.home / "duban.toml"
    cfg.write_text('[senders]\nsender_check = "paranoid"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("senders.sender_check = “paranoid”无法识别")):
        load_settings(home.home)
    cfg.write_text('[senders]\ntrusted_authserv_ids = "mx.a.cn"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="应为邮件服务器名称的列表"):
        load_settings(home.home)
    cfg.write_text('[senders]\nanswers_per_day = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="answers_per_day = 0"):
        load_settings(home.home)

    cfg.write_text('[senders]\ntrusted_authserv_ids = ["mx.jyj.example.gov.cn"]\nverify_dkim = true\n'
                   'dns_server = "10.1.1.53:53"\n', encoding="utf-8")
    out = cli_run(home, "check", "--no-mail").output
    assert '[信息] 发件人验证：严格（sender_check = "strict"）。受信任的接收服务器：mx.jyj.example.gov.cn；' in out
    assert "DNS：10.1.1.53:53" in out and "duban inbox release" in out
    assert "[信息] 同一地址每天最多收到 3 封错误提示" in out
    cfg.write_text('[senders]\nsender_check = "off"\n', encoding="utf-8")
    out = cli_run(home, "check", "--no-mail").output
    assert '[提醒] 发件人验证：关闭（sender_check = "off"）' in out


def test_the_default_duban_toml_documents_the_policy(home):
    text = (home.home / "duban.toml").read_text(encoding="utf-8")
    assert 'sender_check = "strict"' in text and "relaxed" in text and "answers_per_day = 3" in text
    assert load_settings(home.home).senders.sender_check == "strict"


@pytest.mark.parametrize(
    "header",
    ["X-Auto-Reply: yes", "X-Autogenerated: Reply", "Precedence: list", "List-Id: <gs.lists.example.cn>",
     "Return-Path: <>", "X-Autoresponder: 1"],
)
def test_machines_that_mark_themselves_are_never_answered(sent, header):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    k, v = header.split(": ", 1)
    raw = mail(JCG, "回复：" + d.subject, "您好，邮件已收到。", in_reply_to=d.message_id)
    raw = f"{k}: {v}\r\n".encode() + raw
    before = counts(engine)
    drop(settings, "auto.eml", raw)
    take(settings, engine)
    with atomic(engine) as s:
        assert s.scalars(select(InboundMessage)).one().kind == "auto_reply"
    assert counts(engine)["dispatches"] == before["dispatches"]


@pytest.mark.parametrize("subject", ["Auto: 请报送进展情况", "自动答复：请报送", "休假中，请联系周嘉伟"])
def test_auto_reply_subjects_are_never_answered(sent, subject):
    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    before = counts(engine)
    drop(settings, "auto.eml", mail(JCG, subject, "您好，邮件已收到。", in_reply_to=d.message_id))
    take(settings, engine)
    assert counts(engine)["dispatches"] == before["dispatches"]


def test_our_answers_say_auto_replied_and_our_first_mails_auto_generated(sent):
    """RFC 3834 §5: other robots must not answer us; and a copy of either is recognised as our own."""
    import email

    settings, engine = sent
    d = form_dispatch(engine, "基财股")
    name, data = the_form(settings, d)
    drop(settings, "a.eml", mail(JCG, "回复：" + d.subject, "见附件", in_reply_to=d.message_id,
                                 attachment=(name, fill_form(data, mistake=True))))
    take(settings, engine)
    with atomic(engine) as s:
        answer = s.scalars(select(Dispatch).where(Dispatch.kind == "error_reply")).one()
    from mailer.read.mailread import read_message

    for dispatch, expected in ((d, "auto-generated"), (answer, "auto-replied")):
        raw = settings.path(dispatch.eml_path).read_bytes()
        assert email.message_from_bytes(raw)["Auto-Submitted"] == expected
        assert read_message(raw, max_attachment_bytes=10**8, own_address=settings.mail.from_address).is_ours


def test_the_schema_upgrades_from_the_first_revision(tmp_path):
    """A registry made before this change gets the new columns, existing rows their defaults."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from mailer.registry.store import MIGRATIONS, close_all

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    old = create_engine(url)
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("insert into offices (name, contact, phone, is_bureau_office, in_directory) "
                             "values ('基财股', '', '', 0, 1)")
    old.dispose()
    engine = open_registry(url)
    with atomic(engine) as s:
        assert s.scalars(select(Office)).one().envelope_domains == ""
    close_all()
