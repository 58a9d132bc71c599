"""The Dockerfile, checked without a container engine (there is none on this machine, so the image itself
is never built here): what it copies exists and is not dropped by .dockerignore, the runtime has what duban
needs (LibreOffice, CJK fonts, tini as init, a non-root user, the home as a volume), and its command is a
command duban accepts. The wheel it builds is built and run by tests/test_packaging.py."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

from click.testing import CliRunner

from mailer.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            out.append([])
        out[-1].append((word, rest))
    return out


def ignored(path: str) -> bool:
    """Docker's rule: the last matching line of .dockerignore wins; ``!`` lines re-include."""
    verdict = False
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("**/", "")):
            verdict = not negate
    return verdict


def test_every_copy_source_exists_and_reaches_the_build():
    copies = [rest for word, rest in instructions() if word == "COPY" and not rest.startswith("--from")]
    assert copies
    for rest in copies:
        *sources, _dest = shlex.split(rest)
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
            assert not ignored(src.rstrip("/")), f"COPY {src}: excluded by .dockerignore"
    # and what must never reach an image stays out
    for private in (".venv", "registry", "inbox", "outbox", "duban.toml", ".git", "tests"):
        assert ignored(private), private


def test_the_sdist_sources_are_all_copied():
    """The build stage builds the wheel from exactly what setup.py and MANIFEST.in need."""
    copied = {src.rstrip("/") for word, rest in instructions() if word == "COPY" and not rest.startswith("--from")
              for src in shlex.split(rest)[:-1]}
    assert copied == {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "mailer", "templates", "examples"}


def test_the_runtime_image_has_what_duban_needs():
    build, runtime = stages()
    base = runtime[0][1]
    assert re.fullmatch(r"python:(\d+\.\d+)-slim-bookworm", base), base  # Debian 12 slim
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires == ">=3.11" and base.startswith("python:3.11")
    runs = " ".join(rest for word, rest in runtime if word == "RUN")
    for package in ("libreoffice-writer-nogui", "fonts-noto-cjk", "tini"):
        assert package in runs
    assert "--no-install-recommends" in runs
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    assert "DUBAN_HOME=/data" in env
    assert [json.loads(rest) for word, rest in runtime if word == "VOLUME"] == [["/data"]]
    assert ("STOPSIGNAL", "SIGTERM") in runtime
    assert any(word == "RUN" and "pip wheel" in rest for word, rest in build)


def test_the_command_is_tini_then_a_valid_duban_serve():
    runtime = stages()[-1]
    entry = next(json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT")
    cmd = next(json.loads(rest) for word, rest in runtime if word == "CMD")
    assert entry == ["/usr/bin/tini", "--", "duban"]
    # Parsed by duban's own command line as `duban <CMD>` would be; --help stops before the service starts,
    # but only once every option before it was accepted.
    result = CliRunner().invoke(cli, [*cmd, "--help"], prog_name="duban")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: duban serve [OPTIONS]")
    assert CliRunner().invoke(cli, ["serve", "--no-such-option", "--help"]).exit_code == 2
