"""Outgoing messages (parsed back with both stdlib policies and with read_message) and the mail templates."""

from __future__ import annotations

import dataclasses
import email
import re
from email import policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from mailer.common.config import Settings
from mailer.common.errors import TemplateError
from mailer.common.templates import default_templates_dir
from mailer.read.mailread import read_message
from mailer.render.compose import (
    MAIL_TEMPLATES,
    build_message,
    new_message_id,
    render_mail,
    template_names,
)

DOCX_NAME = "附件2：2022年1—6月重点工作任务进展情况表（基财股）.docx"
PDF_NAME = "关于2022年1—6月重点工作任务进展情况的通报.pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUBJECT = "[DB-2206-7KQ3MX2A] 请报送2022年1—6月重点工作任务进展情况（基财股）"
TOKEN = "DB-2206-7KQ3MX2A"
REQUIRED_TEMPLATES = {
    "form", "reminder", "escalation", "receipt", "error_reply", "approval_request", "approval_reminder",
    "returned", "approved_notice", "not_understood", "quarantine_notice", "signoff_request",
    "signoff_returned", "signoff_stale", "published", "gate_held", "oversize_reply",
}  # fmt: skip


def full_message(settings: Settings, message_id: str) -> bytes:
    return build_message(
        settings,
        to=["基财股 <jcg@jyj.example.gov.cn>"],
        cc=["leader@jyj.example.gov.cn"],
        subject=SUBJECT,
        text="基财股：\n\n　　请于6月20日前报送。\n",
        html="<p>基财股：</p><p>请于6月20日前报送。</p>",
        attachments=[(DOCX_NAME, b"PK\x03\x04docx-bytes"), (PDF_NAME, b"%PDF-1.7 pdf-bytes")],
        message_id=message_id,
        in_reply_to="<prev@jyj.example.gov.cn>",
        references=["<first@jyj.example.gov.cn>"],
    )


def test_new_message_id(home: Settings) -> None:
    ids = {new_message_id(home) for _ in range(200)}
    assert len(ids) == 200
    for mid in ids:
        assert re.fullmatch(r"<duban\.\d{8}T\d{6}\.[0-9a-f]{16}@jyj\.example\.gov\.cn>", mid)
    other = dataclasses.replace(
        home, mail=dataclasses.replace(home.mail, message_id_domain="duban.jyj.local")
    )
    assert new_message_id(other).endswith("@duban.jyj.local>")


def test_parsed_back_with_the_modern_policy(home: Settings) -> None:
    """GIVEN a form mail with a Chinese subject, HTML and two Chinese-named attachments
    WHEN  parsed with policy.default (what Thunderbird-like readers do)
    THEN  subject, sender, thread headers, bodies and file names all come back exactly"""
    mid = new_message_id(home)
    msg = email.message_from_bytes(full_message(home, mid), policy=policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "局办公室"
    assert msg["From"].addresses[0].addr_spec == "bgs@jyj.example.gov.cn"
    assert msg["To"].addresses[0].display_name == "基财股"
    assert msg["Cc"] == "leader@jyj.example.gov.cn"
    assert msg["Message-ID"] == mid
    assert msg["In-Reply-To"] == "<prev@jyj.example.gov.cn>"
    assert msg["References"] == "<first@jyj.example.gov.cn> <prev@jyj.example.gov.cn>"
    assert msg["Auto-Submitted"] == "auto-replied"  # an answer (RFC 3834 §5)
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Date"].datetime.tzinfo is not None
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert (
        body is not None
        and body.get_content().replace("\r\n", "\n") == "基财股：\n\n　　请于6月20日前报送。\n"
    )
    html = msg.get_body(("html",))
    assert html is not None and "<p>基财股：</p>" in html.get_content()
    atts = list(msg.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in atts] == [
        (DOCX_NAME, DOCX_TYPE),
        (PDF_NAME, "application/pdf"),
    ]
    assert atts[0].get_content() == b"PK\x03\x04docx-bytes"


def test_attachment_names_in_both_rfc2231_and_rfc2047(home: Settings) -> None:
    """GIVEN the same message
    WHEN  its raw attachment headers are read (compat32, as Outlook/Foxmail read name=)
    THEN  Content-Disposition has filename*=utf-8'' and Content-Type has name="=?utf-8?b?…?=" """
    raw = full_message(home, new_message_id(home))
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    docx = next(p for p in msg.walk() if p.get_content_type() == DOCX_TYPE)
    assert "filename*=utf-8''" in docx["Content-Disposition"]
    name = docx.get_param("name")
    assert isinstance(name, str) and name.startswith("=?utf-8?b?") and name.endswith("?=")
    assert str(make_header(decode_header(name))) == DOCX_NAME
    filename = docx.get_param("filename", header="content-disposition")
    assert filename is not None and email.utils.collapse_rfc2231_value(filename) == DOCX_NAME
    # one encoded-word, not split: some clients do not join a name split over several
    assert name.count("?=") == 1
    # folded as Outlook does: the type on the header line, each parameter on its own line
    assert f'\r\nContent-Type: {DOCX_TYPE};\r\n\tname="=?utf-8?b?'.encode() in raw
    assert b"\r\nContent-Disposition: attachment;\r\n\tfilename*=utf-8''%E9%99%84" in raw


def test_wire_format(home: Settings) -> None:
    raw = full_message(home, new_message_id(home))
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, no bare LF
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    subject = re.search(r"^Subject: (.*(?:\r\n[ \t].*)*)", head, re.MULTILINE)
    assert subject is not None and subject.group(1).startswith(
        f"[{TOKEN}] =?utf-8?b?"
    )  # the token stays ASCII


def test_read_back_by_our_own_reader(home: Settings) -> None:
    mid = new_message_id(home)
    m = read_message(full_message(home, mid), max_attachment_bytes=10**6, own_address=home.mail.from_address)
    assert m.subject == SUBJECT and m.message_id == mid and m.is_ours
    assert [a.filename for a in m.attachments] == [DOCX_NAME, PDF_NAME]
    assert m.in_reply_to == "<prev@jyj.example.gov.cn>"
    assert m.references == ["<first@jyj.example.gov.cn>", "<prev@jyj.example.gov.cn>"]


@pytest.mark.parametrize(
    "subject",
    [
        "请审核",
        "Re: 回复 [DB-2206-7KQ3MX2A] 请审核",
        "[DB-2206-7KQ3MX2A]  两个空格",
        "A B C 中文 D",
        "x" * 90 + " 中文",
    ],
)
def test_subjects_round_trip(home: Settings, subject: str) -> None:
    raw = build_message(home, to=["x@y.cn"], subject=subject, text="t", message_id="<a@b.cn>")
    expected = re.sub(" +", " ", subject)
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == expected
    assert read_message(raw, max_attachment_bytes=1).subject == expected


def test_plain_message_without_auto_submitted(home: Settings) -> None:
    raw = build_message(
        home,
        to=["x@y.cn"],
        subject="Plain\r\nBcc: evil@x.cn",
        text="hi",
        message_id="<a@b.cn>",
        auto_submitted=False,
    )
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "text/plain"
    assert msg["Auto-Submitted"] is None and msg["X-Auto-Response-Suppress"] is None
    assert msg["Subject"] == "Plain Bcc: evil@x.cn" and msg["Bcc"] is None  # no header injection


def test_bad_message_id_is_refused(home: Settings) -> None:
    with pytest.raises(TemplateError, match="Message-ID"):
        build_message(home, to=["x@y.cn"], subject="s", text="t", message_id="no-brackets@x")


# -- templates ------------------------------------------------------------------------------------------

BASE = {
    "office": "基财股",
    "period_label": "2022年1—6月",
    "due_date": "2022年6月20日",
    "due_day": "2022年6月20日（星期一）",
    "plan_title": "台山市教育系统2022年重点工作任务一览表",
    "leader": "李明",
    "token": TOKEN,
}
FINDINGS = [
    {"level": "error", "message": "“进展情况”栏为空，请填写截至本月的进展。", "seq": 3, "name": "校园安全", "column": "进展情况"},
    {"level": "warning", "message": "填报日期晚于今天", "seq": None, "name": "", "column": ""},
]  # fmt: skip
CONTEXTS: dict[str, dict[str, object]] = {
    "form": {**BASE, "tasks": [3, 7, 12], "remind_on": "2022年6月15日"},
    "reminder": {**BASE, "state": "returned", "today": "2022年6月15日"},
    "escalation": {**BASE, "state": "", "missing_address": False, "today": "2022年6月21日"},
    "receipt": {**BASE, "revision": 2, "late": True, "filled_by": "王五", "findings": FINDINGS, "errors": [],
                "warnings": FINDINGS[1:]},
    "error_reply": {**BASE, "revision": 1, "late": False, "filled_by": "", "findings": FINDINGS,
                    "errors": FINDINGS[:1], "warnings": FINDINGS[1:]},
    "approval_request": {**BASE, "revision": 1, "late": False, "filled_by": "王五", "findings": [], "errors": [],
                         "warnings": [], "leader_title": "", "no_leader": False,
                         "rows": [{"seq": 3, "name": "校园安全<script>", "progress": "完成A\n完成B",
                                   "problems": "无", "remark": ""}]},
    "approval_reminder": {**BASE, "revision": 1, "received": "2022年6月12日"},
    "returned": {**BASE, "revision": 1, "newer_revision": 0, "comment": "第3项请补充数据\n第5项写清时间"},
    "approved_notice": {**BASE, "revision": 1, "newer_revision": 0, "comment": ""},
    "not_understood": {**BASE, "revision": 1, "comment": "", "reply_text": "<b>好的</b>收到"},
    "quarantine_notice": {"from_addr": "x@qq.com", "from_name": "张三", "subject": "关于报表", "reason": "发件人未登记",
                          "received": "2022-06-12 10:00", "archive_path": "inbox/archive/ab.eml", "token": ""},
    "oversize_reply": {"subject": "回复：请报送", "size_mb": "131.2", "limit_mb": "50.0", "attachment_mb": "20.0",
                       "received": "2022-06-12 10:00", "token": TOKEN},
    "signoff_request": {**BASE, "office": "", "leader": "", "signer": "赵六", "version": 1,
                        "summary": "共20项，按时15项", "pdf_error": ""},
    "signoff_returned": {"period_label": "2022年1—6月", "signer": "赵六", "comment": "请精简", "version": 1,
                         "plan_title": "x", "draft_name": "通报.docx", "token": TOKEN},
    "signoff_stale": {"period_label": "2022年1—6月", "signer": "赵六", "replied_version": 1, "version": 2,
                      "reply_text": "同意", "plan_title": "x", "token": TOKEN},
    "published": {**BASE, "office": "", "leader": "", "version": 1, "has_pdf": True},
    "gate_held": {"reason": "新导入的计划尚未确认", "since": "2022-06-25 09:00", "token": "",
                  "waiting": ["进展情况表：基财股 <jcg@x.cn>，2022-06，原因：6月10日 发送日"]},
}  # fmt: skip


def test_the_shipped_templates_are_all_there_and_documented(home: Settings) -> None:
    assert set(template_names(home)) == REQUIRED_TEMPLATES == set(CONTEXTS)
    folder = default_templates_dir() / MAIL_TEMPLATES
    for name in REQUIRED_TEMPLATES:
        for ext in ("txt", "html"):
            assert (folder / f"{name}.{ext}").read_text(encoding="utf-8").startswith("{#"), f"{name}.{ext}"


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_every_template_renders(home: Settings, name: str) -> None:
    subject, text, html = render_mail(home, name, **CONTEXTS[name])
    assert subject and "\n" not in subject and "{{" not in subject + text + html
    if CONTEXTS[name].get("token"):
        assert f"[{TOKEN}]" in subject
    assert text.endswith("）\n") and "局办公室" in text  # the signature closes every text body
    assert html.lstrip().startswith("<!DOCTYPE html>") and "</html>" in html
    assert "\n\n\n" not in text


@pytest.mark.parametrize("name", ["approved_notice", "returned"])
def test_a_decision_on_a_replaced_revision_says_the_newer_one_is_reviewed_separately(
    home: Settings, name: str
) -> None:
    """The leader decided revision 1 after the office had sent revision 2: the office is told so."""
    _, text, html = render_mail(home, name, **{**CONTEXTS[name], "newer_revision": 2})
    for body in (text, html):
        assert "第1版" in body and "此后报送的第2版已另行送李明同志审核" in body
    _, text, _ = render_mail(home, name, **CONTEXTS[name])
    assert "另行送" not in text


def test_user_text_is_escaped_in_html_and_kept_in_text(home: Settings) -> None:
    _, text, html = render_mail(home, "approval_request", **CONTEXTS["approval_request"])
    assert "校园安全&lt;script&gt;" in html and "<script>" not in html
    assert "完成A<br>\n完成B" in html
    assert "校园安全<script>" in text
    _, _, html = render_mail(home, "not_understood", **CONTEXTS["not_understood"])
    assert "&lt;b&gt;好的&lt;/b&gt;收到" in html


def test_findings_name_row_and_column(home: Settings) -> None:
    _, text, _ = render_mail(home, "error_reply", **CONTEXTS["error_reply"])
    assert "1. 第3项“校园安全”“进展情况”栏：“进展情况”栏为空" in text
    assert "· 填报日期晚于今天" in text


def test_escalation_variants(home: Settings) -> None:
    subject, text, _ = render_mail(home, "escalation", **{**BASE, "missing_address": True})
    assert "请补充邮箱" in subject and text.startswith("局办公室：")
    subject, text, _ = render_mail(home, "escalation", **{**BASE, "office": "", "leader": "", "missing_signer": True,
                                                         "token": ""})  # fmt: skip
    assert subject.startswith("请补充签发人") and "[" not in subject
    subject, text, _ = render_mail(home, "escalation", **{**BASE, "leader": ""})
    assert subject.startswith(f"[{TOKEN}] 逾期未报") and text.startswith("局办公室：")


def test_a_missing_variable_names_the_template(home: Settings) -> None:
    ctx = dict(CONTEXTS["form"])
    del ctx["plan_title"]
    with pytest.raises(TemplateError, match=r"mail/form\.txt.*plan_title"):
        render_mail(home, "form", **ctx)
    with pytest.raises(TemplateError, match="missing"):
        render_mail(home, "no_such_template")


def test_the_bureau_can_replace_a_template(home: Settings) -> None:
    own = home.templates / MAIL_TEMPLATES
    own.mkdir(parents=True, exist_ok=True)
    (own / "form.txt").write_text(
        "Subject: 【{{ office }}】{{ token }}\n各位好：{{ period_label }}\n", encoding="utf-8"
    )
    subject, text, html = render_mail(home, "form", **CONTEXTS["form"])
    assert subject == f"【基财股】{TOKEN}" and text == "各位好：2022年1—6月\n"
    assert "基财股" in html  # the shipped .html is still used
    (own / "form.txt").write_text("没有主题行\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="Subject"):
        render_mail(home, "form", **CONTEXTS["form"])
    (own / "form.txt").write_text("Subject: {{ office }\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"mail/form\.txt 第 1 行有语法错误"):
        render_mail(home, "form", **CONTEXTS["form"])


def test_rendered_mail_goes_through_build_message(home: Settings) -> None:
    subject, text, html = render_mail(home, "form", **CONTEXTS["form"])
    raw = build_message(home, to=["jcg@jyj.example.gov.cn"], subject=subject, text=text, html=html,
                        attachments=[(DOCX_NAME, b"x")], message_id=new_message_id(home))  # fmt: skip
    m = read_message(raw, max_attachment_bytes=100)
    assert m.subject == subject and m.text == text.rstrip("\n") and "<table" in m.html


def test_templates_folder_is_in_the_repository() -> None:
    assert (Path(__file__).resolve().parent.parent / "templates" / "mail" / "form.txt").exists()


def test_the_environment_is_kept_until_the_bureau_changes_a_template(home: Settings) -> None:
    """Compiled templates are reused between mails, yet an edit, a new template shadowing the shipped one
    and a deleted one all show in the next mail (the bureau edits while the service runs)."""
    from mailer.render.compose import mail_environment

    own = home.templates / MAIL_TEMPLATES
    env = mail_environment(home)
    render_mail(home, "form", **CONTEXTS["form"])
    assert mail_environment(home) is env  # nothing changed: the same environment, its templates compiled
    assert env.cache is not None and any(key[1] == "form.txt" for key in env.cache)  # type: ignore[index]
    shipped_subject = render_mail(home, "form", **CONTEXTS["form"])[0]
    # Edited in place, twice within the same clock tick: the size tells them apart.
    (own / "form.txt").write_text("Subject: 第一稿 {{ office }}\n正文\n", encoding="utf-8")
    assert render_mail(home, "form", **CONTEXTS["form"])[0] == "第一稿 基财股"
    (own / "form.txt").write_text("Subject: 第二稿改 {{ office }}\n正文\n", encoding="utf-8")
    assert render_mail(home, "form", **CONTEXTS["form"])[0] == "第二稿改 基财股"
    # Deleted: the shipped one again; then the bureau's own added back: it shadows the shipped one.
    (own / "form.txt").unlink()
    assert render_mail(home, "form", **CONTEXTS["form"])[0] == shipped_subject
    (own / "form.txt").write_text("Subject: 本局版 {{ office }}\n正文\n", encoding="utf-8")
    assert render_mail(home, "form", **CONTEXTS["form"])[0] == "本局版 基财股"
