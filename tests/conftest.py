"""Shared fixtures: a fresh duban home (real SQLite file, fully migrated) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.config import Settings, init_home, load_settings
from mailer.store import close_all, open_registry

SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests never touch the developer's ~/.config key.
    monkeypatch.setenv("DUBAN_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DUBAN_HOME", raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    """A new duban home in a temporary folder, registry created."""
    root = init_home(tmp_path / "home")
    # Tests jump the clock by days, which the start gate (mailer.startgate) reads as downtime and holds
    # until `duban confirm`. The gate's own tests (test_firststart.py) switch it back on.
    cfg = root / "duban.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("confirm_start = true", "confirm_start = false"), encoding="utf-8"
    )
    settings = load_settings(root)
    from mailer.templates import install_default_templates

    install_default_templates(settings.templates)
    from mailer.homeid import open_home_registry

    open_home_registry(settings, create=True)
    yield settings
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


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home with June published and July under way, built once (~25 s): the console's tests copy it."""
    from tests.webdata import build

    return build(tmp_path_factory.mktemp("webdata"))
