"""What the group robots say: ``templates/robot/<event>.txt`` (plain text) and ``.md`` (markdown), the
bureau's to edit like the mail templates (design principle 7). The first line of the text is the title
(DingTalk markdown and Feishu 富文本 need one; the clerk's lists show it).

Short on purpose: a robot message is read on a phone; the mail carries the form and the detail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailer.common.config import Settings
from mailer.common.errors import TemplateError
from mailer.common.robotconfig import EVENTS
from mailer.common.templates import default_templates_dir

if TYPE_CHECKING:  # jinja2 is imported when a message is rendered: `duban status` only needs short_date
    import jinja2

ROBOT_TEMPLATES = "robot"


@dataclass(frozen=True)
class RobotText:
    """One message in both renderings; ``title`` is the first line of the text."""

    title: str
    text: str
    markdown: str


WEEKDAYS = "一二三四五六日"

# What `duban check` renders each template with: every variable the cycle passes, so a misspelt one is
# found before the first real post (StrictUndefined).
_OFFICES = [
    {"name": "基财股", "due": "6月20日（星期一）", "due_day": "6月20日", "days_late": 2, "leader": "张三"},
    {"name": "人事股", "due": "6月24日（星期五）", "due_day": "6月24日", "days_late": 1, "leader": ""},
]
SAMPLES: dict[str, dict[str, Any]] = {
    "forms": {"bureau": True, "count": 2, "offices": _OFFICES},
    "reminders": {"bureau": True, "count": 2, "offices": _OFFICES},
    "escalations": {"bureau": False, "count": 2, "offices": _OFFICES},
    "publication": {
        "bureau": True,
        "title": "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报",
        "date": "2022年7月1日",
        "has_pdf": True,
    },
}
_COMMON = {
    "month_label": "2022年6月",
    "period_label": "2022年1—6月",
    "plan_title": "重点工作任务",
    "due": "6月20日（星期一）",
}


def short_date(d: dt.date) -> str:
    """ "6月20日（星期一）": the year is the period's, the weekday is what a phone reader needs."""
    return f"{d.month}月{d.day}日（星期{WEEKDAYS[d.weekday()]}）"


def robot_environment(settings: Settings) -> jinja2.Environment:
    """The home's ``templates/robot/`` first, then the shipped ones; no autoescape (JSON carries the text)."""
    # keptenv imports jinja2: here rather than at the top, since `duban status` imports this module only
    # for short_date.
    from mailer.common.keptenv import kept_environment

    dirs = [settings.templates / ROBOT_TEMPLATES, default_templates_dir() / ROBOT_TEMPLATES]
    return kept_environment(ROBOT_TEMPLATES, dirs, _new_robot_environment)


def _new_robot_environment(dirs: list[str]) -> jinja2.Environment:
    import jinja2

    from mailer.common.keptenv import TemplateLoader

    return jinja2.Environment(
        loader=TemplateLoader(dirs),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_robot(settings: Settings, event: str, context: dict[str, Any]) -> RobotText:
    """The message for ``event`` (forms | reminders | escalations | publication).

    :raises TemplateError: a template is missing, has a syntax error or uses a variable not given
    """
    import jinja2

    from mailer.common.templatecheck import mail_template_error

    env = robot_environment(settings)
    out: dict[str, str] = {}
    for ext in ("txt", "md"):
        name = f"{event}.{ext}"
        try:
            out[ext] = env.get_template(name).render(context).strip()
        except jinja2.TemplateNotFound as e:
            raise TemplateError(f"群机器人模板 templates/{ROBOT_TEMPLATES}/{name} 缺失。") from e
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(
                mail_template_error(name, e).replace(
                    "邮件模板 templates/mail/", "群机器人模板 templates/robot/"
                )
            ) from e
        except jinja2.TemplateError as e:
            raise TemplateError(
                f"群机器人模板 templates/{ROBOT_TEMPLATES}/{name}：{e}（可用的变量见模板开头的说明）。"
            ) from e
    title = out["txt"].split("\n", 1)[0].strip()
    if not title:
        raise TemplateError(f"群机器人模板 templates/{ROBOT_TEMPLATES}/{event}.txt 的第一行（标题）为空。")
    return RobotText(title=title, text=out["txt"], markdown=out["md"])


def robot_template_problems(settings: Settings) -> list[str]:
    """Each robot template that cannot be rendered with a full sample context, with its message."""
    out = []
    for event in EVENTS:
        try:
            render_robot(settings, event, {**_COMMON, **SAMPLES[event]})
        except TemplateError as e:
            out.append(str(e))
    return out
