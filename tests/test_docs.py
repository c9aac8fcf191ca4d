"""The README is the newcomer's map: it must name every setting and command there is."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifications.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_app_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in README


@pytest.mark.parametrize(
    "variable",
    [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CORS_ALLOWED_ORIGINS",
        "NOTIFICATIONS_HEARTBEAT_SECONDS",
        "NOTIFICATIONS_MAX_CONNECTIONS_PER_USER",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        "SITE_URL",
        "CSRF_TRUSTED_ORIGINS",
        "NUM_PROXIES",
        "HTTPS",
        "METRICS_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
        "STATIC_ROOT",
    ],
)
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README
    assert variable in (ROOT / "project" / "settings.py").read_text()


def test_every_command_is_documented() -> None:
    commands = ROOT / "notifications" / "management" / "commands"
    names = [p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")]
    assert names
    for name in names:
        assert f"manage.py {name}" in README


def test_the_two_commands_are_shown() -> None:
    assert "make run" in README and "make test" in README


def test_linked_documents_exist() -> None:
    for link in (
        "docs/ARCHITECTURE.md",
        "docs/PERFORMANCE.md",
        "docs/BROWSER.md",
        "docs/CLIENTS.md",
        "docs/DEPLOY.md",
        "CHANGELOG.md",
    ):
        assert link in README
        assert (ROOT / link).is_file(), f"{link} is linked but missing"


def test_preferences_and_email_have_their_section() -> None:
    section = README.split("## Preferences and email", 1)[1].split("\n## ", 1)[0]
    for needed in ("KINDS", "send_notification_emails", "cron", "systemd", "/api/preferences/"):
        assert needed in section
