"""Reading a decision from a reply: the newest, unquoted part of a mail body, and 同意 / 退回 in it.

Leaders and the signer answer from Outlook, Foxmail, the QQ/163/Coremail web mail, Gmail, an iPhone,
WPS or Windows Mail. Each client quotes the message it answers in its own way, and that quote is our own
request mail, which itself says "回复同意或退回". So the quote must go before any word is read:
``newest_part`` keeps only what the author wrote, ``classify_decision`` reads the verdict from it.

The rules live in the word lists and patterns below, not in branches, so a new client's quote header or a
new way of saying 同意 is one line of data plus one sample in ``tests/samples/replies/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mailer.common.text import clean

__all__ = ["Decision", "DecisionKind", "classify_decision", "newest_part"]

DecisionKind = Literal["approve", "return", "unknown"]

# --------------------------------------------------------------------------------------------------
# Where the quoted part starts
# --------------------------------------------------------------------------------------------------

# A line that on its own opens the quoted message.
QUOTE_SEPARATORS: tuple[str, ...] = (
    # Outlook "-----原始邮件-----" / "-----Original Message-----", Foxmail "------------------ 原始邮件
    # ------------------" and "------------------&nbsp;Original&nbsp;------------------" (&nbsp; is made a
    # space before matching), WPS / Huawei "-------- 原始邮件 --------", 网易邮箱大师 "---- 回复的原邮件 ----",
    # Gmail "---------- Forwarded message ---------".
    (
        r"[-—─]{2,}\s*(?:原始邮件|原始郵件|原邮件|回复的原邮件|转发邮件|转发的邮件|邮件原文|Original Message"
        r"|Original|Forwarded message|Reply message)\s*[-—─]{2,}"
    ),
    # Outlook (HTML mail as text) draws a rule of underscores above the 发件人/From block.
    r"_{8,}",
)

# The first line of a header block ("发件人: …" then "发送时间: …" …), as Outlook writes it without a rule
# above, or 网易邮箱大师 as a table ("| 发件人 | 张三 |").
HEADER_FIRST = r"[|*\s]*(?:发件人|寄件人|寄件者|From)\s*[|*]*\s*[:：|]"
# A header block counts only when one of these follows within HEADER_WINDOW lines: a single "From:" line
# is too common in a person's own text to cut at.
HEADER_NEXT = (
    r"[|*\s]*(?:发送时间|发送日期|时间|日期|收件人|抄送|主题|寄件日期|傳送時間|傳送日期|收件者|副本|主旨"
    r"|Sent|Date|To|Cc|Subject)\s*[|*]*\s*[:：|]"
)  # Outlook zh-TW (寄件者/寄件日期/收件者/主旨) too: Hong Kong and Taiwan builds are common on office PCs
HEADER_WINDOW = 4

# An attribution line ("… 写道：" / "… wrote:"), possibly wrapped over up to ATTRIBUTION_LINES lines:
#   Coremail/163: 在 2022-06-15 10:20:33，"张三" <a@b> 写道：
#   QQ:           在2022年6月15日 星期三 10:20，张三写道:
#   Apple:        在 2022年6月15日，10:20，张三 <a@b> 写道：
#   Gmail (zh):   张三 <a@b> 于2022年6月15日周三 10:20写道：
#   Gmail (en):   On Wed, Jun 15, 2022 at 10:20 AM 张三 <a@b> wrote:
# It must hold a year or a time, so "他在信里写道：" in the author's own text is not a quote.
ATTRIBUTIONS: tuple[str, ...] = (
    r".{0,200}(?:\d{4}|\d{1,2}:\d{2}).{0,200}(?:写道|寫道)\s*[:：]?",
    r".{0,200}(?:\d{4}|\d{1,2}:\d{2}).{0,200}\bwrote\s*:",
)
ATTRIBUTION_LINES = 3
# Only a line that looks like the start of an attribution may be joined with the next ones.
ATTRIBUTION_START = r"(?:在|于|On\s).*|.*[@<].*"

QUOTED_LINE = r">.*"

# --------------------------------------------------------------------------------------------------
# Signatures: everything from the first of these lines on is dropped
# --------------------------------------------------------------------------------------------------

SIGNATURE_STARTS: tuple[str, ...] = (
    r"--",  # "-- " (trailing space already stripped): the standard delimiter, and people forget the space
    r"[-_—─=]{3,}",  # "——————" and other rules
    (
        r"(?:发自|来自|寄自)\s*(?:我的)?\s*.{0,16}?(?:iPhone|iPad|Android|Mac|手机|平板|邮箱|邮箱大师|客户端|设备"
        r"|企业微信|微信|钉钉|华为|荣耀|小米|OPPO|vivo).{0,12}"
    ),
    r"(?:Sent|Envoyé) from .{0,40}",
    r"(?:Get|获取|取得)\s*Outlook for .{0,20}",  # Outlook mobile, in English and Chinese
    r"从\s*.{0,20}?\s*(?:版)?\s*邮件\s*发送",  # Windows Mail: "从 Windows 版邮件发送"
)

# --------------------------------------------------------------------------------------------------
# Decision words
# --------------------------------------------------------------------------------------------------

# Any of these decides "return" — a modification request wins over a bare 同意 in the same reply
# ("同意，但第3项请修改后再报" is a return). Verdicts first, then requests to revise (not mere critique,
# so that an approval with a remark stays an approval). Verdicts are dropped from the comment, requests
# are part of it.
RETURN_VERDICTS: tuple[str, ...] = (
    "不同意",
    "不予同意",
    "暂不同意",
    "未同意",
    "有不同意见",
    "不通过",
    "未通过",
    "不予通过",
    "审核不通过",
    "退回",
    "予以退回",
    "打回",
    "驳回",
    "不可以",
    "不行",
    "不能上报",
    "不宜上报",
    "暂不上报",
    "暂缓上报",
    "暂不报送",
    "暂不印发",
)
RETURN_REQUESTS: tuple[str, ...] = (
    "请修改",
    "需修改",
    "需要修改",
    "须修改",
    "应修改",
    "要修改",
    "再修改",
    "修改一下",
    "修改后",
    "修改后再报",
    "进行修改",
    "予以修改",
    "作修改",
    "做修改",
    "修改完善",
    "请完善",
    "需完善",
    "需要完善",
    "完善后",
    "请补充",
    "需补充",
    "需要补充",
    "须补充",
    "应补充",
    "予以补充",
    "补充后",
    "补充完善",
    "再补充",
    "进一步补充",
    "请调整",
    "需调整",
    "需要调整",
    "请更正",
    "需更正",
    "予以更正",
    "请核实",
    "核实后",
    "重新填报",
    "重新报送",
    "重新上报",
    "重新提交",
    "重报",
    "后再报",
    "后再上报",
    "后重新报",
    "有误",
)

# Any of these decides "approve" when no return word is present.
APPROVE_WORDS: tuple[str, ...] = (
    "同意",
    "拟同意",
    "原则同意",
    "原则上同意",
    "基本同意",
    "已阅同意",
    "阅同意",
    "好的同意",
    "同意报送",
    "同意上报",
    "同意发布",
    "同意印发",
    "同意签发",
    "已审定",
    "已审",
    "已审核",
    "已审阅",
    "审核通过",
    "审阅通过",
    "可以报送",
    "可以上报",
    "可以印发",
    "可以签发",
    "无异议",
    "没有异议",
    "无意见",
    "没有意见",
    "没有不同意见",
    "无不同意见",
    "如拟",
    "照发",
    "可发",
)
# These approve only as a clause of their own ("可以。", "OK", "审定", "通过，上报"): inside a sentence
# they are ordinary words ("第3项可以再具体些", "通过率95%", "按审定的计划") and a wrong approval is the
# costliest mistake this module can make.
WEAK_APPROVE_WORDS: tuple[str, ...] = (
    "可以",
    "通过",
    "审定",
    "签发",
    "批准",
    "准予",
    "ok",
    "okay",
    "没问题",
    "没有问题",
    "无问题",
)

# Phrases that contain a decision word but decide nothing. Matching takes the longest phrase at each
# position, so these shield the words inside them: "无需修改" is not 需修改, "请审定" is not 审定,
# "通过邮件" is not 通过, "如无意见" is not 无意见.
NEUTRAL_WORDS: tuple[str, ...] = (
    "无需修改",
    "无须修改",
    "不需修改",
    "不需要修改",
    "不用修改",
    "不必修改",
    "无需补充",
    "不需补充",
    "无需调整",
    "如需修改",
    "若需修改",
    "如需补充",
    "如有修改",
    "是否需要修改",
    "是否修改",
    "未审",
    "尚未审",
    "未审定",
    "待审",
    "待审定",
    "稍后审",
    "送审",
    "审核中",
    "审定中",
    "请审定",
    "请审核",
    "请审阅",
    "请审批",
    "报请审定",
    "提请审定",
    "通过邮件",
    "通过电子邮件",
    "通过OA",
    "通过系统",
    "通过微信",
    "通过电话",
    "通过短信",
    "如同意",
    "若同意",
    "如无异议",
    "如无意见",
    "若无意见",
    "如没问题",
    "如可以",
    "如有不同意见",
    "如有误",
    "若有误",
    "是否同意",
    "是否可以",
    "是否通过",
    "能否",
    "可否",
    "同意吗",
    "可以吗",
    "ok吗",
    "行吗",
    "请签发",
    "请批准",
    "报批",
)

# Words with no meaning of their own beside a verdict: a clause made only of these and decision words
# ("好的，同意上报。", "经审核，同意。", "退回：") is dropped from the comment.
FILLER_WORDS: tuple[str, ...] = (
    "好的",
    "好",
    "嗯",
    "收到",
    "已收到",
    "已阅",
    "阅",
    "我",
    "本人",
    "经审核",
    "经审阅",
    "经审查",
    "经研究",
    "意见",
    "审核意见",
    "审阅意见",
    "批示",
    "上报",
    "报送",
    "印发",
    "发布",
    "签发",
    "呈报",
    "谢谢",
    "辛苦了",
    "辛苦",
    "的",
    "了",
)
# Joining words dropped where the comment starts: "同意，但第3项…" → "第3项…". ("另" only as a clause of its
# own, "同意。另：下月…" → "下月…", so that "另行报送" keeps its first character.)
CONNECTORS: tuple[str, ...] = ("但是", "但", "不过", "另外")
LONE_CONNECTORS: tuple[str, ...] = ("另",)

# A clause starting with one of these gives advice for next time; a 请补充 in it does not return this
# report ("同意。下月请补充照片。" is an approval).
ADVISORY_STARTS: tuple[str, ...] = ("下月", "下个月", "下次", "下期", "下一期", "今后", "以后", "后续")

# A sentence ending with a question mark asks; its words decide nothing ("可以吗？", "是否有误？").
QUESTION_ENDS = "？?"
SENTENCE_ENDS = "。！!？?；;\n"
CLAUSE_DELIMITERS = "，,、：:" + SENTENCE_ENDS

# The greeting at the top ("李局长：", "王主任，您好！") is not part of the comment.
SALUTATION = r".{0,10}(?:局长|主任|股长|科长|校长|书记|老师|同志|领导|同事|您好|你好)[^。\d]{0,6}[：:，,！!]?"
# A unit or a title in a signature ("台山市教育局", "基础教育与财务股", "副局长").
UNIT_OR_TITLE = (
    r"[\u4e00-\u9fff（）()]{1,30}"
    r"(?:教育局|教体局|办公室|股|科|中心|学校|中学|小学|幼儿园|局长|主任|股长|科长|校长|书记)"
)
# Closing lines at the bottom, below the body: not part of the comment.
CLOSING_LINES: tuple[str, ...] = (
    r"(?:此致|敬礼|此致敬礼|此致，敬礼|谢谢|感谢|辛苦了|辛苦)[！!。]?",
    r"\d{4}\s*[年./-]\s*\d{1,2}\s*[月./-]\s*\d{1,2}\s*日?",  # 2022年6月15日 / 2022-06-15
    r"\d{1,2}月\d{1,2}日",
    r"(?:电话|手机|联系电话|办公电话|座机|传真|邮箱|地址|Tel|Mobile|Phone|Fax|E-?mail)\s*[:：].*",
    UNIT_OR_TITLE,
    r"[\u4e00-\u9fff·]{2,6}",  # a bare name or name+title ("张华", "张局长"); never a line with a decision word
)


@dataclass(frozen=True)
class Decision:
    """What a reply decides.

    :ivar kind: ``"approve"``, ``"return"`` or ``"unknown"``
    :ivar comment: the author's words besides the verdict (for a return: the reasons); for ``unknown``
        the whole newest text, so a person can read it; greeting and closing lines left out
    :ivar matched: the decision word as written (``"退回"``, ``"同意"``, ``"OK"``); ``""`` for unknown
    """

    kind: DecisionKind
    comment: str
    matched: str


# --------------------------------------------------------------------------------------------------
# newest_part
# --------------------------------------------------------------------------------------------------


def _full(patterns: Iterable[str], flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), flags)


_SEPARATOR_RE = _full(QUOTE_SEPARATORS)
_HEADER_FIRST_RE = re.compile(HEADER_FIRST, re.IGNORECASE)
_HEADER_NEXT_RE = re.compile(HEADER_NEXT, re.IGNORECASE)
_ATTRIBUTION_RE = _full(ATTRIBUTIONS)
_ATTRIBUTION_START_RE = re.compile(ATTRIBUTION_START)
_QUOTED_RE = re.compile(QUOTED_LINE)
_SIGNATURE_RE = _full(SIGNATURE_STARTS)

# Spaces people and HTML-to-text converters produce: no-break, full-width (also used for paragraph
# indents), en/em/thin spaces, tabs. Zero-width characters are dropped outright.
_SPACES_RE = re.compile(r"(?:&nbsp;|[ \t\u00a0\u3000\u2002-\u200a\u202f\u205f])+", re.IGNORECASE)
_ZERO_WIDTH_RE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def _normalised_lines(text: str) -> list[str]:
    text = _ZERO_WIDTH_RE.sub("", clean(text))
    return [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]


def _quote_start(lines: list[str]) -> tuple[int, bool] | None:
    """Index of the first line of the quoted part, and whether it is an attribution line."""
    for i, line in enumerate(lines):
        if not line or _QUOTED_RE.fullmatch(line):
            continue
        if _SEPARATOR_RE.fullmatch(line):
            return i, False
        if _HEADER_FIRST_RE.match(line) and any(
            _HEADER_NEXT_RE.match(nxt) for nxt in lines[i + 1 : i + 1 + HEADER_WINDOW]
        ):
            return i, False
        if _ATTRIBUTION_RE.fullmatch(line):
            return i, True
        if _ATTRIBUTION_START_RE.fullmatch(line) and not line.endswith(("。", "！", "？")):
            joined = line
            for nxt in lines[i + 1 : i + ATTRIBUTION_LINES]:
                if not nxt:
                    break
                joined = f"{joined} {nxt}"
                if _ATTRIBUTION_RE.fullmatch(joined):
                    return i, True
    return None


def _tidy(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):  # at most one blank line in a row
            out.append(line)
    return "\n".join(out).strip("\n")


def _newest_lines(lines: list[str]) -> list[str]:
    start = _quote_start(lines)
    head = lines if start is None else lines[: start[0]]
    head = [line for line in head if not _QUOTED_RE.fullmatch(line)]
    for i, line in enumerate(head):
        if _SIGNATURE_RE.fullmatch(line):
            head = head[:i]
            break
    if start is not None and start[1] and not any(head):
        # Nothing above "… wrote:": perhaps a bottom-posted reply under "> " quoted lines. Only when the
        # quote really is "> "-prefixed — below an Outlook header block the old message is unmarked.
        rest = lines[start[0] + 1 :]
        first = next((line for line in rest if line), "")
        if _QUOTED_RE.fullmatch(first):
            return _newest_lines(rest)
    return head


def newest_part(text: str) -> str:
    """Only what the author of a reply wrote: the quoted message and the signature cut off.

    Rules, in order (the patterns are the module's ``QUOTE_SEPARATORS``, ``HEADER_*``, ``ATTRIBUTIONS``,
    ``SIGNATURE_STARTS``):

    1. Normalise: NFC, control and zero-width characters removed, CRLF → LF, every run of spaces
       (ASCII, ``\\u00a0``, ``&nbsp;``, full-width ``\\u3000``, tabs) → one space, lines stripped. The
       author's line breaks stay; runs of blank lines become one.
    2. Cut at the first quote header: a separator line (Outlook "-----原始邮件-----" /
       "-----Original Message-----" / "________________________________", Foxmail
       "------------------ 原始邮件 ------------------" / "------------------&nbsp;Original&nbsp;
       ------------------", WPS, 网易邮箱大师 "---- 回复的原邮件 ----"); a header block ("发件人:" or "From:"
       followed within 4 lines by 发送时间/收件人/主题/Sent/To/Subject…); an attribution line ending in
       "写道：" or "wrote:" and holding a date (Coremail/163/QQ "在 … 写道：", Apple "在 2022年6月15日，10:20，
       张三 <a@b> 写道：", Gmail "… 于2022年6月15日周三 10:20写道：" / "On … wrote:"), also when wrapped
       over up to 3 lines.
    3. Lines starting with ">" are removed wherever they are. If nothing is left above a "… wrote:"
       line followed by ">" lines, the reply was written below the quote, and that text is taken.
    4. Cut at the first signature line: "-- " / "--", a rule ("——————"), "发自我的iPhone",
       "发自我的华为手机", "Sent from my iPhone", "发自 WPS 邮箱", "从 Windows 版邮件发送"…
       A closing ("此致" / "敬礼" and the name under it) is the author's and is kept.

    Applying it twice gives the same text.

    :param text: the plain-text body of a reply
    :return: the newest part, possibly ``""``
    """
    return _tidy(_newest_lines(_normalised_lines(text or "")))


# --------------------------------------------------------------------------------------------------
# classify_decision
# --------------------------------------------------------------------------------------------------


def _word_pattern(word: str) -> str:
    # "ok" must not match inside "book" or "Outlook": ASCII ends get word boundaries, CJK ends cannot.
    p = re.escape(word)
    if word[:1].isascii() and word[:1].isalnum():
        p = r"(?<![A-Za-z0-9])" + p
    if word[-1:].isascii() and word[-1:].isalnum():
        p += r"(?![A-Za-z0-9])"
    return p


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so at each position the longest phrase wins ("不同意" over "同意").
    return re.compile(
        "|".join(_word_pattern(w) for w in sorted(set(words), key=len, reverse=True)), re.IGNORECASE
    )


_Category = Literal["return", "approve", "weak", "neutral"]
_CATEGORY: dict[str, _Category] = {
    **{w.lower(): "neutral" for w in NEUTRAL_WORDS},
    **{w.lower(): "weak" for w in WEAK_APPROVE_WORDS},
    **{w.lower(): "approve" for w in APPROVE_WORDS},
    **{w.lower(): "return" for w in (*RETURN_VERDICTS, *RETURN_REQUESTS)},
}
_DECISION_RE = _alternation(_CATEGORY)
_VERDICT_RE = _alternation((*APPROVE_WORDS, *WEAK_APPROVE_WORDS, *RETURN_VERDICTS))
_FILLER_RE = _alternation((*FILLER_WORDS, *CONNECTORS, *LONE_CONNECTORS))
_CONNECTOR_RE = re.compile("|".join(map(re.escape, CONNECTORS)))
_SALUTATION_RE = re.compile(SALUTATION)
_CLOSING_RE = _full(CLOSING_LINES)
_UNIT_OR_TITLE_RE = re.compile(UNIT_OR_TITLE)
_CLAUSE_SPLIT_RE = re.compile(f"([{re.escape(CLAUSE_DELIMITERS)}]+)")
_PUNCT_ONLY_RE = re.compile(r"[\W_]*")


def _is_closing(line: str) -> bool:
    if _DECISION_RE.search(line):
        return False
    if _CLOSING_RE.fullmatch(line):
        return True
    # A signature line of several parts ("台山市教育局 副局长", "陈志明 副局长", "基财股 周嘉伟"): closing
    # only when one part is a unit or a title, so that two short phrases of a comment are never taken
    # for a name.
    parts = line.split(" ")
    return (
        1 < len(parts) <= 4
        and all(_CLOSING_RE.fullmatch(p) for p in parts)
        and any(_UNIT_OR_TITLE_RE.fullmatch(p) for p in parts)
    )


def _body_lines(text: str) -> list[str]:
    """The newest part without the greeting line on top and the closing lines (此致, name, phone) below."""
    lines = newest_part(text).split("\n")
    while len(lines) > 1 and (
        not lines[0] or (_SALUTATION_RE.fullmatch(lines[0]) and not _DECISION_RE.search(lines[0]))
    ):
        lines.pop(0)
    while len(lines) > 1 and (not lines[-1] or _is_closing(lines[-1])):
        lines.pop()
    return lines


def _clauses(text: str) -> list[tuple[str, str]]:
    """``text`` as (clause, delimiter) pairs; joining them all gives ``text`` back."""
    parts = _CLAUSE_SPLIT_RE.split(text)
    return [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]


def _ends_with(delimiter: str, chars: str) -> bool:
    return any(c in chars for c in delimiter)


def _sentences(clauses: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = [[]]
    for clause in clauses:
        out[-1].append(clause)
        if _ends_with(clause[1], SENTENCE_ENDS):
            out.append([])
    return [s for s in out if s]


def _is_pure(clause: str) -> bool:
    """Whether a clause says nothing but the verdict ("好的，同意", "退回", "经审核")."""
    rest = _FILLER_RE.sub("", _VERDICT_RE.sub("", clause))
    return bool(_PUNCT_ONLY_RE.fullmatch(rest))


def _comment(body: str) -> str:
    sentences = [s for s in _sentences(_clauses(body)) if not all(_is_pure(c) for c, _ in s)]
    if not sentences:
        return ""
    first, last = sentences[0], sentences[-1]
    dropped = 0
    while first and (
        _is_pure(first[0][0])
        or (_SALUTATION_RE.fullmatch(first[0][0]) and not _DECISION_RE.search(first[0][0]))
    ):
        first.pop(0)
        dropped += 1
    if dropped and first:
        first[0] = (
            _CONNECTOR_RE.sub("", first[0][0].lstrip(), count=1)
            if _CONNECTOR_RE.match(first[0][0].lstrip())
            else first[0][0],
            first[0][1],
        )
    end = last[-1][1] if last else ""
    trailing = False
    while len(last) > 1 and _is_pure(last[-1][0]):
        last.pop()
        trailing = True
    if trailing and last:
        # "…请修改后再报，退回。" → "…请修改后再报。": the sentence keeps its own full stop.
        last[-1] = (last[-1][0], end if _ends_with(end, SENTENCE_ENDS) else "")
    text = "".join(c + d for s in sentences for c, d in s)
    return _tidy([line.strip() for line in text.split("\n")])


def _votes(body: str) -> tuple[str, str]:
    """The first effective return word and the first approve word in ``body`` ("" when none)."""
    first_return = first_approve = ""
    for sentence in _sentences(_clauses(body)):
        if _ends_with(sentence[-1][1], QUESTION_ENDS):
            continue
        for clause, _ in sentence:
            advisory = _CONNECTOR_RE.sub("", clause.strip(), count=1).startswith(ADVISORY_STARTS)
            for m in _DECISION_RE.finditer(clause):
                kind = _CATEGORY[m.group(0).lower()]
                if kind == "return" and not advisory and not first_return:
                    first_return = m.group(0)
                elif (kind == "approve" or (kind == "weak" and _is_pure(clause))) and not first_approve:
                    first_approve = m.group(0)
    return first_return, first_approve


def classify_decision(text: str) -> Decision:
    """Read a leader's or the signer's verdict from a reply body.

    Rules (the word lists are the module's constants):

    1. Only ``newest_part(text)`` is read; a greeting line on top ("李局长：") and closing lines below
       ("此致", "敬礼", a name, a unit, a phone, a date) are left out.
    2. The text is scanned for the phrases of ``RETURN_VERDICTS``, ``RETURN_REQUESTS``,
       ``APPROVE_WORDS``, ``WEAK_APPROVE_WORDS`` and ``NEUTRAL_WORDS``, the longest phrase winning at each
       position: so "不同意" is a return word, not 同意; "无需修改", "请审定", "通过邮件", "如无意见" decide
       nothing. Case is ignored ("OK", "ok", "Ok"). A weak approve word ("可以", "通过", "OK", "审定")
       counts only as a clause of its own, with nothing but ``FILLER_WORDS`` beside it.
    3. Sentences ending with "？" decide nothing ("可以吗？"). A return word in a clause that starts
       with ``ADVISORY_STARTS`` ("下月请补充…") is advice for next time and does not return the report.
    4. Any return word left → ``"return"`` (a modification request wins over a bare 同意:
       "同意，但第3项请修改后再报" is a return); else any approve word → ``"approve"``
       ("原则同意", "OK"); else ``"unknown"`` ("", "收到", "好的", "已收到，稍后审").
    5. The comment is the body without the clauses that only state the verdict: "退回：第2项过于简略，
       请补充具体数据。" → "第2项过于简略，请补充具体数据。"; "同意。另：下月请提前报送" → "下月请提前报送";
       "同意，但第3项请修改后再报" → "第3项请修改后再报". For ``unknown`` it is the whole body.

    :param text: a reply body; quoting and signatures are removed here, so the raw body may be passed
    :return: the decision, with ``matched`` the deciding word as written
    """
    body = "\n".join(_body_lines(text)).strip()
    first_return, first_approve = _votes(body)
    if first_return:
        return Decision("return", _comment(body), first_return)
    if first_approve:
        return Decision("approve", _comment(body), first_approve)
    return Decision("unknown", body, "")
