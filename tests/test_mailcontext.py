"""One mail context (mailer.render.mailcontext): `duban check` renders every mail template with the sample context
of its kind, so a bureau's edit that breaks one kind of answer (a syntax error, a variable that kind is not
given) fails the check, naming the template, before an office waits for a reply that never comes."""

from __future__ import annotations

from click.testing import CliRunner

from mailer.cli import cli
from mailer.render.mailcontext import COMMON, KIND_KEYS, sample_contexts
from mailer.service.checks import check_templates


def _check(home):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.home), "check", "--no-mail"])


def test_the_shipped_mail_templates_all_render_with_their_sample(home):
    assert [p.message for p in check_templates(home) if "邮件模板" in p.message] == []


def test_a_mail_template_syntax_error_fails_the_check_naming_it(home):
    (home.templates / "mail" / "approved_notice.html").write_text("<p>{{ office }</p>\n", encoding="utf-8")
    result = _check(home)
    assert result.exit_code != 0
    assert "邮件模板 templates/mail/approved_notice.html 第 1 行有语法错误" in result.output


def test_an_undefined_variable_fails_the_check_naming_template_and_variable(home):
    path = home.templates / "mail" / "returned.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n{{ reviewer_phone }}\n", encoding="utf-8")
    result = _check(home)
    assert result.exit_code != 0
    assert "邮件模板 templates/mail/returned.txt 使用了变量 reviewer_phone，但系统发送这类邮件时不提供它" in result.output


def test_a_variable_of_another_kind_fails_in_this_kind_only(home):
    # `comment` is given to returned/approved mails, not to a receipt: fine there, an error here.
    path = home.templates / "mail" / "receipt.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n{{ comment }}\n", encoding="utf-8")
    messages = [p.message for p in check_templates(home)]
    assert [m for m in messages if "邮件模板" in m] == [
        m for m in messages if m.startswith("邮件模板 templates/mail/receipt.txt 使用了变量 comment，")
    ] != []


def test_a_variable_used_in_a_branch_the_sample_never_takes_is_still_found(home):
    path = home.templates / "mail" / "form.html"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "{% if false %}{{ secretary }}{% endif %}\n", encoding="utf-8")
    assert any("form.html 使用了变量 secretary" in p.message for p in check_templates(home))


def test_every_sample_has_the_common_keys_and_every_kind_is_sampled(home):
    from mailer.render.compose import template_names

    assert set(template_names(home)) == set(KIND_KEYS)
    for name in KIND_KEYS:
        for ctx in sample_contexts(name):
            assert set(COMMON) <= set(ctx)


def test_no_mail_context_is_built_by_hand():
    """Every Mail(...) gets its context from mail_context (directly, or a variable/spread of one): a dict
    literal there is a seventh builder, the kind of drift that let one kind of answer break unseen."""
    import ast
    from pathlib import Path

    import mailer

    by_hand = []
    for path in Path(mailer.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Mail" and len(node.args) > 1:
                ctx = node.args[1]
                if isinstance(ctx, ast.Dict) and not any(k is None for k in ctx.keys):
                    by_hand.append(f"{path.name}:{node.lineno}")
    assert by_hand == []


def test_a_syntax_error_in_a_shared_part_is_named_once_by_its_own_file(home):
    # Before, _layout.html was never compiled by the check: `duban check` said all was well.
    path = home.templates / "mail" / "_layout.html"
    path.write_text(path.read_text(encoding="utf-8") + "{% if %}\n", encoding="utf-8")
    mail = [p.message for p in check_templates(home) if "邮件模板" in p.message]
    assert len(mail) == 1 and mail[0].startswith("邮件模板 templates/mail/_layout.html 第 ")


def test_every_kind_of_mail_has_one_name_for_the_clerk():
    """The outbox, the preview, `duban status` and the console name a mail's kind from one table."""
    from mailer.common.labels import DISPATCH_KINDS as NAMES
    from mailer.registry.model import DISPATCH_KINDS
    from mailer.service.preview import PlannedMail

    assert set(DISPATCH_KINDS) == set(NAMES) and set(KIND_KEYS) <= set(NAMES)
    planned = PlannedMail(kind="signoff_stale", to=("a@example.cn",), cc=(), subject="", period="2022-06",
                          recipient="王局长", why="旧稿")
    assert planned.line().startswith("旧稿签发回复提示：王局长")
