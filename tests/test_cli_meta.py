"""Every command has help text and is documented in the README (as sqlite-utils does)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mailer.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Branches put their README text in docs/readme/ until it is folded into README.md.
DOCUMENTED = README + "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs" / "readme").glob("*.md")))


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        out.append((full, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, full + " ")
    return out


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help(name, cmd):
    assert cmd.help and cmd.help.strip(), f"duban {name} has no help text"
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_is_documented_in_readme(name, cmd):
    assert f"duban {name}" in DOCUMENTED, f"`duban {name}` is not mentioned in README.md"


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = [line for line in README.splitlines() if line.strip()]
    fence = lines.index("```bash")
    demo, tests = lines[fence + 1], lines[fence + 2]
    assert "duban demo" in demo
    test_command = tests.split("#")[0].strip()
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci


def test_errors_exit_1_with_a_message(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "assemble", "--period", "not-a-period"])
    assert result.exit_code == 1
    assert "not a period" in result.output
