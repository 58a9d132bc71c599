"""Shared fixtures: a fresh duban home (real SQLite file, fully migrated) per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.common.config import Settings, init_home, load_settings
from mailer.registry.store import close_all, open_registry
from mailer.service.cycle import run_once

SAMPLES = Path(__file__).resolve().parent / "samples"
TEST_KEY = "test-secret-key-not-for-production"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests never touch the developer's ~/.config key.
    monkeypatch.setenv("DUBAN_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DUBAN_HOME", raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    """A new duban home in a temporary folder, registry created."""
    yield from _new_home(tmp_path / "home")


def _new_home(folder: Path) -> Iterator[Settings]:
    root = init_home(folder)
    # Tests jump the clock by days, which the start gate (mailer.service.startgate) reads as downtime and holds
    # until `duban confirm`. The gate's own tests (test_firststart.py) switch it back on.
    cfg = root / "duban.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("confirm_start = true", "confirm_start = false"), encoding="utf-8"
    )
    settings = load_settings(root)
    from mailer.common.templates import install_default_templates

    install_default_templates(settings.templates)
    from mailer.registry.homeid import open_home_registry

    open_home_registry(settings, create=True)
    yield settings
    close_all()


@pytest.fixture(scope="session")
def _june_forms_sent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the 2022 plan whose June forms went out on the 10th, made once per session."""
    from mailer.plan.importer import import_file
    from mailer.service.demo import EXAMPLES, at
    from mailer.transport.base import open_transport

    folder = tmp_path_factory.mktemp("june-sent")
    with pytest.MonkeyPatch.context() as mp:  # made before any test's own _secret_key: the same key here
        mp.setenv("DUBAN_SECRET_KEY", TEST_KEY)
        mp.setenv("XDG_CONFIG_HOME", str(folder / "xdg"))
        root = next(_new_home(folder / "home"))
        engine = open_registry(root.database_url)
        for name in ("notice-2022.docx", "directory-2022.xlsx"):
            import_file(root, engine, EXAMPLES / name)
        with open_transport(root) as t:
            run_once(root, engine, t, at(10))
        close_all()
    return root.home


@pytest.fixture
def sent_home(_june_forms_sent: Path, tmp_path: Path) -> Iterator[Settings]:
    """A copy of its own of a home whose June forms were sent (rendering ten forms takes seconds; copying
    the home, milliseconds)."""
    root = tmp_path / "home"
    shutil.copytree(_june_forms_sent, root, symlinks=True)
    yield load_settings(root)
    close_all()


@pytest.fixture
def engine(home: Settings):  # type: ignore[no-untyped-def]
    return open_registry(home.database_url)


def has_soffice() -> bool:
    from shutil import which

    return which("soffice") is not None or which("libreoffice") is not None


# CI sets CI=true: there the test command has installed LibreOffice and dovecot, so a missing tool is a
# failure, not a skip.
IN_CI = os.environ.get("CI") == "true"

# Real mail servers on loopback (dovecot + SMTP) for @pytest.mark.imap tests: tests/mailserver.py.
from mailserver import mail_servers  # noqa: F401

# A real PostgreSQL server on loopback for @pytest.mark.postgres tests: tests/pgserver.py.
from pgserver import pg_server, pg_url  # noqa: F401


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home with June published and July under way, built once (~25 s): the console's tests copy it."""
    from tests.webdata import build

    return build(tmp_path_factory.mktemp("webdata"))
