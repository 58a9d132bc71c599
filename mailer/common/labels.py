"""Chinese names for the registry's states and kinds, as the bureau office's clerk reads them.

The registry stores short English codes (stable for scripts, `--json` and SQL); everything printed for a
person goes through :func:`label`, so one table says what each code is called.
"""

from __future__ import annotations

PERIOD_STATES = {
    "open": "已开启",
    "collecting": "收集中",
    "assembling": "汇总中",
    "awaiting_signoff": "待签发",
    "signed_off": "已签发",
    "published": "已印发",
    "held": "暂停（待处理）",
    "awaiting_confirmation": "等待确认",
    "skipped": "本月不报",
    "closed": "已截止",
}

DISPATCH_STATES = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "发送失败",
    "uncertain": "未确认是否发出",
    "dropped": "已放弃",
    "held": "暂缓发送",
}

# Every kind of mail duban sends, as the clerk's lists (outbox, preview, status, the console) name it.
DISPATCH_KINDS = {
    "form": "进展情况表",
    "reminder": "催报提醒",
    "escalation": "逾期督办",
    "receipt": "收件回执",
    "error_reply": "格式有误回复",
    "approval_request": "审定请求",
    "approval_reminder": "审定提醒",
    "returned": "退回修改通知",
    "approved_notice": "审定通过通知",
    "not_understood": "未能识别的回复",
    "quarantine_notice": "隔离提示",
    "oversize_reply": "超大邮件退回",
    "signoff_request": "送签",
    "signoff_returned": "签发退回意见",
    "signoff_stale": "旧稿签发回复提示",
    "published": "印发通报",
    "gate_held": "等待确认通知",
    "other": "致局办公室通知",
}

INBOUND_KINDS = {
    "form": "报表",
    "decision": "审定意见",
    "signoff": "签发意见",
    "auto_reply": "自动回复",
    "bounce": "退信",
    "unrelated": "无关邮件",
    "quarantined": "已隔离",
    "invalid": "格式有误",
    "failed": "处理失败",
    "rejected": "已拒收",
}

MATCHED_BY = {
    "in_reply_to": "回复关系",
    "subject_token": "主题编号",
    "docx_token": "表格编号",
    "sender": "发件人地址",
    "none": "未匹配",
}

_TABLES = {
    "period": PERIOD_STATES,
    "dispatch": DISPATCH_STATES,
    "dispatch_kind": DISPATCH_KINDS,
    "inbound": INBOUND_KINDS,
    "matched_by": MATCHED_BY,
}


def label(table: str, code: str) -> str:
    """The Chinese name of ``code`` in ``table`` ("period", "dispatch", "dispatch_kind", "inbound",
    "matched_by"); an unknown code is shown as it is rather than hidden."""
    return _TABLES[table].get(code, code)
