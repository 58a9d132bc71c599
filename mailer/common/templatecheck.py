"""Why a bureau's template cannot be used, in words the office clerk can act on: a Word template that is no
.docx (garbage, a renamed .doc, a half-copied file) or whose Jinja tags are broken, and a mail template with
a Jinja syntax error. Used by `duban check` and wherever a template is read at run time, so both say the
same thing.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import jinja2

# What the clerk can do about a broken Word template (the shipped one is used when the home has none).
_WORD_FIX = "请用 Word 或 WPS 打开该文件后“另存为” .docx（Word 文档），或删除该文件以使用系统自带的模板。"
_TAG_FIX = "请检查 {{ }} 和 {% %} 标签是否成对、拼写正确（可对照系统自带的模板），改好后保存为 .docx。"


def _label(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("templates") :]) if "templates" in parts else str(path)


def word_template_error(path: Path, error: BaseException) -> str:
    """The message for a Word template ``path`` that docxtpl could not read (``error``)."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"模板 {_label(path)} 中的标签有误（第 {error.lineno} 处附近：{error.message}）。{_TAG_FIX}"
    if isinstance(error, jinja2.TemplateError):
        return f"模板 {_label(path)} 中的标签有误：{error}。{_TAG_FIX}"
    if not path.exists():
        return f"模板 {_label(path)} 不存在。请从系统自带的 templates/ 复制一份，或删除对它的引用。"
    if not zipfile.is_zipfile(path):
        return f"模板 {_label(path)} 不是有效的 Word .docx 文件（可能已损坏，或是改了扩展名的 .doc）。{_WORD_FIX}"
    return f"模板 {_label(path)} 无法读取（{type(error).__name__}: {error}）。{_WORD_FIX}"


def word_template_problem(path: Path) -> str | None:
    """None when docxtpl can read ``path`` and its tags parse; otherwise the message for it."""
    from docxtpl import DocxTemplate

    try:
        DocxTemplate(str(path)).get_undeclared_template_variables()
    except Exception as e:  # noqa: BLE001 - python-docx and lxml raise many unrelated types for a bad file
        return word_template_error(path, e)
    return None


def mail_template_error(name: str, error: jinja2.TemplateError) -> str:
    """The message for mail template ``name`` (e.g. "form.txt") that Jinja refused."""
    where = f"第 {error.lineno} 行" if isinstance(error, jinja2.TemplateSyntaxError) and error.lineno else ""
    what = error.message if isinstance(error, jinja2.TemplateSyntaxError) else str(error)
    return (
        f"邮件模板 templates/mail/{name} {where}有语法错误：{what}。"
        f"{_TAG_FIX.replace('保存为 .docx', '保存（UTF-8 编码）')}"
    )


def mail_template_problems(env: jinja2.Environment, names: list[str]) -> list[str]:
    """Each of ``names`` (e.g. "form.txt") that ``env`` cannot load and compile, with its message."""
    out = []
    for name in names:
        try:
            env.get_template(name)
        except jinja2.TemplateNotFound:
            continue  # a missing template is reported on its own (checks.check_templates)
        except jinja2.TemplateError as e:
            out.append(mail_template_error(name, e))
        except UnicodeDecodeError as e:
            out.append(f"邮件模板 templates/mail/{name} 不是 UTF-8 编码的文本（{e.reason}）。请用记事本另存为 UTF-8 编码。")
    return out
