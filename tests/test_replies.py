"""Reading 同意 / 退回 from reply bodies as real mail clients quote and sign them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.read import replies
from mailer.read.replies import Decision, classify_decision, newest_part

SAMPLES = Path(__file__).parent / "samples" / "replies"
HEADER = re.compile(r"# expect: (approve|return|unknown) \| comment: ?(.*)")
# Words of our own request mail, which every sample quotes: none may survive newest_part.
QUOTED_MARKERS = ("请审核后直接回复", "请审阅", "回复“同意”", "督办系统", "原始邮件", "Original", "写道", "wrote")


def _sample(path: Path) -> tuple[str, str, str]:
    """(expected kind, expected comment, body) of a sample file; "\\n" in the comment is a line break."""
    header, _, body = path.read_text(encoding="utf-8").partition("\n")
    m = HEADER.fullmatch(header)
    assert m, f"{path.name}: first line must be '# expect: approve|return|unknown | comment: …'"
    return m.group(1), m.group(2).replace("\\n", "\n"), body


SAMPLE_FILES = sorted(SAMPLES.glob("*.txt"))


def test_corpus_is_large_enough_and_covers_every_kind() -> None:
    kinds = [_sample(p)[0] for p in SAMPLE_FILES]
    assert len(kinds) >= 20
    assert {k: kinds.count(k) >= 5 for k in ("approve", "return", "unknown")} == {
        "approve": True, "return": True, "unknown": True}


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample(path: Path) -> None:
    """
    GIVEN a reply body as a mail client wrote it (quote header, quoted request, signature)
    WHEN  its decision is classified
    THEN  kind and comment are those in the file's header, and nothing quoted is left in the newest part
    """
    kind, comment, body = _sample(path)
    decision = classify_decision(body)
    assert (decision.kind, decision.comment) == (kind, comment)
    assert bool(decision.matched) == (kind != "unknown")
    newest = newest_part(body)
    assert [m for m in QUOTED_MARKERS if m in newest] == []
    assert newest_part(newest) == newest  # idempotent: decisions.py applies it before classify does


# --- newest_part -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("同意\n-----原始邮件-----\n发件人: a\n同意", "同意"),
        ("同意\n-----Original Message-----\nFrom: a", "同意"),
        ("退回\n------------------ 原始邮件 ------------------\n发件人: a", "退回"),
        ("退回\n------------------&nbsp;Original&nbsp;------------------\nFrom: a", "退回"),
        ("同意\n________________________________\n发件人: a\n发送时间: b", "同意"),
        ("同意\n发件人: 督办 <a@b.cn>\n发送时间: 2022年6月15日 10:20\n收件人: c\n主题: d\n退回", "同意"),
        ('同意\n在 2022-06-15 10:20:33，"张三" <a@b.cn> 写道：\n退回', "同意"),
        ("同意\n在2022年6月15日 星期三 10:20，张三写道:\n退回", "同意"),
        ("同意\nOn Wed, Jun 15, 2022 at 10:20 AM X <a@b.cn> wrote:\n> 退回", "同意"),
        ("同意\n在 2022年6月15日，10:20，张三 <a@b.cn>\n写道：\n退回", "同意"),
        ("同意\n张三 <a@b.cn> 于2022年6月15日周三 10:20写道：\n> 退回", "同意"),
    ],
    ids=["outlook-zh", "outlook-en", "foxmail-zh", "foxmail-nbsp", "outlook-rule", "outlook-block",
         "coremail", "qq", "gmail-en", "apple-wrapped", "gmail-zh"],
)
def test_newest_part_cuts_at_each_client_quote_header(body: str, expected: str) -> None:
    assert newest_part(body) == expected


@pytest.mark.parametrize(
    "signature",
    ["-- \n张三\n电话：123", "--\n张三", "——————\n张三", "发自我的iPhone", "Sent from my iPhone",
     "发自我的华为手机", "从 Windows 版邮件发送", "发自 WPS 邮箱", "发自网易邮箱大师", "Get Outlook for iOS"],
)
def test_newest_part_drops_signatures(signature: str) -> None:
    assert newest_part(f"同意。\n\n{signature}\n") == "同意。"


def test_newest_part_keeps_closing_and_line_breaks_and_normalises_spaces() -> None:
    body = "\u3000\u3000第2项\u00a0\u00a0请修改。\r\n第3项\t请补充。\r\n\r\n\r\n此致\r\n敬礼\r\n张三\r\n"
    assert newest_part(body) == "第2项 请修改。\n第3项 请补充。\n\n此致\n敬礼\n张三"


def test_newest_part_removes_inline_quoted_lines() -> None:
    assert newest_part("> 请审核\n> 回复同意或退回\n同意\n>> 旧的") == "同意"


def test_newest_part_takes_a_reply_written_below_the_quote() -> None:
    body = "On Wed, Jun 15, 2022 at 10:20 AM X <a@b.cn> wrote:\n> 请审核，回复同意或退回\n\n退回：第2项太简略"
    assert newest_part(body) == "退回：第2项太简略"


def test_newest_part_does_not_take_the_unquoted_original_below_an_outlook_header() -> None:
    body = "\n\n-----原始邮件-----\n发件人: 督办\n发送时间: 2022年6月15日\n\n请回复同意或退回"
    assert newest_part(body) == ""


def test_newest_part_does_not_cut_at_the_authors_own_from_line_or_writes() -> None:
    body = "From: 这是第3项的原文\n他在信里写道：\n请修改"
    assert newest_part(body) == body


def test_newest_part_of_empty_and_none_like() -> None:
    assert newest_part("") == ""
    assert newest_part(" \n\u3000\n") == ""


# --- classify_decision: the tricky cases ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "comment", "matched"),
    [
        ("退回：第2项进展情况过于简略，请补充具体数据。", "return", "第2项进展情况过于简略，请补充具体数据。", "退回"),
        ("不同意", "return", "", "不同意"),
        ("不同意。", "return", "", "不同意"),
        ("同意，但第3项请修改后再报", "return", "第3项请修改后再报", "请修改"),
        ("同意，第5项数据有误。", "return", "第5项数据有误。", "有误"),
        ("原则同意", "approve", "", "原则同意"),
        ("原则上同意。", "approve", "", "原则上同意"),
        ("拟同意", "approve", "", "拟同意"),
        ("同意。另：下月请提前报送", "approve", "下月请提前报送", "同意"),
        ("同意。下月请补充照片材料。", "approve", "下月请补充照片材料。", "同意"),
        ("同意，另行报送纸质版。", "approve", "另行报送纸质版。", "同意"),
        ("同意，无需修改。", "approve", "无需修改。", "同意"),
        ("经审核，同意报送。", "approve", "", "同意报送"),
        ("好的同意", "approve", "", "好的同意"),
        ("好的，可以。", "approve", "", "可以"),
        ("OK", "approve", "", "OK"),
        ("OK，谢谢！", "approve", "", "OK"),
        ("可以的", "approve", "", "可以"),
        ("同意了。", "approve", "", "同意"),
        ("OK，但第3项请补充照片后再报", "return", "第3项请补充照片后再报", "请补充"),
        ("是否退回？", "unknown", "是否退回？", ""),
        ("ok", "approve", "", "ok"),
        ("Ok.", "approve", "", "Ok"),
        ("审定", "approve", "", "审定"),
        ("没有不同意见。", "approve", "", "没有不同意见"),
        ("有不同意见：第3项目标偏低。", "return", "第3项目标偏低。", "有不同意见"),
        ("暂不同意", "return", "", "暂不同意"),
        ("不通过", "return", "", "不通过"),
        ("审核不通过，请重新填报。", "return", "请重新填报。", "审核不通过"),
        ("第3项数据有误，请修改后再报，退回。", "return", "第3项数据有误，请修改后再报。", "有误"),
        ("不可以", "return", "", "不可以"),
        ("", "unknown", "", ""),
        ("收到", "unknown", "收到", ""),
        ("好的", "unknown", "好的", ""),
        ("已收到，稍后审", "unknown", "已收到，稍后审", ""),
        ("已阅", "unknown", "已阅", ""),
        ("请审定", "unknown", "请审定", ""),
        ("可以吗？", "unknown", "可以吗？", ""),
        ("同意吗", "unknown", "同意吗", ""),
        ("OK吗？", "unknown", "OK吗？", ""),
        ("第3项是否需要修改？", "unknown", "第3项是否需要修改？", ""),
        ("第3项可以再具体些", "unknown", "第3项可以再具体些", ""),
        ("已通过邮件报送", "unknown", "已通过邮件报送", ""),
        ("如无意见请回复同意", "approve", "如无意见请回复同意", "同意"),
        ("如有不同意见请告知", "unknown", "如有不同意见请告知", ""),
        ("Outlook 打不开附件", "unknown", "Outlook 打不开附件", ""),
    ],
)
def test_classify_tricky(text: str, kind: str, comment: str, matched: str) -> None:
    assert classify_decision(text) == Decision(kind, comment, matched)  # type: ignore[arg-type]


def test_classify_drops_greeting_and_closing_from_the_comment() -> None:
    text = "李局长：\n退回。第2项请补充5月数据。\n\n此致\n敬礼\n\n王强\n县教育局基础教育股\n电话：0736-1234567\n2022年6月15日"
    assert classify_decision(text) == Decision("return", "第2项请补充5月数据。", "退回")


def test_classify_keeps_the_authors_line_breaks_in_the_comment() -> None:
    text = "退回：\n1. 第1项请写明完成比例；\n2. 第5项时间节点与通知不一致。"
    assert classify_decision(text).comment == "1. 第1项请写明完成比例；\n2. 第5项时间节点与通知不一致。"


def test_classify_reads_only_the_newest_part() -> None:
    text = "收到\n\n-----原始邮件-----\n发件人: 督办\n发送时间: 2022年6月15日\n\n请回复同意或退回"
    assert classify_decision(text) == Decision("unknown", "收到", "")


def test_word_lists_do_not_overlap() -> None:
    """A phrase in two lists would be decided by dict order, silently."""
    lists = {
        "RETURN_VERDICTS": replies.RETURN_VERDICTS, "RETURN_REQUESTS": replies.RETURN_REQUESTS,
        "APPROVE_WORDS": replies.APPROVE_WORDS, "WEAK_APPROVE_WORDS": replies.WEAK_APPROVE_WORDS,
        "NEUTRAL_WORDS": replies.NEUTRAL_WORDS,
    }
    seen: dict[str, str] = {}
    clashes = []
    for name, words in lists.items():
        for w in words:
            if w.lower() in seen:
                clashes.append((w, seen[w.lower()], name))
            seen[w.lower()] = name
    assert clashes == []
